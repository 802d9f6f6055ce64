"""Credit decision service: decide an application in one transaction, and replay it.

:func:`decide` validates everything first (bad input changes nothing), checks consent
(by default against the compliance domain's consent records: the bureau inquiry consent before
the pull, the credit assessment consent before the platform's payment history is used; a
reference that does not name a grant in force is refused naming its field, before anything
is written), pulls and records the bureau report, computes the point-in-time features, scores with the
model the registry routes this application to, runs the active policy, and stores the whole
decision (inputs, feature values, model and policy versions, score, reasons, outcome) with an
outbox event and an audit record (outcome, grade, model and policy versions; no personal
data), all in the caller's transaction. Business time is ``tx.now``.

:func:`replay_decision` recomputes a stored decision from what was stored (inputs, the
recorded bureau report, the model version and policy hash) with the same pure core and
reports every difference.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, select

from creditpay.db.idempotency import replay_or_new
from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx
from creditpay.errors import (
    DomainError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.platform import audit, metrics
from creditpay.risk.bureau import (
    BureauAdapter,
    ConsentChecker,
    get_pull,
    pull_report,
    require_recorded_consent,
)
from creditpay.risk.decisions import engine, registry
from creditpay.risk.decisions.erasure import ERASED_KEY, is_erased
from creditpay.risk.decisions.policy import active_policy, canonical_json, policy_by_hash
from creditpay.risk.decisions.tables import (
    credit_decision_histories,
    credit_decisions,
    credit_policy_activations,
    risk_model_assignments,
    risk_models,
)
from creditpay.risk.features.compute import (
    PlatformEvent,
    application_from_store,
    application_to_store,
    compute_features,
    events_before,
    history_document,
    history_from_document,
    normalise_events,
    validate_application,
)

__all__ = ["Decision", "ReplayResult", "decide", "get_decision", "replay_decision",
           "declared_income", "stored_history", "application_customers"]

MODEL_NAME = "application"
PLATFORM_DATA_PURPOSE = "platform_data"
_ID_MAX = {"application_id": 64, "customer_id": 64, "product_code": 32}


@dataclass(frozen=True)
class Decision:
    """A stored credit decision. ``apr`` is a Decimal annual rate (None when declined)."""

    decision_id: str
    application_id: str
    customer_id: str
    product_code: str
    decided_at: dt.datetime
    outcome: str
    grade: str
    score: float
    pd: float
    limit_minor: int | None
    apr_bps: int | None
    currency: str
    reasons: list[dict[str, Any]]
    features: dict[str, Any]
    model_name: str
    model_version: int
    model_role: str
    policy_id: str
    policy_version: str
    policy_hash: str

    @property
    def apr(self) -> Decimal | None:
        return engine.apr_from_bps(self.apr_bps)

    def to_json(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "application_id": self.application_id,
                "customer_id": self.customer_id, "product_code": self.product_code,
                "decided_at": self.decided_at.isoformat(), "outcome": self.outcome,
                "grade": self.grade, "score": self.score, "pd": self.pd,
                "limit_minor": self.limit_minor, "apr_bps": self.apr_bps,
                "apr": None if self.apr is None else str(self.apr), "currency": self.currency,
                "reasons": self.reasons, "features": self.features,
                "model": {"name": self.model_name, "version": self.model_version,
                          "role": self.model_role},
                "policy": {"id": self.policy_id, "version": self.policy_version,
                           "hash": self.policy_hash}}


def _check_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _ID_MAX[name]:
        raise ValidationError(f"must be 1-{_ID_MAX[name]} characters", field=name)
    return value


def _check_consent(tx: Tx, checker: ConsentChecker, customer_id: str, purpose: str,
                   reference: str | None, field: str) -> None:
    """Run the checker; a refusal names the decide() argument at fault."""
    try:
        checker(tx, customer_id, purpose, reference)
    except DomainError as refused:
        if refused.field in (None, "consent_reference"):
            refused.field = field
        raise


def _platform_consented(tx: Tx, checker: ConsentChecker, customer_id: str,
                        reference: str | None) -> bool:
    # Without consent to use payment history the applicant is still decided, on application
    # and bureau data only (the right to choose what to share); the record says which. A
    # reference that is given but names no consent in force is refused, not ignored.
    if reference is None:
        return False
    _check_consent(tx, checker, customer_id, PLATFORM_DATA_PURPOSE, reference,
                   "platform_consent_reference")
    return True


def _no_second_check(tx: Tx, customer_id: str, purpose: str, reference: str | None) -> None:
    """decide() checked the bureau consent already, in this transaction."""


def decide(
    tx: Tx,
    *,
    application_id: str,
    customer_id: str,
    product_code: str,
    application: Mapping[str, Any],
    bureau: BureauAdapter,
    platform_events: Any = (),
    blacklisted: bool = False,
    bureau_consent_reference: str | None = None,
    platform_consent_reference: str | None = None,
    consent_checker: ConsentChecker = require_recorded_consent,
    model_name: str = MODEL_NAME,
) -> Decision:
    """Decide one credit application and store the decision (see the module docstring).

    ``platform_events`` is the customer's event table (customer_id, occurred_at, kind,
    amount_minor, merchant_category); only events before ``tx.now`` are used. A retry with
    the same ``application_id`` and the same request returns the stored decision; a
    different request under that id is an :class:`IdempotencyConflictError`.

    ``bureau_consent_reference`` (required) and ``platform_consent_reference`` (optional:
    without it the platform's payment history is not used) are consent references
    ``consent:<record id>``; the default ``consent_checker`` verifies them against the
    consent records and refuses with ConsentRequiredError naming the argument.
    """
    _check_id("application_id", application_id)
    _check_id("customer_id", customer_id)
    _check_id("product_code", product_code)
    validated = validate_application(application)
    if not isinstance(blacklisted, bool):
        raise ValidationError("blacklisted must be true or false", field="blacklisted")
    history = events_before(normalise_events(platform_events, customer_id=customer_id), tx.now)
    # The history is serialised once: its text is what is stored and its SHA-256 is what the
    # request and the inputs name.
    history_text = history_document(customer_id, history)
    events_sha256 = hashlib.sha256(history_text.encode()).hexdigest()
    # The request as stored and hashed holds the applicant's age, not their date of birth: a
    # retry is the same request on the same day of age (a retry that crosses the birthday
    # is refused as a different request, clearly, and decides nothing twice).
    request = {"customer_id": customer_id, "product_code": product_code,
               "application": application_to_store(validated, tx.now),
               "blacklisted": blacklisted,
               "events_sha256": events_sha256,
               "bureau_consent_reference": bureau_consent_reference,
               "platform_consent_reference": platform_consent_reference}
    request_sha256 = hashlib.sha256(canonical_json(request).encode()).hexdigest()
    header = tx.conn.execute(_header_statement(), {"application_id": application_id,
                                                   "model_name": model_name}).first()
    if header is None or header.stored_id is not None or header.policy_hash is None:
        # Rare paths (a retry, nothing in force yet): the plain reads, with their errors.
        stored = tx.conn.execute(select(credit_decisions).where(
            credit_decisions.c.application_id == application_id)).first()
        if stored is not None and replay_or_new(
                stored.request_sha256, request_sha256, field="application_id",
                conflict="application already decided with a different request"):
            return _decision(stored)
        policy = active_policy(tx.conn, "application")
        policy.product(product_code)  # unknown product: refused before any pull
        version, role, loaded = registry.select_model(tx.conn, model_name, application_id)
    else:
        # One statement read what is in force; the policy and model behind those content
        # hashes come from memory once verified (content-addressed, so never stale: a new
        # activation or assignment is a new row, read here by the next decision).
        policy = policy_by_hash(tx.conn, header.policy_hash)
        policy.product(product_code)
        if header.challenger_version is not None and registry.route(
                application_id, model_name, header.challenger_share_bps):
            version, role, artifact = (header.challenger_version, "challenger",
                                       header.challenger_artifact)
        else:
            version, role, artifact = (header.champion_version, "champion",
                                       header.champion_artifact)
        version = int(version)
        loaded = registry.model_by_artifact(tx.conn, model_name, version, artifact)
    # Both consents are checked before the pull: a refusal writes nothing.
    _check_consent(tx, consent_checker, customer_id, "credit_application",
                   bureau_consent_reference, "bureau_consent_reference")
    consented = _platform_consented(tx, consent_checker, customer_id,
                                    platform_consent_reference)
    pull = pull_report(tx, bureau, customer_id=customer_id, purpose="credit_application",
                       consent_reference=bureau_consent_reference,
                       consent_checker=_no_second_check)
    report = pull.report.to_json()
    features = compute_features(as_of=tx.now, application=validated, events=history,
                                bureau=report, platform_consented=consented, validated=True)
    scored = engine.model_output(loaded, features)
    core = engine.decide_application(policy, product_code=product_code, features=features,
                                     scored=scored, blacklisted=blacklisted)
    inputs = {**request, "as_of": tx.now.isoformat(), "platform_consented": consented,
              # The history used, by content (None: the platform's data was not used).
              "platform_events_sha256": events_sha256 if consented else None,
              "bureau_report": report}
    if consented:
        tx.conn.execute(_history_insert(tx.conn.dialect.name), {
            "sha256": events_sha256, "customer_id": customer_id,
            "event_count": len(history), "document": history_text, "stored_at": tx.now})
    decision_id = uuid.uuid4().hex
    values = dict(
        id=decision_id, application_id=application_id, customer_id=customer_id,
        product_code=product_code, decided_at=tx.now, outcome=core.outcome, grade=core.grade,
        score=scored["score"], pd=scored["pd"], limit_minor=core.limit_minor,
        apr_bps=core.apr_bps, currency=policy.currency, model_name=model_name,
        model_version=version, model_role=role, policy_id=policy.policy_id,
        policy_version=policy.version, policy_hash=policy.content_hash,
        bureau_pull_id=pull.pull_id, request_sha256=request_sha256, inputs=inputs,
        features=features, model_output=scored, policy_output=core.policy_output,
        reasons=core.reasons)
    # Parameters, not .values(): one cached compiled statement for every decision.
    tx.conn.execute(credit_decisions.insert(), values)
    outcome = str(core.outcome)
    tx.after_commit(lambda: metrics.record_decision(outcome))
    tx.emit("risk.decision.made", "credit_application", application_id,
            {"decision_id": decision_id, "customer_id": customer_id, "outcome": core.outcome,
             "product_code": product_code, "limit_minor": core.limit_minor,
             "apr_bps": core.apr_bps, "grade": core.grade})
    # The audit trail holds what decided and how, never who: the decision id leads to the
    # stored inputs for those allowed to read them.
    audit.append(tx, "system", "risk.decisions", "credit.decision", "credit_application",
                 application_id,
                 {"decision_id": decision_id, "product_code": product_code,
                  "outcome": core.outcome, "grade": core.grade,
                  "limit_minor": core.limit_minor, "apr_bps": core.apr_bps,
                  "reason_codes": [r.get("code") for r in core.reasons
                                   if isinstance(r, Mapping)],
                  "model": {"name": model_name, "version": int(version), "role": role},
                  "policy": {"id": policy.policy_id, "version": policy.version,
                             "hash": policy.content_hash},
                  "platform_consented": consented, "bureau_pull_id": int(pull.pull_id)})
    return _decision(SimpleNamespace(**values))


# Pure memo (kept): a statement built from table metadata, no configuration in it.
@functools.cache
def _header_statement() -> Any:
    """What one decision reads before deciding, in one statement: whether the application
    was decided already, the hash of the application policy in force, and the model
    assignment in force with the artifact hashes of its champion and challenger (no row when
    no model is assigned). Built once; its compiled form is cached by SQLAlchemy."""
    activations = credit_policy_activations.c
    assignment = risk_model_assignments.alias("assignment")
    champion = risk_models.alias("champion")
    challenger = risk_models.alias("challenger")
    stored = (select(credit_decisions.c.id)
              .where(credit_decisions.c.application_id == bindparam("application_id"))
              .scalar_subquery())
    policy_hash = (select(activations.content_hash)
                   .where(activations.policy_kind == "application")
                   .order_by(activations.id.desc()).limit(1).scalar_subquery())
    latest = (select(func.max(risk_model_assignments.c.id))
              .where(risk_model_assignments.c.name == bindparam("model_name"))
              .scalar_subquery())
    return (select(stored.label("stored_id"), policy_hash.label("policy_hash"),
                   assignment.c.champion_version, assignment.c.challenger_version,
                   assignment.c.challenger_share_bps,
                   champion.c.artifact_sha256.label("champion_artifact"),
                   challenger.c.artifact_sha256.label("challenger_artifact"))
            .select_from(assignment.join(
                champion, and_(champion.c.name == assignment.c.name,
                               champion.c.version == assignment.c.champion_version))
                .outerjoin(challenger, and_(
                    challenger.c.name == assignment.c.name,
                    challenger.c.version == assignment.c.challenger_version)))
            .where(assignment.c.id == latest))


# Pure memo (kept): one statement per dialect name.
@functools.cache
def _history_insert(dialect_name: str) -> Any:
    """Store a history unless that content is stored already: one statement, and safe
    against a concurrent decision storing the same history (no read-then-insert race)."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(credit_decision_histories).on_conflict_do_nothing(
            index_elements=["sha256"])
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(credit_decision_histories).on_conflict_do_nothing(
            index_elements=["sha256"])
    raise ValueError(f"unsupported database {dialect_name!r}")  # pragma: no cover


