"""``creditpay consent list``, ``disclosure render``, ``complaints stats`` via Typer's runner."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from creditpay.cli.consumer import register
from creditpay.protection import complaints, consent, disclosure

RENDER = ["disclosure", "render", "--principal", "6000.00", "--annual-rate", "0.12",
          "--periods", "6", "--fee-rate", "0.003", "--late-fee", "20.00",
          "--penalty-rate", "0.12", "--start-date", "2025-03-01"]


@pytest.fixture
def run(monkeypatch):
    monkeypatch.delenv("CREDITPAY_DATABASE_URL", raising=False)
    root = typer.Typer()
    register(root, typer.Typer())
    runner = CliRunner()
    return lambda *args: runner.invoke(root, list(args))


def test_render_html_matches_the_library_and_is_reproducible(run, tmp_path):
    out = tmp_path / "kf.html"
    result = run(*RENDER, "--lang", "en", "--out", str(out), "--offer-id", "off_9")
    assert result.exit_code == 0, result.output
    document = out.read_bytes()
    digest = disclosure.document_sha256(document)
    assert f"html sha256 {digest}" in result.output and "18.05%" in result.output
    again = tmp_path / "again.html"
    run(*RENDER, "--lang", "en", "--out", str(again), "--offer-id", "off_9")
    assert again.read_bytes() == document
    assert b"off_9" in document and b'lang="en"' in document
    # Without --offer-id the id is derived from the values, not their spelling.
    spelled = [a if a != "20.00" else "20" for a in RENDER]
    first = run(*RENDER, "--out", str(tmp_path / "a.html")).output
    second = run(*spelled, "--out", str(tmp_path / "b.html")).output
    assert first.split("offer ")[1].split(";")[0] == second.split("offer ")[1].split(";")[0]


def test_render_pdf(run, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # the CLI pins it; restore it afterwards
    out = tmp_path / "kf.pdf"
    result = run(*RENDER, "--lang", "zh-CN", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(("extra", "message"), [
    (["--lang", "fr", "--out", "x.html"], "--lang"),
    (["--out", "x.docx"], "--out"),
    (["--out", "x.html", "--start-date", "yesterday"], "--start-date"),
])
def test_render_bad_options_exit_2(run, tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    result = run(*RENDER, *extra)
    assert result.exit_code == 2 and message in result.output
    assert not any(tmp_path.iterdir())


def test_render_bad_amount_names_the_field(run, tmp_path):
    args = [a if a != "6000.00" else "6000.001" for a in RENDER]
    result = run(*args, "--out", str(tmp_path / "x.html"))
    assert result.exit_code == 2 and "amount" in result.output


def test_consent_list(run, uow, db_url):
    text = consent.consent_text("bureau_inquiry", "en")
    with uow.begin() as tx:
        consent.grant_consent(tx, customer_id="cus_1", purpose="bureau_inquiry", language="en",
                              text_version=1, text_sha256=text.sha256, channel="app")
    with uow.begin() as tx:
        consent.revoke_consent(tx, customer_id="cus_1", purpose="bureau_inquiry",
                               channel="web")
    result = run("consent", "list", "--customer", "cus_1", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "bureau_inquiry: revoked" in result.output and "grant" in result.output
    data = json.loads(run("consent", "list", "--customer", "cus_1", "--db", db_url,
                          "--json").output)
    assert [h["action"] for h in data["history"]] == ["grant", "revoke"]
    assert data["current"][0]["granted"] is False
    empty = run("consent", "list", "--customer", "cus_404", "--db", db_url)
    assert "no consent records" in empty.output


def test_complaints_stats_json(run, uow, db_url, clock):
    with uow.begin() as tx:
        opened = complaints.open_complaint(tx, customer_id="cus_1", subject_type="loan",
                                           subject_id="ln_1", category="disclosure",
                                           channel="phone")
    clock.advance(hours=5)
    with uow.begin() as tx:
        complaints.resolve_complaint(tx, opened.id, "staff_1", "partially_upheld")
    as_of = clock.now().isoformat()
    result = run("complaints", "stats", "--json", "--db", db_url, "--as-of", as_of)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["total"] == 1 and stats["by_category"]["disclosure"] == 1
    assert stats["by_status"]["resolved"] == 1 and stats["median_hours_to_resolve"] == 5.0
    assert stats["resolve_breach_rate"] == 0.0
    text = run("complaints", "stats", "--db", db_url, "--as-of", as_of)
    assert "median time to resolve: 5.0 h" in text.output


def test_missing_database_exits_2(run, tmp_path):
    result = run("complaints", "stats", "--db", f"sqlite:///{tmp_path}/nope.db")
    assert result.exit_code == 2 and "does not exist" in result.output
