"""Bearer tokens for ``aigov serve`` (SPEC §14): a file of ``token user`` lines, and the lookup
that turns a presented token into the calling ``Actor`` without telling, by its timing, how
close a guess came.

The file has one token a line: ``TOKEN USER [SITE-ROLES]``. ``USER`` is a user's id (a UUID) or
``system`` (``Actor.system()``); ``SITE-ROLES`` is an optional comma-separated list of that
user's site roles (``owner,auditor``). The host owns identity and aigov's directory keeps only
organization roles (SPEC §2, §6), so a user's site roles, like the user's id, come from whoever
issues the token: the file. ``#`` starts a comment (no token, id or role contains one); blank
lines are skipped. A token is an RFC 6750 ``b64token`` of at least ``MIN_TOKEN_LENGTH``
characters, what ``secrets.token_urlsafe`` makes.

Errors name the file and the line and never quote it: a line may hold a live token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from aigov import SITE_ROLES, Actor, InvalidInputError, SiteRole

__all__ = ["MIN_TOKEN_LENGTH", "BearerTokens", "create_token_file"]

MIN_TOKEN_LENGTH = 16
"""Shorter tokens are refused: a guessable token is an open door on a network port."""

_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""RFC 6750's ``b64token``: what an ``Authorization: Bearer`` header can carry."""

_SYSTEM = "system"
_FORMAT = "expected TOKEN USER-ID [SITE-ROLES] (USER-ID a UUID or 'system')"


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    actor: Actor


def _digest(token: str) -> bytes:
    """Tokens are compared by their SHA-256: equal lengths, so ``compare_digest`` leaks not
    even a token's length, and the process keeps no token in the clear."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class BearerTokens:
    """The tokens ``aigov serve`` accepts, each with the ``Actor`` it stands for."""

    def __init__(self, tokens: Iterable[tuple[str, Actor]]) -> None:
        """``tokens``: ``(token, actor)`` pairs; a token given twice is refused (it could not
        stand for two actors)."""
        self._entries = tuple(_Entry(_digest(token), actor) for token, actor in tokens)
        if len({entry.digest for entry in self._entries}) != len(self._entries):
            raise InvalidInputError("a bearer token is given twice")

    @classmethod
    def parse(cls, text: str, *, source: str = "the tokens file") -> BearerTokens:
        """The tokens of a file's text. Raises ``InvalidInputError`` naming ``source`` and the
        line of the first malformed line or repeated token, and when no line holds a token:
        a server that nobody can call is a mistake, not a configuration."""
        pairs: list[tuple[str, Actor]] = []
        first_line: dict[bytes, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.partition("#")[0].split()
            if not fields:
                continue
            where = f"{source}, line {number}"
            token, actor = _entry(fields, where)
            digest = _digest(token)
            if digest in first_line:
                raise InvalidInputError(
                    f"{where}: the same token as line {first_line[digest]}; each token must be"
                    " unique"
                )
            first_line[digest] = number
            pairs.append((token, actor))
        if not pairs:
            raise InvalidInputError(f"{source} holds no token: nobody could call the API")
        return cls(pairs)

    @classmethod
    def read(cls, path: Path) -> BearerTokens:
        """The tokens of the file at ``path`` (UTF-8), as ``parse`` reads them."""
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{path} is not UTF-8 text") from exc
        return cls.parse(text, source=str(path))

    def __len__(self) -> int:
        return len(self._entries)

    def actor_of(self, token: str) -> Actor | None:
        """The actor of ``token``, or None when it is not one of these. Every known token is
        compared, in constant time and with no early exit, so the time taken tells nothing
        about which token, or how much of one, a caller guessed."""
        presented = _digest(token)
        found: Actor | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, presented):
                found = entry.actor
        return found


def _entry(fields: list[str], where: str) -> tuple[str, Actor]:
    """One line's token and actor."""
    if len(fields) not in (2, 3):
        found = f"{len(fields)} field" + ("" if len(fields) == 1 else "s")
        raise InvalidInputError(f"{where}: {_FORMAT}, found {found}")
    token, user = fields[0], fields[1]
    if not _B64TOKEN.fullmatch(token):
        raise InvalidInputError(
            f"{where}: the token has characters a bearer token cannot carry"
            " (letters, digits and - . _ ~ + / only, then = padding)"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise InvalidInputError(
            f"{where}: the token is shorter than {MIN_TOKEN_LENGTH} characters"
            " (make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    roles = _site_roles(fields[2], where) if len(fields) == 3 else ()
    if user == _SYSTEM:
        if roles:
            raise InvalidInputError(f"{where}: the system actor takes no site roles")
        return token, Actor.system()
    try:
        user_id = UUID(user)
    except ValueError:
        raise InvalidInputError(
            f"{where}: the second field must be a user id (a UUID) or 'system'"
        ) from None
    return token, Actor.user(user_id, site_roles=roles)


def _site_roles(field: str, where: str) -> tuple[SiteRole, ...]:
    names = [name for name in field.split(",") if name]
    known = [role for role in SITE_ROLES if role in names]
    if not names or len(known) != len(set(names)):
        raise InvalidInputError(
            f"{where}: site roles are a comma-separated list of {', '.join(SITE_ROLES)}"
        )
    return tuple(known)


def create_token_file(path: Path) -> str | None:
    """Make ``path`` a tokens file of one new system token, readable by its owner only (mode
    0600 from its creation: never a moment with looser rights), and return the token; or
    return None when the file exists already, so a token is made, and shown, only once.

    Creation is exclusive: of two processes starting at once, one makes the file and the
    other finds it."""
    token = secrets.token_urlsafe(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(
            "# aigov serve's bearer tokens: TOKEN USER-ID [SITE-ROLES], one a line.\n"
            "# USER-ID is a user's UUID or 'system'; SITE-ROLES e.g. owner,auditor.\n"
            f"{token} {_SYSTEM}\n"
        )
        file.flush()
        os.fsync(file.fileno())
    return token