def stored_history(conn: Connection, sha256: str) -> list[PlatformEvent]:
    """The platform history a decision used, by the digest its inputs name; the stored
    text is checked against the digest (a changed row is refused, never used)."""
    document = conn.execute(select(credit_decision_histories.c.document).where(
        credit_decision_histories.c.sha256 == sha256)).scalar()
    if document is None:
        raise NotFoundError(f"platform history {sha256} not found",
                            field="platform_events_sha256")
    if hashlib.sha256(document.encode()).hexdigest() != sha256:
        raise StateError(f"stored platform history {sha256} does not match its digest",
                         field="platform_events_sha256", rule="history.digest_mismatch")
    return history_from_document(document)


def _decision(row: Any) -> Decision:
    return Decision(row.id, row.application_id, row.customer_id, row.product_code, row.decided_at,
                    row.outcome, row.grade, float(row.score), float(row.pd), row.limit_minor,
                    row.apr_bps, row.currency, list(row.reasons), dict(row.features),
                    row.model_name, int(row.model_version), row.model_role, row.policy_id,
                    row.policy_version, row.policy_hash)


def application_customers(conn: Connection, application_id: str) -> tuple[str, ...]:
    """The applicant of credit application ``application_id``, if it was decided."""
    customer = conn.execute(select(credit_decisions.c.customer_id).where(
        credit_decisions.c.application_id == application_id)).scalar_one_or_none()
    return (customer,) if customer else ()


