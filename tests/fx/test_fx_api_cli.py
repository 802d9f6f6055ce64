"""The FX contracts over HTTP and on the command line: exact JSON keys, problem+json naming
the field, operator reads, read-only commands that never create a database."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.fx.position import write_position
from creditpay.fx.rates import MidRate
from creditpay.ledger.chart import ensure_platform_accounts
from tests.api.helpers import running_api

QUOTE_KEYS = {"quote_id", "mid_rate", "markup_bps", "client_rate", "sell_amount_minor",
              "buy_amount_minor", "quoted_at", "expires_at", "sell_currency", "buy_currency",
              "markup_minor"}
runner = CliRunner()


class FixedSource:
    name = "fixed"

    def rates(self, day):
        return [MidRate("JPY", "CNY", Decimal("0.0482")), MidRate("USD", "CNY", Decimal("7.1"))]


def test_quote_route_config_and_position(store, clock):
    with running_api(store.url, clock, pool_size=2) as api:
        alice = api.customer("13900000021")
        response = api.post("/v1/fx/quotes", {"sell_currency": "CNY", "buy_currency": "JPY",
                                              "buy_amount_minor": 100000}, alice, expect=201)
        body = response.json()
        assert set(body) == QUOTE_KEYS
        assert body["markup_bps"] == 80 and body["buy_amount_minor"] == 100000
        assert Decimal(body["client_rate"]) == \
            (Decimal(body["mid_rate"]) * Decimal("1.008")).quantize(Decimal("1E-10"))
        assert dt.datetime.fromisoformat(body["expires_at"]) - \
            dt.datetime.fromisoformat(body["quoted_at"]) == dt.timedelta(minutes=30)
        # Replayed under its key: the same quote.
        again = api.post("/v1/fx/quotes", {"sell_currency": "CNY", "buy_currency": "JPY",
                                           "buy_amount_minor": 100000}, alice, idem="fx-key-1")
        assert api.post("/v1/fx/quotes", {"sell_currency": "CNY", "buy_currency": "JPY",
                                          "buy_amount_minor": 100000}, alice,
                        idem="fx-key-1").json() == again.json()
        for bad, field in [({"buy_currency": "BRL"}, "buy_currency"),
                           ({"buy_amount_minor": -5}, "buy_amount_minor"),
                           ({"sell_currency": "JPY"}, "buy_currency"),
                           ({"buy_amount_minor": 200_000_000}, "amount_minor")]:
            refused = api.post("/v1/fx/quotes", {"sell_currency": "CNY", "buy_currency": "JPY",
                                                 "buy_amount_minor": 100000} | bad, alice)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["field"] == field, refused.text
        analyst = api.operator("risk_analyst")
        config = api.get("/v1/operator/fx/config", analyst, expect=200).json()
        assert config["home_currency"] == "CNY" and config["quote_lock_minutes"] == 30
        assert {"sell": "CNY", "buy": "JPY", "markup_bps": 80} in config["markups"]
        assert config["limits"] == {"currency": "CNY", "per_transaction_minor": 5000000,
                                    "daily_minor": 30000000}
        assert config["rate_source"] == "simulated:0"
        day = clock.today()
        missing = api.get("/v1/operator/fx/position", analyst, params={"date": str(day)})
        assert missing.status_code == 404 and missing.json()["field"] == "date"
        rt = api.runtime
        rt.uow.run(lambda tx: ensure_platform_accounts(tx, "JPY"))
        rt.uow.run(lambda tx: write_position(tx, day, config=rt.services.fx_config,
                                             source=FixedSource()))
        position = api.get("/v1/operator/fx/position", analyst, params={"date": str(day)},
                           expect=200).json()
        assert [line["currency"] for line in position["lines"]] == ["CNY", "JPY"]
        assert position["quotes_used"] == 0
        assert api.get("/v1/operator/fx/position", analyst,
                       params={"date": "07/12/2026"}).status_code == 422


def test_cli_quote_rates_refresh_position(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CREDITPAY_FX_RATE_SOURCE", "simulated:5")
    db = str(tmp_path / "fx.db")
    # Read-only commands never create the database.
    for args in (["fx", "rates", "--json"], ["fx", "position", "--date", "2026-12-07"]):
        result = runner.invoke(app, [*args, "--db", db])
        assert result.exit_code == 2, result.output
    assert not (tmp_path / "fx.db").exists()
    result = runner.invoke(app, ["fx", "quote", "--sell", "CNY", "--buy", "JPY",
                                 "--buy-amount-minor", "100000", "--json", "--db", db,
                                 "--customer", "cus_42"])
    assert result.exit_code == 0, result.output
    quote = json.loads(result.stdout)
    assert set(quote) == QUOTE_KEYS and quote["sell_currency"] == "CNY"
    result = runner.invoke(app, ["fx", "quote", "--sell", "CNY", "--buy", "JPY",
                                 "--buy-amount-minor", "0", "--json", "--db", db])
    assert result.exit_code == 2 and result.stdout == ""
    assert "--buy-amount-minor" in result.stderr
    rates = json.loads(runner.invoke(app, ["fx", "rates", "--json", "--db", db]).stdout)
    assert {r["source"] for r in rates["rates"]} == {"simulated:5"}
    assert any(r["base_currency"] == "JPY" for r in rates["rates"])
    refreshed = runner.invoke(app, ["fx", "refresh", "--date", "2026-01-02", "--json",
                                    "--db", db])
    assert refreshed.exit_code == 0, refreshed.output
    assert json.loads(refreshed.stdout)["stored"] == 10
    dated = json.loads(runner.invoke(app, ["fx", "rates", "--date", "2026-01-02", "--json",
                                           "--db", db]).stdout)
    assert dated["date"] == "2026-01-02" and len(dated["rates"]) == 10
    none = runner.invoke(app, ["fx", "position", "--date", "2026-01-02", "--json", "--db", db])
    assert none.exit_code == 1 and "no FX position" in none.stderr


@pytest.mark.parametrize("value", ["simulated:x", "rates.txt", "sim"])
def test_a_bad_rate_source_setting_names_the_variable(value):
    from creditpay.config import Settings
    from creditpay.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        Settings.from_env(environ={"CREDITPAY_FX_RATE_SOURCE": value})
    assert caught.value.field == "CREDITPAY_FX_RATE_SOURCE"
