"""The browser app (issue #15): server-rendered pages at ``/app/`` on the API's FastAPI app.

An adapter beside :mod:`creditpay.api`: pages call the same service functions, ``Payments``
and ``Parties`` methods the JSON routes call (through the API's runtime), and hold no
business rule of their own. :func:`mount` adds the pages and the packaged static assets to
an app built by :func:`creditpay.api.app.create_app`. How it is built: docs/apps.md.
"""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["mount"]


def mount(app: FastAPI, *, dev_inbox: bool) -> None:
    """Add the consumer pages (``/app/...``), the operator console (``/console/...``), the
    merchant dashboard (``/merchant/...``) and their assets (``/app/static/...``) to ``app``; the development inbox page only when ``dev_inbox`` (as ``GET /v1/dev/inbox``)."""
    from creditpay.web import (
        assistant_pages,
        checkout,
        console,
        console_disputes,
        console_queues,
        console_records,
        credit_pages,
        dispute_pages,
        merchant,
        pages,
        security,
        wallet,
    )
    from creditpay.web.assets import STATIC_PREFIX, static_files

    for module in (pages, checkout, wallet, credit_pages, console, console_queues,
                   console_records, merchant, security, assistant_pages, dispute_pages,
                   console_disputes):
        app.include_router(module.router)
    from creditpay.web import hardship_pages  # issue #20: hardship help and its queue

    app.include_router(hardship_pages.router)
    app.include_router(hardship_pages.console_router)
    if dev_inbox:
        app.include_router(pages.dev_router)
    app.mount(STATIC_PREFIX, static_files(), name="web-static")
    from creditpay.web.apidocs import mount_api_docs

    mount_api_docs(app)