def get_decision(conn: Connection, decision_id: str) -> Decision:
    row = conn.execute(select(credit_decisions).where(
        credit_decisions.c.id == decision_id)).first()
    if row is None:
        raise NotFoundError(f"decision {decision_id} not found", field="decision_id")
    return _decision(row)


@dataclass(frozen=True)
class ReplayResult:
    decision_id: str
    matches: bool
    differences: list[dict[str, Any]]
    replayed: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "matches": self.matches,
                "differences": self.differences, "replayed": self.replayed}


def replay_decision(conn: Connection, decision_id: str) -> ReplayResult:
    """Recompute a stored decision from its stored inputs, model version and policy hash.

    Features are recomputed from the stored application, platform events and the recorded
    bureau report at the stored as-of time; then scored and decided by the same core.
    ``matches`` is True when features, score, PD, outcome, grade, limit, price and reasons
    are all equal to what was stored.
    """
    row = conn.execute(select(credit_decisions).where(
        credit_decisions.c.id == decision_id)).first()
    if row is None:
        raise NotFoundError(f"decision {decision_id} not found", field="decision_id")
    inputs = row.inputs
    if is_erased(inputs):
        raise StateError(f"decision {decision_id} cannot be replayed: its inputs were erased"
                         f" with the customer's personal data on {inputs[ERASED_KEY][:10]}",
                         field="decision_id", rule="decision.erased")
    pull = get_pull(conn, row.bureau_pull_id)
    if inputs.get("platform_events_sha256") is not None:
        history = stored_history(conn, inputs["platform_events_sha256"])
    else:  # not consented, or decided before histories were stored by content
        history = normalise_events(inputs.get("platform_events", []),
                                   customer_id=row.customer_id)
    as_of = dt.datetime.fromisoformat(inputs["as_of"])
    features = compute_features(
        as_of=as_of, application=application_from_store(inputs["application"], as_of),
        events=history, bureau=pull.report.to_json(),
        platform_consented=inputs["platform_consented"])
    loaded = registry.load_registered(conn, row.model_name, row.model_version)
    scored = engine.model_output(loaded, features)
    policy = policy_by_hash(conn, row.policy_hash, verify=True)
    core = engine.decide_application(policy, product_code=row.product_code, features=features,
                                     scored=scored, blacklisted=inputs["blacklisted"])
    replayed = {"features": features, "score": scored["score"], "pd": scored["pd"],
                "outcome": core.outcome, "grade": core.grade, "limit_minor": core.limit_minor,
                "apr_bps": core.apr_bps, "reasons": core.reasons,
                "bureau_report": pull.report.to_json()}
    original = {"features": dict(row.features), "score": float(row.score),
                "pd": float(row.pd), "outcome": row.outcome, "grade": row.grade,
                "limit_minor": row.limit_minor, "apr_bps": row.apr_bps,
                "reasons": list(row.reasons), "bureau_report": inputs["bureau_report"]}
    differences = [{"field": key, "stored": original[key], "replayed": replayed[key]}
                   for key in original if _differs(original[key], replayed[key])]
    return ReplayResult(decision_id, not differences, differences, replayed)


