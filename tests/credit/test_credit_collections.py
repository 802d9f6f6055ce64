"""Fair collections workflow (credit/collections.py) on both stores: reminders, DPD actions
through the contact rules, promises to pay, settlement offers, hand-over, idempotent runs."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from creditpay.credit import collections as C
from creditpay.credit import service as S
from creditpay.credit.collections_tables import (
    collection_actions,
    collection_cases,
    collection_handovers,
    collection_promises,
    collection_runs,
    collection_settlements,
)
from creditpay.errors import StateError, ValidationError
from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Parties, Principal
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.vault import BlindIndexer, Vault
from creditpay.protection.collections_rules import CHANNELS, ContactPolicy, run_collections
from creditpay.protection.tables import collection_contacts
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import CNY, close_days, close_until, new_customer

SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE = dt.date(2025, 3, 8)  # the 7-day bullet loans below are disbursed on 2025-03-01


@pytest.fixture
def parties(uow):
    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    return Parties(vault=vault, indexer=BlindIndexer(b"b" * 32), signer=TokenSigner(b"t" * 32))


def _debtor(uow, parties, phone="+86 138-1234-5678", loans=("loan-a",)) -> str:
    with uow.begin() as tx:
        customer_id = parties.register(tx, phone=phone, email=None,
                                       password_hash="$argon2id$x", device_id="device-0001")["id"]
    who = new_customer(uow, customer_id)
    for loan_id in loans:
        with uow.begin() as tx:
            S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=customer_id, currency=CNY,
                                 principal_minor=100_000, product_code="jiebei", periods=7,
                                 method="bullet", wallet_account_id=who.wallet_id,
                                 catalogue=CATALOGUE)
    return customer_id


def _run(uow, clock, parties, local_hour=None, **kwargs):
    """The collections run of today's business date, at ``local_hour`` Shanghai time if
    given (else now: close_days leaves the clock at 09:00 UTC, 17:00 in Shanghai)."""
    today = clock.today()
    if local_hour is not None:
        clock.set(dt.datetime.combine(today, dt.time(local_hour), tzinfo=SHANGHAI)
                  .astimezone(dt.UTC))
    assert clock.today() == today
    kwargs.setdefault("directory", C.PartiesDirectory(parties))
    return run_collections(uow, today, **kwargs)


def _contacts(uow):
    with uow.connect() as conn:
        return [dict(r) for r in conn.execute(select(collection_contacts).order_by(
            collection_contacts.c.id)).mappings()]


def _case(uow, account_id="loan-a"):
    with uow.connect() as conn:
        return dict(conn.execute(select(collection_cases).where(
            collection_cases.c.account_id == account_id).order_by(
            collection_cases.c.created_at.desc())).mappings().first())


def _strategy(**changes):
    document = C.default_strategy().model_dump(mode="json")
    document.update(changes)
    return C.parse_strategy(document)


def test_packaged_strategy_loads_and_bad_documents_name_the_field():
    strategy = C.default_strategy()
    assert (strategy.code, strategy.version) == ("standard", 1)
    assert [r.days_before_due for r in strategy.reminders] == [3, 1]
    assert [(s.dpd, s.kind) for s in strategy.dpd_actions] == [
        (1, "contact"), (7, "contact"), (15, "contact"), (30, "settlement_offer"),
        (60, "hand_over")]
    assert strategy.hand_over.agency_name
    document = strategy.model_dump(mode="json")
    bad = [
        ({"dpd_actions": [{**document["dpd_actions"][0], "channel": "pigeon"}]},
         "dpd_actions[0].channel"),
        ({"dpd_actions": [{"code": "x_contact", "dpd": 3, "kind": "contact",
                           "template_code": "t1"}]}, "dpd_actions[0].channel"),
        ({"dpd_actions": list(reversed(document["dpd_actions"]))}, "dpd_actions"),
        ({"settlement": {**document["settlement"], "principal_floor_ratio": 0.9}},
         "settlement.principal_floor_ratio"),
        ({"reminders": [{**document["reminders"][0], "days_before_due": 0}]},
         "reminders[0].days_before_due"),
        ({"surprise": 1}, "surprise"),
    ]
    for change, field in bad:
        with pytest.raises(ValidationError) as exc:
            C.parse_strategy({**document, **change})
        assert exc.value.field == field, (change, exc.value)


def test_reminders_are_sent_before_the_due_date(uow, clock, parties):
    _debtor(uow, parties)
    close_until(uow, clock, DUE - dt.timedelta(days=4))
    assert _run(uow, clock, parties).contacts_sent == 0  # 4 days ahead: nothing yet
    close_days(uow, clock)
    three = _run(uow, clock, parties)
    close_days(uow, clock)
    two = _run(uow, clock, parties)
    close_days(uow, clock)
    one = _run(uow, clock, parties)
    assert (three.reminders_sent, two.reminders_sent, one.reminders_sent) == (1, 0, 1)
    assert three.cases_opened == one.cases_opened == 0  # reminders need no case
    assert [(c["channel"], c["allowed"], c["recipient"]) for c in _contacts(uow)] == [
        ("app_push", True, "debtor"), ("sms", True, "debtor")]
    with uow.connect() as conn:
        steps = conn.execute(select(collection_actions.c.step_code, collection_actions.c.status)
                             .order_by(collection_actions.c.id)).all()
    assert [tuple(s) for s in steps] == [("remind_3d", "sent"), ("remind_1d", "sent")]


def test_quiet_hours_in_the_consumers_zone_refuse_and_a_later_run_sends(uow, clock, parties):
    customer_id = _debtor(uow, parties)
    close_until(uow, clock, DUE + dt.timedelta(days=2))  # dpd 1 after that close
    late = _run(uow, clock, parties, local_hour=23)  # 23:00 in Shanghai
    assert (late.cases_opened, late.contacts_sent, late.refused_by_rule) == (
        1, 0, {"quiet_hours": 1})
    again = _run(uow, clock, parties, local_hour=23)
    assert again.already_done and len(_contacts(uow)) == 1  # never sent, not re-tried today
    close_days(uow, clock)
    morning = _run(uow, clock, parties)  # 17:00 in Shanghai
    assert (morning.cases_opened, morning.contacts_sent, morning.refused_by_rule) == (0, 1, {})
    assert [(c["rule"], c["time_zone"]) for c in _contacts(uow)] == [
        ("quiet_hours", "Asia/Shanghai"), ("allowed", "Asia/Shanghai")]
    # The zone is the consumer's: 17:00 in Shanghai is 05:00 in New York, before 08:00.
    with uow.begin() as tx:
        parties.set_time_zone(tx, Principal("customer", customer_id), customer_id,
                              "America/New_York")
    close_until(uow, clock, DUE + dt.timedelta(days=8))  # dpd 7: the call falls due
    new_york = _run(uow, clock, parties)
    assert (new_york.contacts_sent, new_york.refused_by_rule) == (0, {"quiet_hours": 1})
    assert _contacts(uow)[-1]["time_zone"] == "America/New_York"


def test_the_daily_cap_holds_across_accounts(uow, clock, parties):
    _debtor(uow, parties, loans=("loan-a", "loan-b"))
    close_until(uow, clock, DUE + dt.timedelta(days=2))
    policy = ContactPolicy(version=2, contacts_per_day_max=1)
    first = _run(uow, clock, parties, policy=policy)
    assert (first.cases_opened, first.contacts_sent, first.refused_by_rule) == (
        2, 1, {"max_contacts_per_day": 1})
    close_days(uow, clock)
    second = _run(uow, clock, parties, policy=policy)
    assert (second.contacts_sent, second.refused_by_rule) == (1, {})
    by_day = {}
    for contact in _contacts(uow):
        if contact["allowed"]:
            by_day[contact["local_date"]] = by_day.get(contact["local_date"], 0) + 1
    assert max(by_day.values()) == 1 and len(by_day) == 2


def test_a_promise_pauses_dpd_actions_and_a_broken_one_resumes_them(uow, clock, parties):
    _debtor(uow, parties)
    close_until(uow, clock, DUE + dt.timedelta(days=2))
    assert _run(uow, clock, parties).contacts_sent == 1  # dpd 1 sms
    case_id = _case(uow)["case_id"]
    with uow.begin() as tx:
        promise = C.record_promise(tx, case_id, 50_000, clock.today() + dt.timedelta(days=7),
                                   "agent_7")
        with pytest.raises(StateError) as exc:
            C.record_promise(tx, case_id, 50_000, clock.today(), "agent_7")
        assert exc.value.field == "case_id"
    for field, args in (("amount_minor", (0, clock.today())),
                        ("promised_date", (1_000, clock.today() + dt.timedelta(days=60))),
                        ("amount_minor", (10**9, clock.today()))):
        with uow.begin() as tx, pytest.raises(ValidationError) as exc:
            C.record_promise(tx, case_id, *args, "agent_7")
        assert exc.value.field == field
    reports = []
    for _ in range(7):  # dpd 2..8: the dpd-7 call falls due but the promise holds it back
        close_days(uow, clock)
        reports.append(_run(uow, clock, parties))
    assert [r.contacts_sent for r in reports] == [0] * 7
    assert [r.paused_by_promise for r in reports] == [1] * 7
    close_days(uow, clock)  # the promised date has passed unpaid: broken, actions resume
    resumed = _run(uow, clock, parties)
    assert (resumed.promises_broken, resumed.paused_by_promise, resumed.contacts_sent) == (
        1, 0, 1)
    assert _contacts(uow)[-1]["channel"] == "phone"
    with uow.connect() as conn:
        row = conn.execute(select(collection_promises).where(
            collection_promises.c.promise_id == promise["promise_id"])).mappings().one()
    assert row["status"] == "broken"


def test_a_kept_promise_and_a_paid_account_close_the_case(uow, clock, parties):
    customer_id = _debtor(uow, parties)
    close_until(uow, clock, DUE + dt.timedelta(days=2))
    _run(uow, clock, parties)
    case_id = _case(uow)["case_id"]
    with uow.begin() as tx:
        C.record_promise(tx, case_id, 30_000, clock.today() + dt.timedelta(days=3), "agent_7")
    wallet = _wallet(uow, customer_id)
    with uow.begin() as tx:
        S.repay(tx, repayment_id="r1", customer_id=customer_id, currency=CNY,
                amount_minor=30_000, source_account_id=wallet, target="loan-a", catalogue=CATALOGUE)
    close_days(uow, clock)
    kept = _run(uow, clock, parties)
    assert (kept.promises_kept, kept.promises_broken, kept.contacts_sent) == (1, 0, 0)
    assert _case(uow)["status"] == "open"  # still past due: the workflow goes on
    with uow.connect() as conn:
        owed = S.payoff_amount(conn, "loan-a")
    with uow.begin() as tx:
        S.repay(tx, repayment_id="r2", customer_id=customer_id, currency=CNY,
                amount_minor=owed, source_account_id=wallet, target="loan-a", catalogue=CATALOGUE)
    close_days(uow, clock)
    paid = _run(uow, clock, parties)
    assert paid.cases_closed == {"paid": 1}
    assert (_case(uow)["status"], _case(uow)["close_reason"]) == ("closed", "paid")


def _wallet(uow, customer_id):
    from creditpay import ledger as L
    from creditpay.ledger.chart import party_key

    with uow.connect() as conn:
        return L.get_account_by_key(conn, party_key("wallet", customer_id, CNY)).id


def test_settlement_waives_charges_never_principal_below_the_floor(uow, clock, parties):
    _debtor(uow, parties)
    strategy = _strategy(dpd_actions=[
        {"code": "dpd1_sms", "dpd": 1, "kind": "contact", "channel": "sms",
         "template_code": "overdue_dpd1_sms"},
        {"code": "dpd3_settle", "dpd": 3, "kind": "settlement_offer", "channel": "sms",
         "template_code": "settlement_offer"}])
    close_until(uow, clock, DUE + dt.timedelta(days=2))
    _run(uow, clock, parties, strategy=strategy)
    case_id = _case(uow)["case_id"]
    with uow.connect() as conn:
        limits = C.settlement_limits(conn, "loan-a", strategy)
    assert limits.principal_floor_minor == limits.principal_minor == 100_000
    assert limits.discount_max_minor == limits.owed_minor - 100_000 > 0
    expires = clock.today() + dt.timedelta(days=7)
    with uow.begin() as tx, pytest.raises(ValidationError) as exc:
        C.offer_settlement(tx, case_id, limits.discount_max_minor + 1, expires, "agent_7",
                           strategy=strategy)
    assert exc.value.field == "discount_minor"
    with uow.begin() as tx:
        offer = C.offer_settlement(tx, case_id, limits.discount_max_minor, expires, "agent_7",
                                   strategy=strategy)
    assert offer["settle_minor"] == 100_000
    lenient = _strategy(settlement={"principal_floor_ratio": "0.9", "offer_days": 14,
                                    "offer_days_max": 30})
    with uow.connect() as conn:
        assert C.settlement_limits(conn, "loan-a", lenient).principal_floor_minor == 90_000
    close_days(uow, clock, 2)  # dpd 3: the strategy's settlement step offers automatically
    report = _run(uow, clock, parties, strategy=strategy)
    assert (report.contacts_sent, report.settlement_offers) == (1, 1)
    with uow.connect() as conn:
        statuses = conn.execute(select(collection_settlements.c.status).order_by(
            collection_settlements.c.created_at)).scalars().all()
    assert sorted(statuses) == ["offered", "withdrawn"]  # the new offer replaces the old


def test_hand_over_at_the_configured_dpd_closes_the_case(uow, clock, parties):
    _debtor(uow, parties)
    strategy = _strategy(dpd_actions=[
        {"code": "dpd1_sms", "dpd": 1, "kind": "contact", "channel": "sms",
         "template_code": "overdue_dpd1_sms"},
        {"code": "dpd3_hand_over", "dpd": 3, "kind": "hand_over",
         "template_code": "agency_file", "agency_name": "Acme Recovery Ltd."}])
    close_until(uow, clock, DUE + dt.timedelta(days=2))
    reports = []
    for _ in range(4):  # dpd 1, 2, 3, 4
        reports.append(_run(uow, clock, parties, strategy=strategy))
        close_days(uow, clock)
    assert [r.handed_over for r in reports] == [0, 0, 1, 0]
    assert reports[2].cases_closed == {"handed_over": 1}
    assert reports[3].cases_opened == 0  # with the agency now: no new case, no contact
    assert reports[3].contacts_sent == 0 and not reports[3].refused_by_rule
    case = _case(uow)
    assert (case["status"], case["close_reason"]) == ("closed", "handed_over")
    with uow.connect() as conn:
        handover = conn.execute(select(collection_handovers)).mappings().one()
    assert (handover["agency_name"], handover["dpd"], handover["case_id"]) == (
        "Acme Recovery Ltd.", 3, case["case_id"])
    assert handover["owed_minor"] > 100_000


def test_the_run_is_idempotent_for_a_date_and_resumes_after_a_crash(uow, clock, parties):
    _debtor(uow, parties, loans=("loan-a", "loan-b"))
    close_until(uow, clock, DUE + dt.timedelta(days=2))
    real = C.PartiesDirectory(parties)

    class CrashOnSecondAccount:
        calls = 0

        def profile(self, conn, customer_id):
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("power cut")
            return real.profile(conn, customer_id)

    with pytest.raises(RuntimeError):
        _run(uow, clock, parties, batch_size=1, directory=CrashOnSecondAccount())
    assert sum(c["allowed"] for c in _contacts(uow)) == 1  # the first batch committed
    resumed = _run(uow, clock, parties, batch_size=1)
    assert (resumed.cases_opened, resumed.contacts_sent, resumed.already_done) == (2, 2, False)

    def sizes():
        with uow.connect() as conn:
            return [conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in (collection_cases, collection_actions, collection_contacts,
                              collection_runs)]

    before = sizes()
    again = _run(uow, clock, parties, batch_size=1)
    assert again.already_done and again.contacts_sent == 2
    assert sizes() == before
    assert [c["account_id"] for c in _contacts(uow) if c["allowed"]] == ["loan-a", "loan-b"]
    with pytest.raises(ValidationError) as exc:
        run_collections(uow, clock.today() + dt.timedelta(days=1))
    assert exc.value.field == "business_date"


def test_no_third_party_is_ever_contacted(uow, clock, parties):
    customer_id = _debtor(uow, parties)
    stranger = new_customer(uow, "c_unregistered")  # no parties record: no verified channel
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan-x", customer_id=stranger.customer_id,
                             currency=CNY, principal_minor=50_000, product_code="jiebei",
                             periods=7, method="bullet", wallet_account_id=stranger.wallet_id,
                             catalogue=CATALOGUE)
    close_until(uow, clock, DUE - dt.timedelta(days=3))
    for _ in range(20):
        _run(uow, clock, parties)
        close_days(uow, clock)
    contacts = _contacts(uow)
    assert contacts and {c["recipient"] for c in contacts} == {"debtor"}
    with uow.connect() as conn:
        own = parties.get_customer(conn, customer_id)
    refs = {own.phone_bidx, f"app:{customer_id}"}
    assert {c["channel_ref"] for c in contacts if c["customer_id"] == customer_id} <= refs
    unregistered = [c for c in contacts if c["customer_id"] == "c_unregistered"]
    assert unregistered and not any(c["allowed"] for c in unregistered)
    assert {c["rule"] for c in unregistered} == {"verified_channel"}


def test_collections_run_command(tmp_path):
    import json

    from typer.testing import CliRunner

    from creditpay.cli import app

    db = str(tmp_path / "collections.db")
    runner = CliRunner()
    first = runner.invoke(app, ["collections", "run", "--date", "2020-01-01", "--db", db,
                                "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert (report["business_date"], report["cases_opened"], report["contacts_sent"],
            report["refused_by_rule"], report["promises_kept"], report["promises_broken"],
            report["handed_over"]) == ("2020-01-01", 0, 0, {}, 0, 0, 0)
    again = runner.invoke(app, ["collections", "run", "--date", "2020-01-01", "--db", db])
    assert again.exit_code == 0 and "already done" in again.stdout
    assert "handed over" in again.stdout and "refused by rule" in again.stdout
    future = runner.invoke(app, ["collections", "run", "--date", "2999-01-01", "--db", db,
                                 "--json"])
    assert future.exit_code == 2 and future.stdout == ""
    bad = runner.invoke(app, ["collections", "run", "--date", "01/01/2020", "--db", db])
    assert bad.exit_code == 2 and "--date" in bad.output


def test_strategy_channels_are_the_contact_rules_channels():
    # Credit validates a strategy's channels without importing consumer protection (it sits
    # below it); the two lists must not drift apart.
    assert tuple(C.CONTACT_CHANNELS) == tuple(CHANNELS)


def test_the_book_carries_each_accounts_next_due_date(uow, clock, parties):
    """The reminders read the next due date from the book, read once for the run: it is
    the account's own, as its view shows it."""
    _debtor(uow, parties, loans=("loan-a", "loan-b"))
    with uow.connect() as conn:
        accounts, _ = S.portfolio(conn, CNY)
        loans = [a for a in accounts if a.kind == "loan"]
        assert [a.next_due_date for a in loans] == [DUE, DUE]
        for account in accounts:
            assert account.next_due_date == S.get_account_view(
                conn, account.account_id).next_due_date
