"""Role checks for every console page, over real HTTP on a real ``creditpay serve``.

Every GET page under ``/console/`` is found from the app's own routes (a page added later is
covered without editing this file), and opened by a staff member of each role:

- a page under a tab (``console.NAV``) opens only for that tab's roles; every other role
  gets 403 and the page saying so (a collections agent cannot open the compliance reports);
- no page ever answers 500, whatever the role, even for an id that does not exist;
- without a staff session every page sends to the log-in page, and so does a customer's or
  a merchant's session (their cookies are not the staff cookie).
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import pkgutil
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from fastapi.routing import APIRoute

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.web.console import NAV, ROLE_NAMES
from tests.web.conftest import WebServer, running_server

pytestmark = pytest.mark.browser

PASSWORD = "roles check password 9"
UNKNOWN_ID = "doesnotexist0001"


def _console_pages() -> list[str]:
    """Every GET page of the console (the routes of every web module whose router is the
    console's), its path parameters filled with an unknown id."""
    import creditpay.web

    paths: set[str] = set()
    for info in pkgutil.iter_modules(creditpay.web.__path__):
        router = getattr(importlib.import_module(f"creditpay.web.{info.name}"), "router", None)
        if router is None or router.prefix != "/console":
            continue
        paths |= {route.path for route in router.routes
                  if isinstance(route, APIRoute) and "GET" in route.methods
                  and route.path != "/console/login"}
    return [re.sub(r"\{[^}]+\}", UNKNOWN_ID, path) for path in sorted(paths)]


def _tab_roles(path: str) -> frozenset[str] | None:
    """The roles of the tab ``path`` is under (the longest tab path that prefixes it), or
    None for a page under no tab (the overview)."""
    under = [(tab, roles) for tab, _label, roles in NAV
             if path == tab or path.startswith(tab + "/") or path.startswith(tab + ".")]
    return max(under, key=lambda found: len(found[0]))[1] if under else None


@pytest.fixture(scope="module")
def roles_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-roles-") as folder:
        url = f"sqlite:///{Path(folder) / 'roles.db'}"
        master = generate_key_bytes()
        app = create_app(Settings.of(database_url=url),
                         SimulatedClock(dt.datetime.now(dt.UTC)),
                         config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
        rt = app.state.runtime
        try:
            rt.vault.ensure_active_key()
            hashed = rt.parties.passwords.hash(PASSWORD)
            staff = {role: rt.uow.run(lambda tx, r=role: rt.parties.create_operator(
                tx, name=f"roles-{r}", role=r, password_hash=hashed)) for role in ROLE_NAMES}
        finally:
            rt.close()
        with running_server(url, master) as base:
            yield WebServer(base, {"staff": staff})


def _staff_client(base: str, operator: dict[str, Any]) -> httpx.Client:
    """A client holding the staff session of ``operator``, logged in through the form. The
    cookies are ``__Host-`` (Secure): a cookie jar would not send them to this plain-http
    loopback server, so they are carried by hand as a browser on https would."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30,
                          headers={"Accept-Language": "en"})
    form = client.get("/console/login")
    field, token = re.search(r'<input type="hidden" name="([^"]+)" value="([^"]+)"',
                             form.text).groups()
    code = TOTP(base64.b32decode(operator["totp_secret"]), 6, SHA1(), 30).generate(
        time.time()).decode()
    answer = client.post("/console/login", data={field: token, "operator": operator["id"],
                                                  "password": PASSWORD, "totp_code": code},
                         headers={"Cookie": _cookies(form)})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/", \
        answer.text[:300]
    client.headers["Cookie"] = _cookies(answer)
    return client


def _cookies(response: httpx.Response) -> str:
    """The Cookie header a browser sends back after ``response``'s Set-Cookie lines."""
    return "; ".join(line.split(";", 1)[0]
                     for line in response.headers.get_list("set-cookie"))


def test_every_console_page_opens_only_for_the_roles_of_its_tab(roles_server: WebServer
                                                                 ) -> None:
    pages = _console_pages()
    assert "/console/reports" in pages or any(p.startswith("/console/reports") for p in pages)
    seen_forbidden: dict[str, list[str]] = {}
    for role, operator in roles_server.seeded["staff"].items():
        client = _staff_client(roles_server.base, operator)
        try:
            for path in pages:
                answer = client.get(path)
                assert answer.status_code < 500, (role, path, answer.status_code)
                roles = _tab_roles(path)
                if roles is not None and role not in roles:
                    assert answer.status_code == 403, (role, path, answer.status_code)
                    assert "<h1>Not for your role</h1>" in answer.text, (role, path)
                    seen_forbidden.setdefault(role, []).append(path)
                elif roles is not None:
                    assert answer.status_code in (200, 404, 422), \
                        (role, path, answer.status_code)
                else:  # a page under no tab (the overview, a lookup): its own roles
                    assert answer.status_code in (200, 403, 404, 422), \
                        (role, path, answer.status_code)
                    if answer.status_code == 403:
                        assert "<h1>Not for your role</h1>" in answer.text, (role, path)
                    # A tab this role cannot open is not offered to it.
                    for tab, _label, tab_roles in NAV:
                        if role not in tab_roles and answer.status_code == 200:
                            assert f'href="{tab}"' not in answer.text, (role, path, tab)
        finally:
            client.close()
    # The issue's own example: a collections agent cannot open the compliance reports.
    assert any(p.startswith("/console/reports") for p in seen_forbidden["collections_agent"])


def test_without_a_staff_session_every_console_page_sends_to_the_log_in(
        roles_server: WebServer) -> None:
    with httpx.Client(base_url=roles_server.base, follow_redirects=False, timeout=30) as client:
        # Cookies of the other apps are not a staff session.
        client.headers["Cookie"] = ("__Host-cp_session=not-a-staff-session; "
                                    "__Host-cp_merchant=not-a-staff-session")
        for path in _console_pages():
            answer = client.get(path)
            assert answer.status_code == 303, (path, answer.status_code)
            assert answer.headers["location"].startswith("/console/login"), path