def _differs(a: Any, b: Any) -> bool:
    # Compare as canonical JSON: a JSON round trip (e.g. PostgreSQL JSONB) must not count.
    return canonical_json(_plain(a)) != canonical_json(_plain(b))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSONB may return 3.0 as 3
    return value


# A constant statement (read on every credit checkout's affordability check): compiled once,
# its cache key remembered, instead of a statement built per call.
_LATEST_INPUTS = Prepared(select(
    credit_decisions.c.inputs, credit_decisions.c.bureau_pull_id).where(
    credit_decisions.c.customer_id == bindparam("customer_id"),
    credit_decisions.c.currency == bindparam("currency")).order_by(
    credit_decisions.c.decided_at.desc(), credit_decisions.c.id.desc()).limit(1))


def declared_income(conn: Connection, customer_id: str, currency: str
                    ) -> tuple[int, int] | None:
    """(monthly income, monthly repayments to other lenders), in minor units, as of the
    customer's latest decision in ``currency``: the income the applicant declared and the
    bureau's figure. None when the customer was never decided in that currency (or the
    inputs were erased). Payments'
    affordability rules read it (debt-to-income) through this public function."""
    row = _LATEST_INPUTS.first(conn, {"customer_id": customer_id, "currency": currency})
    if row is None or is_erased(row.inputs):
        return None
    income = int((row.inputs.get("application") or {}).get("monthly_income_minor") or 0)
    debts = 0
    if row.bureau_pull_id is not None:
        debts = int(get_pull(conn, row.bureau_pull_id).report.monthly_repayment_minor)
    return income, debts
