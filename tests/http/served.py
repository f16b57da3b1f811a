"""The API over a PostgreSQL database, served over TCP with one bearer token of the system."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Header
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, Actor, AsyncGovernance
from aigov_http import NotAuthenticatedError, create_app
from aigov_http.testing import serving
from aigov_postgres import PostgresStore


@dataclass(frozen=True)
class Served:
    base_url: str
    token: str


@contextmanager
def serve_in_a_thread(url: URL, scratch: Path) -> Iterator[Served]:
    """``create_app`` over the database at ``url``; requests need ``Bearer <token>``."""
    token = secrets.token_urlsafe(16)

    def actor(authorization: Annotated[str | None, Header()] = None) -> Actor:
        if authorization is None or not secrets.compare_digest(authorization, f"Bearer {token}"):
            raise NotAuthenticatedError("a bearer token is required")
        return Actor.system()

    gov = AsyncGovernance(PostgresStore.from_url(url), entitlements={AI_GOVERNANCE})
    with serving(create_app(gov, actor=actor)) as base_url:
        yield Served(base_url, token)
