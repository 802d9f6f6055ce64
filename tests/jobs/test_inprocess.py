"""The embedded runner (SQLite's worker, the development server): card-rail callbacks are
applied and the audit chain sealed on schedule; in production mode the API process runs no
background task, and ``creditpay serve --jobs`` is refused there."""

from __future__ import annotations

import asyncio
import logging

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from creditpay.api.app import create_app
from creditpay.cli import app as cli_app
from creditpay.config import Settings
from creditpay.jobs.functions import JobSchedule
from creditpay.jobs.inprocess import InProcessRunner
from creditpay.platform import audit
from tests.api.helpers import GOOD_PAN, api_config, running_api

SQLITE = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


async def _run_for(services, seconds):
    runner = InProcessRunner(services, JobSchedule(period_s=1, seal_period_s=1),
                             nightly=False)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@SQLITE
def test_the_runner_applies_rail_callbacks_and_seals(store, clock):
    with running_api(store.url, clock, rail_delay_s=0) as api:
        customer = api.customer("13800138000")
        card = api.card(customer, GOOD_PAN)
        api.post("/v1/me/wallet/top-ups", {"card_id": card, "amount_minor": 5_000}, customer,
                 expect=201)
        assert api.wallet(customer)["balance_minor"] == 0  # the rail has not called back
        services = api.runtime.services
        with services.uow.connect() as conn:
            assert audit.unsealed_count(conn) > 0
        asyncio.run(_run_for(services, 1.5))
        assert api.wallet(customer)["balance_minor"] == 5_000
        with services.uow.connect() as conn:
            assert audit.unsealed_count(conn) == 0


@SQLITE
def test_production_mode_api_runs_no_background_task(store, clock, caplog):
    # The simulated rail and bureau are this release's only ones: production needs the allow.
    settings = Settings.of(database_url=store.url, mode="production",
                           allow_development_features=True)
    with caplog.at_level(logging.WARNING, logger="creditpay.api"):
        app = create_app(settings, clock, config=api_config(background_jobs=True))
    with TestClient(app):  # runs the lifespan
        assert app.state.background_tasks == []
    assert any("ignored" in r.getMessage() for r in caplog.records)
    development = create_app(Settings.of(database_url=store.url), clock,
                             config=api_config(background_jobs=True))
    with TestClient(development):
        assert len(development.state.background_tasks) == 1


def test_serve_jobs_is_refused_in_production_mode(tmp_path):
    result = CliRunner().invoke(cli_app, ["serve", "--jobs", "--db", str(tmp_path / "x.db")],
                                env={"CREDITPAY_MODE": "production"})
    assert result.exit_code == 2
    assert "--jobs" in result.output and "creditpay worker" in result.output
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened
