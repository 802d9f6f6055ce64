"""HTTP API (FastAPI): ``create_app(settings, clock=None)``."""

from creditpay.api.app import create_app

__all__ = ["create_app"]
