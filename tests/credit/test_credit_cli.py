import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditpay.cli import app

runner = CliRunner()
BASE = ["schedule", "--principal", "100.00", "--annual-rate", "0.07", "--periods", "6",
        "--method", "equal_installment", "--start", "2024-01-01", "--day-count", "30/360"]


def test_schedule_json_contract():
    result = runner.invoke(app, [*BASE, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"installments", "totals", "apr_percent", "aprc_percent"}
    rows = document["installments"]
    assert [r["total"] for r in rows] == ["17.01"] * 5 + ["17.00"]
    assert [r["interest"] for r in rows] == ["0.58", "0.49", "0.39", "0.29", "0.20", "0.10"]
    assert set(rows[0]) == {"number", "due_date", "principal", "interest", "fee", "total",
                            "balance_after"}
    assert rows[0]["due_date"] == "2024-02-01" and rows[-1]["balance_after"] == "0.00"
    assert document["totals"] == {"principal": "100.00", "interest": "2.05", "fee": "0.00",
                                  "total": "102.05"}
    for key in ("apr_percent", "aprc_percent"):
        whole, decimals = document[key].split(".")
        assert len(decimals) == 4
    # 7 % nominal; the rounded schedule's APR is within a few hundredths of a point
    assert abs(float(document["apr_percent"]) - 7) < 0.01
    assert abs(float(document["aprc_percent"]) - 7.23) < 0.05


def test_schedule_options_fee_currency_frequency():
    result = runner.invoke(app, [*BASE, "--fee-rate-per-period", "0.006", "--currency", "JPY",
                                 "--principal", "100000", "--frequency", "quarterly", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["installments"][0]["fee"] == "600"
    assert document["installments"][1]["due_date"] == "2024-07-01"


def test_schedule_table_without_json():
    result = runner.invoke(app, BASE)
    assert result.exit_code == 0
    assert "17.01" in result.stdout and "APR" in result.stdout


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        (["--principal", "-100.00"], "--principal"),
        (["--principal", "100.001"], "--principal"),
        (["--method", "balloon"], "--method"),
        (["--periods", "0"], "--periods"),
        (["--start", "2024-02-30"], "--start"),
        (["--annual-rate", "seven"], "--annual-rate"),
        (["--day-count", "ACT/366"], "--day-count"),
        (["--currency", "XYZ"], "--currency"),
        (["--first-due-date", "2023-12-01"], "--first-due-date"),
    ],
)
def test_schedule_bad_input_exits_2_naming_the_option(changes, option):
    result = runner.invoke(app, [*BASE, *changes, "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert option in result.stderr


def test_apr_appendix_j_example():
    result = runner.invoke(app, ["apr", "--advance", "5000.00", "--advance-date", "1978-01-10",
                                 "--payment", "230.00", "--count", "24", "--frequency",
                                 "monthly", "--first-payment", "1978-02-10", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    # The disclosed APR: the solved 9.6857 % rounded half-up to the hundredth (Reg Z).
    assert result.stdout == '{"apr_percent": "9.6900", "method": "us"}\n'
    assert document == {"apr_percent": "9.6900", "method": "us"}


def test_apr_is_disclosed_to_the_hundredth_for_both_methods(tmp_path: Path):
    args = ["apr", "--advance", "5000.00", "--advance-date", "1978-01-10", "--payment",
            "230.00", "--count", "24", "--frequency", "monthly", "--first-payment",
            "1978-02-10", "--json"]
    eu = json.loads(runner.invoke(app, [*args, "--method", "eu"]).stdout)
    assert set(eu) == {"apr_percent", "method"} and eu["method"] == "eu"
    assert eu["apr_percent"].endswith("00") and len(eu["apr_percent"].split(".")[1]) == 4
    # APRC in equal months (a month is 1/12 year): solved 10.1275 %, disclosed 10.13 %.
    assert eu["apr_percent"] == "10.1300"
    flows = tmp_path / "flows.json"
    flows.write_text(json.dumps({"advances": [{"date": "2023-01-01", "amount": "1000.00"}],
                                 "payments": [{"date": "2024-01-01", "amount": "1123.45"}]}))
    # A year at exactly 12.345 %: the half rounds up.
    result = runner.invoke(app, ["apr", "--flows", str(flows), "--method", "eu", "--json"])
    assert json.loads(result.stdout) == {"apr_percent": "12.3500", "method": "eu"}
    text = runner.invoke(app, args[:-1])
    assert text.exit_code == 0 and "9.6900 %" in text.stdout


def test_disclosed_percent_rounds_half_up():
    from decimal import Decimal

    from creditpay.formatting import disclosed_percent_string

    assert disclosed_percent_string(Decimal("0.096857")) == "9.6900"
    assert disclosed_percent_string(Decimal("0.123450")) == "12.3500"
    assert disclosed_percent_string(Decimal("0.1234499")) == "12.3400"
    assert disclosed_percent_string(Decimal("0")) == "0.0000"


def test_apr_eu_and_flows_file(tmp_path: Path):
    flows = tmp_path / "flows.json"
    flows.write_text(json.dumps({"advances": [{"date": "2023-01-01", "amount": "1000.00"}],
                                 "payments": [{"date": "2024-01-01", "amount": "1200.00"}]}))
    result = runner.invoke(app, ["apr", "--flows", str(flows), "--method", "eu", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"apr_percent": "20.0000", "method": "eu"}
    semimonthly = runner.invoke(app, [
        "apr", "--advance", "5000.00", "--advance-date", "1978-02-23", "--payment", "219.17",
        "--count", "24", "--frequency", "semimonthly", "--first-payment", "1978-03-01",
        "--json"])
    assert semimonthly.exit_code == 0, semimonthly.output
    assert round(float(json.loads(semimonthly.stdout)["apr_percent"]), 2) == 10.34


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--advance", "5000.00", "--advance-date", "1978-01-10", "--payment", "230.00"],
         "--count"),
        (["--advance", "5000.00", "--advance-date", "1978-13-10", "--payment", "230.00",
          "--count", "24"], "--advance-date"),
        (["--advance", "5000.00", "--advance-date", "1978-01-10", "--payment", "230.00",
          "--count", "24", "--method", "uk"], "--method"),
        (["--advance", "5000.00", "--advance-date", "1978-01-10", "--payment", "230.00",
          "--count", "24", "--frequency", "hourly"], "--frequency"),
        (["--flows", "/nonexistent/flows.json"], "--flows"),
    ],
)
def test_apr_bad_input_exits_2(args, option):
    result = runner.invoke(app, ["apr", *args, "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert option in result.stderr


def _flows_file(tmp_path: Path, advance_amount: object) -> str:
    path = tmp_path / "flows.json"
    path.write_text(json.dumps({
        "advances": [{"date": "2023-01-01", "amount": advance_amount}],
        "payments": [{"date": "2024-01-01", "amount": "1200.00"}]}))
    return str(path)


@pytest.mark.parametrize("amount", [1000.0, 1000, 1e3])
def test_apr_flows_refuse_json_numbers_with_a_clear_message(tmp_path: Path, amount):
    result = runner.invoke(app, ["apr", "--flows", _flows_file(tmp_path, amount), "--json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "--flows" in result.stderr
    message = " ".join(result.stderr.split())
    assert "advances[0].amount must be a decimal string" in message
    assert "not the JSON number" in message


def test_apr_flows_refuse_regular_payment_options(tmp_path: Path):
    flows = _flows_file(tmp_path, "1000.00")
    result = runner.invoke(app, ["apr", "--flows", flows, "--advance", "1000.00", "--json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "--advance" in result.stderr and "cannot be combined" in \
        " ".join(result.stderr.split())
    ok = runner.invoke(app, ["apr", "--flows", flows, "--method", "eu", "--json"])
    assert json.loads(ok.stdout) == {"apr_percent": "20.0000", "method": "eu"}


def test_bench_schedules_small_run():
    result = runner.invoke(app, ["bench", "schedules", "--count", "2000",
                                 "--reference-sample", "50", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schedules"] == 2000
    assert document["reference"]["name"] == "numpy_financial_loop"
    assert document["ratio"] > 0 and document["schedules_per_s"] > 0


def test_real_subprocess():
    executable = Path(sys.executable).with_name("creditpay")
    completed = subprocess.run(
        [str(executable), *BASE, "--json"], capture_output=True, text=True, timeout=120,
        check=False)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert [r["total"] for r in document["installments"]] == ["17.01"] * 5 + ["17.00"]
    bad = subprocess.run([str(executable), *BASE, "--periods", "0", "--json"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and bad.stdout == "" and "--periods" in bad.stderr
