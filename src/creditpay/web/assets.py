"""The app's own assets (CSS, icons), shipped in the package and served by the app: no CDN.

Starlette's ``StaticFiles`` serves them (ETag, Last-Modified, 304s); this adds the cache
header. Asset URLs carry a digest of the file (``?v=``), so a day's caching never serves a
stale stylesheet after an upgrade.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["STATIC_PREFIX", "STATIC_DIR", "static_files", "ASSET_CACHE_CONTROL",
           "asset_version"]

STATIC_PREFIX = "/app/static"
STATIC_DIR = Path(__file__).parent / "static"
ASSET_CACHE_CONTROL = "public, max-age=86400"


class _CachedStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = ASSET_CACHE_CONTROL
        return response


def static_files() -> Any:
    return _CachedStaticFiles(directory=STATIC_DIR)


# Pure memo (kept): the packaged files do not change while the process runs.
@lru_cache(maxsize=64)
def asset_version(name: str) -> str:
    """The first 12 hex digits of the SHA-256 of packaged asset ``name``."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
