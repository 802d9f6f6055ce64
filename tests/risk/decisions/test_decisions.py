"""Decision service on both stores: knock-outs, caps, replay, idempotency, models, consent."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from creditpay.db.tables import outbox_events
from creditpay.errors import (
    ConsentRequiredError,
    IdempotencyConflictError,
    StateError,
    ValidationError,
)
from creditpay.risk.bureau import SimulatedBureau, pull_report
from creditpay.risk.decisions import registry, service
from creditpay.risk.decisions.policy import (
    activate_policy,
    bundled_policy_path,
    load_policy_document,
    load_policy_file,
)
from creditpay.risk.decisions.tables import (
    bureau_pulls,
    credit_decision_histories,
    credit_decisions,
)

from .conftest import CONSENT, GOOD_APPLICATION, allow_all, bureau_for, good_events, grant


def _decide(uow, application_id="app-1", customer_id="c1", *, application=None,
            bureau=None, product_code="credit_line", events=None, **kwargs):
    with uow.begin() as tx:
        return service.decide(
            tx, application_id=application_id, customer_id=customer_id,
            product_code=product_code, application=application or GOOD_APPLICATION,
            bureau=bureau or bureau_for(customer_id),
            platform_events=good_events(customer_id, tx.now) if events is None else events,
            bureau_consent_reference=CONSENT, platform_consent_reference=CONSENT,
            consent_checker=allow_all, **kwargs)


def _count(uow, table):
    with uow.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_good_applicant_is_approved_within_caps_and_everything_is_stored(risk_store):
    decision = _decide(risk_store)
    assert decision.outcome == "approve" and decision.reasons == []
    assert decision.grade in "ABCD" and 0 < decision.limit_minor <= 20_000_000
    assert decision.apr is not None and decision.apr <= 0.24
    assert decision.model_name == "application" and decision.model_version == 1
    assert len(decision.policy_hash) == 64 and decision.policy_version == "2025.1"
    with risk_store.connect() as conn:
        row = conn.execute(select(credit_decisions)).one()
        topics = conn.execute(select(outbox_events.c.topic)).scalars().all()
    assert row.inputs["application"]["age_years"] == decision.features["age_years"]
    assert "date_of_birth" not in row.inputs["application"]  # the vault keeps it
    assert row.inputs["bureau_report"]["lenders_in_use"] == 0
    # The history used is stored once by content; the 5 future events were not used.
    with risk_store.connect() as conn:
        history = service.stored_history(conn, row.inputs["platform_events_sha256"])
    assert len(history) == 60 and row.inputs["events_sha256"] == row.inputs[
        "platform_events_sha256"]
    assert row.features["payments_count_90d"] == decision.features["payments_count_90d"]
    assert row.model_output["score"] == pytest.approx(decision.score)
    assert "risk.decision.made" in topics


@pytest.mark.parametrize(("code", "change"), [
    ("KO_AGE", {"application": {**GOOD_APPLICATION, "date_of_birth": "2010-01-01"}}),
    ("KO_AGE", {"product_code": "cash_loan",
                "application": {**GOOD_APPLICATION, "date_of_birth": "1960-01-01"}}),
    ("KO_KYC", {"application": {**GOOD_APPLICATION, "kyc_verified": False}}),
    ("KO_BLACKLIST", {"blacklisted": True}),
    ("KO_MULTI_LENDING", {"bureau_overrides": {"lenders_in_use": 5}}),
    ("KO_DEBT_TO_INCOME", {"bureau_overrides": {"monthly_repayment_minor": 1_300_000,
                                                "debt_minor": 2_000_000,
                                                "lenders_in_use": 1}}),
])
def test_each_knock_out_declines_and_is_named_in_the_reasons(risk_store, code, change):
    change = dict(change)
    overrides = change.pop("bureau_overrides", {})
    decision = _decide(risk_store, bureau=bureau_for("c1", **overrides), **change)
    assert decision.outcome == "decline"
    assert decision.limit_minor is None and decision.apr_bps is None
    assert decision.reasons[0]["code"] == code
    assert [r["code"] for r in decision.reasons] == [code]  # only the rule that fired
    assert decision.reasons[0]["en"] and decision.reasons[0]["zh"]


def test_several_knock_outs_are_all_named_up_to_four(risk_store):
    decision = _decide(risk_store, blacklisted=True,
                       application={**GOOD_APPLICATION, "kyc_verified": False,
                                    "date_of_birth": "2010-01-01"},
                       bureau=bureau_for("c1", lenders_in_use=6, monthly_repayment_minor=10**7))
    assert [r["code"] for r in decision.reasons] == ["KO_AGE", "KO_KYC", "KO_BLACKLIST",
                                                     "KO_MULTI_LENDING"]


def test_score_decline_names_the_characteristics_that_cost_most(risk_store):
    decision = _decide(risk_store, events=[],
                       application={**GOOD_APPLICATION, "monthly_income_minor": 300_000,
                                    "employment_type": "unemployed"},
                       bureau=bureau_for("c1", inquiries_6m=9, delinquencies_24m=3,
                                         lenders_in_use=4, debt_minor=900_000,
                                         monthly_repayment_minor=140_000))
    assert decision.outcome == "decline" and decision.grade == "E"
    assert 1 <= len(decision.reasons) <= 4
    assert all(r["code"].startswith("SCORE:") and r["en"] and r["zh"] for r in decision.reasons)


_POLICY = load_policy_file(bundled_policy_path("application"))


def _policy_output(score, **features):
    # Pure policy evaluation: no store needed, so these run once, not per store.
    policy = _POLICY
    base = {"age_years": 35, "kyc_verified": True, "monthly_income_minor": 2_000_000,
            "bureau_lenders_in_use": 0, "debt_to_income": 0.0, "existing_exposure_minor": 0,
            "platform_tenure_months": 12}
    return policy, policy.evaluate({"features": {**base, **features},
                                    "product": policy.product("credit_line"),
                                    "params": policy.parameters,
                                    "internal": {"blacklisted": False}, "score": score})


@pytest.mark.parametrize(("score", "grade"), [
    (600.0, "A"), (599.9999, "B"), (580.0, "B"), (579.99, "C"), (560.0, "C"),
    (559.99, "D"), (540.0, "D"), (539.99, "E"), (900.0, "A"), (300.0, "E")])
def test_grade_boundaries(score, grade):
    _, output = _policy_output(score)
    assert output["grade"] == grade


@pytest.mark.parametrize("exposure", [0, 5_000_000, 19_000_000, 19_950_000, 25_000_000])
def test_limit_is_capped_by_the_per_borrower_exposure_cap(exposure):
    policy, output = _policy_output(650.0, monthly_income_minor=10**9,
                                    existing_exposure_minor=exposure)
    cap = policy.parameters["exposure_cap_minor"]
    assert output["limit_minor"] <= max(0, cap - exposure)
    assert output["limit_minor"] + exposure <= cap or output["limit_minor"] == 0
    if cap - exposure < policy.parameters["limit_min_minor"]:
        assert output["outcome"] == "decline" and output["reason_code"] == "EXPOSURE_CAP"


def test_exposure_cap_holds_end_to_end(risk_store):
    decision = _decide(risk_store, application={**GOOD_APPLICATION,
                                                "monthly_income_minor": 50_000_000},
                       bureau=bureau_for("c1", debt_minor=18_500_000, lenders_in_use=1,
                                         monthly_repayment_minor=100_000))
    assert decision.outcome in ("approve", "refer")
    assert decision.limit_minor + decision.features["existing_exposure_minor"] <= 20_000_000


@pytest.mark.parametrize("score", [300.0 + 5 * i for i in range(121)])
def test_apr_is_under_the_price_cap_for_every_score(score):
    policy, output = _policy_output(score)
    if output["outcome"] != "decline":
        assert 0 < output["apr_bps"] <= policy.parameters["apr_cap_bps"] <= 2400


def test_replay_gives_the_same_result(risk_store):
    decisions = [
        _decide(risk_store, "app-1", "c1"),
        _decide(risk_store, "app-2", "c2", blacklisted=True),
        _decide(risk_store, "app-3", "c3", bureau=SimulatedBureau(8)),  # random-ish bureau
        _decide(risk_store, "app-4", "c4", events=[]),
    ]
    with risk_store.connect() as conn:
        for decision in decisions:
            result = service.replay_decision(conn, decision.decision_id)
            assert result.matches, result.differences
            assert result.replayed["outcome"] == decision.outcome


def test_replay_detects_a_changed_input(risk_store):
    decision = _decide(risk_store)
    with risk_store.begin() as tx:
        row = tx.conn.execute(select(credit_decisions.c.inputs)).scalar_one()
        row = {**row, "application": {**row["application"], "monthly_income_minor": 1000}}
        tx.conn.execute(credit_decisions.update().values(inputs=row))
    with risk_store.connect() as conn:
        result = service.replay_decision(conn, decision.decision_id)
    assert not result.matches
    assert "features" in {d["field"] for d in result.differences}


def test_a_history_decided_on_twice_is_stored_once_and_both_replay(risk_store):
    first = _decide(risk_store, "app-1", "c1")
    second = _decide(risk_store, "app-2", "c1")  # same customer, same moment, same history
    assert _count(risk_store, credit_decision_histories) == 1
    with risk_store.connect() as conn:
        stored = conn.execute(select(credit_decision_histories)).one()
        assert stored.customer_id == "c1" and stored.event_count == 60
        assert hashlib.sha256(stored.document.encode()).hexdigest() == stored.sha256
        for decision in (first, second):
            assert service.replay_decision(conn, decision.decision_id).matches


def test_replay_refuses_a_changed_stored_history(risk_store):
    decision = _decide(risk_store)
    with risk_store.begin() as tx:
        text = tx.conn.execute(select(credit_decision_histories.c.document)).scalar_one()
        tx.conn.execute(credit_decision_histories.update().values(
            document=text.replace('"payment"', '"refund"', 1)))
    with risk_store.connect() as conn, pytest.raises(StateError) as refused:
        service.replay_decision(conn, decision.decision_id)
    assert refused.value.field == "platform_events_sha256"


def test_a_decision_stored_with_its_events_inline_still_replays(risk_store):
    # Decisions made before histories were stored by content carry the events in inputs.
    decision = _decide(risk_store)
    with risk_store.begin() as tx:
        inputs = tx.conn.execute(select(credit_decisions.c.inputs)).scalar_one()
        events = service.stored_history(tx.conn, inputs["platform_events_sha256"])
        legacy = {k: v for k, v in inputs.items() if k != "platform_events_sha256"}
        legacy["platform_events"] = [e.to_json() for e in events]
        tx.conn.execute(credit_decisions.update().values(inputs=legacy))
        tx.conn.execute(credit_decision_histories.delete())
    with risk_store.connect() as conn:
        result = service.replay_decision(conn, decision.decision_id)
    assert result.matches, result.differences
    assert result.replayed["features"]["payments_count_90d"] > 0


def test_retry_returns_the_first_decision_and_a_changed_request_conflicts(risk_store):
    first = _decide(risk_store)
    assert _decide(risk_store) == first
    assert _count(risk_store, bureau_pulls) == 1  # the retry pulled nothing
    with pytest.raises(IdempotencyConflictError):
        _decide(risk_store, application={**GOOD_APPLICATION, "monthly_income_minor": 1})


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"application": {**GOOD_APPLICATION, "employment_type": "pirate"}},
     "application.employment_type"),
    ({"product_code": "mortgage"}, "product_code"),
    ({"application_id": ""}, "application_id"),
    ({"blacklisted": "no"}, "blacklisted"),
])
def test_bad_input_is_named_and_changes_nothing(risk_store, kwargs, field):
    with pytest.raises(ValidationError) as error:
        _decide(risk_store, **kwargs)
    assert error.value.field == field
    assert _count(risk_store, credit_decisions) == 0
    assert _count(risk_store, bureau_pulls) == 0


def test_bureau_pull_without_consent_is_refused_and_writes_nothing(risk_store):
    with pytest.raises(ConsentRequiredError):
        with risk_store.begin() as tx:
            pull_report(tx, SimulatedBureau(1), customer_id="c1", purpose="credit_application")
    with pytest.raises(ConsentRequiredError):  # the decision service's default checker
        with risk_store.begin() as tx:
            service.decide(tx, application_id="a", customer_id="c1",
                           product_code="credit_line", application=GOOD_APPLICATION,
                           bureau=SimulatedBureau(1))
    assert _count(risk_store, bureau_pulls) == 0
    assert _count(risk_store, credit_decisions) == 0


def test_pull_with_consent_is_recorded_and_deterministic(risk_store):
    with risk_store.begin() as tx:
        reference = grant(tx, "c9", "bureau_inquiry")
        pull = pull_report(tx, SimulatedBureau(5), customer_id="c9",
                           purpose="credit_application", consent_reference=reference)
    with risk_store.connect() as conn:
        row = conn.execute(select(bureau_pulls)).one()
    assert row.consent_reference == reference and row.report == pull.report.to_json()
    assert SimulatedBureau(5).fetch("c9", None) == pull.report


def test_without_platform_consent_the_applicant_is_decided_on_the_rest(risk_store):
    with risk_store.begin() as tx:
        decision = service.decide(
            tx, application_id="app-np", customer_id="c1", product_code="credit_line",
            application=GOOD_APPLICATION, bureau=bureau_for("c1"),
            platform_events=good_events("c1", tx.now), bureau_consent_reference=CONSENT,
            consent_checker=allow_all)  # no platform consent reference
    assert decision.features["payments_count_90d"] is None
    with risk_store.connect() as conn:
        assert service.replay_decision(conn, decision.decision_id).matches
        stored = conn.execute(select(credit_decisions.c.inputs)).scalar_one()
    assert stored["platform_consented"] is False and stored["platform_events_sha256"] is None
    assert _count(risk_store, credit_decision_histories) == 0  # nothing of it was kept


def test_champion_challenger_split_is_deterministic_and_rollback_restores(risk_store):
    with risk_store.begin() as tx:
        registry.promote(tx, "application", 2, actor="risk-officer", reason="test v2",
                         as_challenger_bps=2000)
    roles = {}
    for i in range(40):
        decision = _decide(risk_store, f"app-{i}", f"c{i}")
        expected = registry.route(f"app-{i}", "application", 2000)
        assert (decision.model_role == "challenger") == expected
        assert decision.model_version == (2 if expected else 1)
        roles[decision.model_role] = roles.get(decision.model_role, 0) + 1
    assert roles.get("challenger", 0) > 0 and roles.get("champion", 0) > 0
    share = sum(registry.route(f"x{i}", "application", 2000) for i in range(20_000)) / 20_000
    assert share == pytest.approx(0.2, abs=0.01)
    with risk_store.connect() as conn:
        for decision_id in conn.execute(select(credit_decisions.c.id)).scalars():
            assert service.replay_decision(conn, decision_id).matches
    with risk_store.begin() as tx:
        registry.promote(tx, "application", 2, actor="risk-officer", reason="v2 wins")
        assert registry.current_assignment(tx.conn, "application").champion_version == 2
        restored = registry.rollback(tx, "application", actor="risk-officer", reason="bad")
    assert (restored.champion_version, restored.challenger_version) == (1, 2)
    assert _decide(risk_store, "app-after", "c-after").model_version in (1, 2)
    with risk_store.begin() as tx:
        registry.rollback(tx, "application", actor="risk-officer", reason="again")
        current = registry.current_assignment(tx.conn, "application")
    assert (current.champion_version, current.challenger_version) == (2, None)


def test_registry_refuses_bad_assignments(risk_store, model_dirs):
    with risk_store.begin() as tx:
        again = registry.register_model(tx, model_dirs["application"], name="application",
                                        registered_by="tests")
        assert again.version == 1  # same artifact: same version
        with pytest.raises(ValidationError):
            registry.assign(tx, "application", champion_version=1, challenger_version=1,
                            challenger_share_bps=10, actor="a", reason="r")
        with pytest.raises(ValidationError):
            registry.promote(tx, "application", 2, actor="a", reason="r",
                             as_challenger_bps=9000)
        with pytest.raises(StateError):
            registry.rollback(tx, "behaviour", actor="a", reason="nothing before")
    versions = [m.version for m in _list(risk_store)]
    assert versions == [1, 2]


def _list(uow):
    with uow.connect() as conn:
        return registry.list_models(conn, "application")


def test_policy_hot_swap_takes_effect_and_is_recorded(risk_store):
    before = _decide(risk_store, "app-1", "c1")
    document = load_policy_file(bundled_policy_path("application")).document
    tighter = {**document, "version": "2025.2",
               "parameters": {**document["parameters"], "exposure_cap_minor": 1_000_000}}
    with risk_store.begin() as tx:
        new = activate_policy(tx, tighter, actor="risk-officer")
    after = _decide(risk_store, "app-2", "c2")
    assert after.policy_version == "2025.2" and after.policy_hash == new.content_hash
    assert after.limit_minor <= 1_000_000 < before.limit_minor
    with risk_store.begin() as tx:
        with pytest.raises(ValidationError) as error:  # same version, other content
            activate_policy(tx, {**tighter, "description": "edited"}, actor="x")
    assert error.value.field == "version"
    with risk_store.connect() as conn:  # the old decision still replays on the old policy
        assert service.replay_decision(conn, before.decision_id).matches
    assert load_policy_document(tighter).content_hash == new.content_hash
