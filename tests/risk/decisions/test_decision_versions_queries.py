"""risk.decisions reads for the console's versions pages (issue #16), on both stores: the
stored credit policies with their activations and which is in force, a policy's document by
hash, the model assignments newest first, and what decided one decision (policy, model,
reasons as stored)."""

from __future__ import annotations

import pytest

from creditpay.errors import ValidationError
from creditpay.risk.decisions import registry
from creditpay.risk.decisions.policy import (
    activate_policy,
    bundled_policy_path,
    load_policy_file,
)
from creditpay.risk.decisions.queries import (
    decision_detail,
    model_assignments,
    policy_document,
    policy_versions,
)

from .test_decision_subject_queries import _decide


def test_policy_versions_activations_and_the_one_in_force(risk_store, clock):
    application = load_policy_file(bundled_policy_path("application"))
    with risk_store.connect() as conn:
        before = {p["content_hash"]: p for p in policy_versions(conn)}
    assert before[application.content_hash]["live"] is True
    assert len(before[application.content_hash]["activations"]) == 1
    # a second policy document of the same kind takes over; the first stays stored
    changed = dict(application.document)
    changed["version"] = "test-2"
    clock.advance(hours=1)
    with risk_store.begin() as tx:
        second = activate_policy(tx, changed, actor="analyst-2")
    with risk_store.connect() as conn:
        after = {p["content_hash"]: p for p in policy_versions(conn)}
        document = policy_document(conn, second.content_hash)
        assert policy_document(conn, "0" * 64) is None
        with pytest.raises(ValidationError) as err:
            policy_document(conn, "")
        assert err.value.field == "policy_hash"
    assert after[application.content_hash]["live"] is False
    assert after[second.content_hash]["live"] is True
    assert after[second.content_hash]["activations"] == [
        {"activated_at": clock.now(), "actor": "analyst-2"}]
    assert after[second.content_hash]["version"] == "test-2"
    assert document is not None and document["version"] == "test-2"
    # rolling back (re-activating the first) makes it the one in force again
    clock.advance(hours=1)
    with risk_store.begin() as tx:
        activate_policy(tx, application, actor="analyst-3")
    with risk_store.connect() as conn:
        again = {p["content_hash"]: p for p in policy_versions(conn)}
    assert again[application.content_hash]["live"] is True
    assert [a["actor"] for a in again[application.content_hash]["activations"]] == [
        "tests", "analyst-3"]
    assert again[second.content_hash]["live"] is False


def test_model_assignments_newest_first(risk_store, clock):
    clock.advance(hours=1)
    with risk_store.begin() as tx:
        registry.promote(tx, "application", 2, actor="analyst-2", reason="better AUC")
    with risk_store.connect() as conn:
        found = model_assignments(conn)
    application = [a for a in found if a["name"] == "application"]
    assert [a["champion_version"] for a in application] == [2, 1]
    assert application[0]["actor"] == "analyst-2" and application[0]["reason"] == "better AUC"
    assert application[0]["assigned_at"] == clock.now()
    assert {a["name"] for a in found} == {"application", "behaviour"}


def test_decision_detail_names_what_decided(risk_store):
    decided = _decide(risk_store, "app-v1", "c1")
    application = load_policy_file(bundled_policy_path("application"))
    with risk_store.connect() as conn:
        detail = decision_detail(conn, decided.decision_id)
        assert decision_detail(conn, "nope") is None
        with pytest.raises(ValidationError) as err:
            decision_detail(conn, "x" * 33)
        assert err.value.field == "decision_id"
    assert detail is not None
    assert detail["decision_id"] == decided.decision_id
    assert detail["outcome"] == decided.outcome
    assert (detail["model_name"], detail["model_version"], detail["model_role"]) == (
        "application", 1, "champion")
    assert (detail["policy_id"], detail["policy_version"], detail["policy_hash"]) == (
        application.policy_id, application.version, application.content_hash)
    assert isinstance(detail["reasons"], list)
    assert "features" not in detail and "inputs" not in detail
