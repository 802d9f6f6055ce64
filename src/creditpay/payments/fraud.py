"""Fraud screening wired into checkout: a :class:`RiskGateway` backed by the risk domain's
:class:`creditpay.risk.fraud.screening.Screener` (issue #6).

* A trained model is loaded when one is configured (``model_dir``, a directory written by
  ``FraudModel.save``); without one, decisions come from the rules document alone (the
  score is 0 and only rules and block lists can challenge, hold or decline).
* Every screening is stored in the risk domain's ``fraud_screenings`` journal, in the
  screened transaction (:func:`creditpay.risk.fraud.records.record_screening`).
* The streaming feature state lives in the database, one compact row per entity
  (``fraud_entity_state``, :mod:`creditpay.risk.fraud.state_store`), so every API worker
  (``creditpay serve --workers N``) sees the same features. Screening reads the rows of the
  payment's entities (the customer's, device's and card's locked on PostgreSQL; the
  merchant's and terminal's, shared by many customers, written as the transaction's last
  step), computes the features purely and writes the rows back in the payment's
  transaction: they commit with the payment and its screening
  record or not at all, so a rolled-back confirm leaves no trace and a crash loses no
  acknowledged screening, with nothing to replay on start.
* Rules: the live version of ``fraud_rule_sets`` (:mod:`creditpay.risk.fraud.rule_sets`),
  when one was activated, replaces the configured document; the gateway polls the
  activation marker at most every ``rules_check_every_s`` seconds, and an activation in
  this process swaps at once (:meth:`ScreeningRiskGateway.use_rules`).
* Outcomes map to checkout: ``challenge`` -> step-up, ``review`` -> held for an analyst,
  ``decline`` -> refused. Every screening's record (decision, score, rules hit, reasons,
  versions, a features summary) rides on :attr:`Decision.details`; payments stores it on
  the intent (``risk_reasons.screening``) and in the audit trail (``payment.screened``).

Screening is on by default (issue #19; ``CREDITPAY_FRAUD_SCREENING=false`` or
``ApiConfig(fraud_screening=False)`` turns it off, logged at WARNING), configured from
``CREDITPAY_FRAUD_MODEL_DIR`` and ``CREDITPAY_FRAUD_RULES`` (JSON/YAML rules document):
``creditpay.config.Settings`` reads them and
``creditpay.bootstrap`` builds the :class:`FraudScreeningConfig`.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection

from creditpay.db.uow import Tx
from creditpay.errors import ValidationError
from creditpay.payments.risk import Decision, Outcome, PaymentEvent
from creditpay.platform import metrics
from creditpay.risk.fraud import records, rule_sets, state_store
from creditpay.risk.fraud.entity_state import EntityStateEngine
from creditpay.risk.fraud.features import FeatureConfig, FraudLabel
from creditpay.risk.fraud.features import PaymentEvent as FraudEvent
from creditpay.risk.fraud.features import feature_names as config_feature_names
from creditpay.risk.fraud.model import DEFAULT_POLICY, DecisionPolicy, FraudModel
from creditpay.risk.fraud.rules import EMPTY_RULES, RuleSet, load_rules
from creditpay.risk.fraud.screening import Screener, ScreeningResult, validate_event

__all__ = ["FraudScreeningConfig", "RulesOnlyModel", "ScreeningRiskGateway"]

# The screener needs a device id. A payment without one (a server-to-server call, a client
# that sends none) is on "this customer's unknown device": never one device shared by every
# such payment, whose counts would trip the shared-device rule for all of them and whose
# state row every checkout would queue on.
NO_DEVICE = "no-device"
RULES_CHECK_EVERY_S = 2.0  # how stale the rules may be in a process that did not activate
_log = logging.getLogger(__name__)
# The features kept with each screening (when present): enough to explain a decision
# without storing the whole vector; features named by the active rules are added.
SUMMARY_FEATURES = (
    "amount_minor", "customer_count_1h", "customer_count_24h", "customer_amount_minor_sum_24h",
    "device_count_1h", "device_count_24h", "card_count_1h", "merchant_count_1h",
    "customer_amount_zscore", "seconds_since_last_payment", "new_device", "new_location",
    "impossible_travel",
)
_OUTCOMES = {"approve": Outcome.APPROVE, "challenge": Outcome.CHALLENGE,
             "review": Outcome.REVIEW, "decline": Outcome.DECLINE}


class RulesOnlyModel:
    """Stands in for a trained model: score 0 for every payment, so only the rules and the
    block lists decide. Same feature engine as the default model configuration."""

    def __init__(self, feature_config: FeatureConfig | None = None,
                 policy: DecisionPolicy | None = None) -> None:
        self.feature_config = feature_config or FeatureConfig()
        self.policy = policy or DEFAULT_POLICY
        self._names = config_feature_names(self.feature_config)

    @property
    def version(self) -> str:
        return "rules-only"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def probability(self, x: np.ndarray) -> float:
        return 0.0

    def top_reasons(self, x: np.ndarray, k: int = 3) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class FraudScreeningConfig:
    """Where the model and the rules live (all optional)."""

    model_dir: Path | None = None
    rules_path: Path | None = None
    rules: Mapping[str, Any] | None = None  # a rules document given inline (tests, tools)


class ScreeningRiskGateway:
    """:class:`RiskGateway` that screens each payment against the shared state rows.

    ``screener`` holds the model, the rules and the decision policy (its own in-process
    feature state is not used); ``state`` computes the features from the rows of the
    payment's entities, read and written in the payment's transaction
    (:func:`creditpay.risk.fraud.state_store.fold_event`).
    """

    def __init__(self, screener: Screener, *,
                 recorder: Callable[[FraudEvent, ScreeningResult], None] | None = None,
                 rules_check_every_s: float = RULES_CHECK_EVERY_S) -> None:
        if rules_check_every_s < 0:
            raise ValueError("rules_check_every_s must be non-negative")
        self.screener = screener
        self.state = EntityStateEngine(screener.model.feature_config)
        # Sees every screening with its whole feature vector (copy what you keep), e.g. to
        # build the next training set once labels arrive.
        self.recorder = recorder
        self.rules_check_every_s = rules_check_every_s
        self._lock = threading.Lock()  # the rules refresh and swaps
        self._rules_marker: int | None = None
        self._rules_checked_at = -math.inf

    @classmethod
    def from_config(cls, config: FraudScreeningConfig) -> ScreeningRiskGateway:
        model: Any = (FraudModel.load(config.model_dir) if config.model_dir is not None
                      else RulesOnlyModel())
        names = model.feature_names
        if config.rules is not None:
            rules = RuleSet.from_dict(config.rules, names)
        elif config.rules_path is not None:
            rules = load_rules(config.rules_path, names)
        else:
            rules = RuleSet.from_dict(EMPTY_RULES, names)
        return cls(Screener(model, rules))

    # ------------------------------------------------------------------ RiskGateway
    def screen_payment(self, tx: Tx, event: PaymentEvent) -> Decision:
        started = time.perf_counter()
        decision = self._screen_payment(tx, event)
        metrics.observe_screening(time.perf_counter() - started, str(decision.outcome))
        return decision

    def _screen_payment(self, tx: Tx, event: PaymentEvent) -> Decision:
        fraud_event = _fraud_event(event, tx)
        subject_type = "p2p" if event.scenario == "p2p" else "payment"
        screener = self.screener
        validate_event(fraud_event, screener.model.feature_config.coordinates)
        with self._lock:
            self._refresh_rules_locked(tx.conn)
        x = state_store.fold_event(tx, self.state, fraud_event)
        result = screener.decide(fraud_event, x)
        screening_id = records.record_screening(
            tx, subject_type=subject_type, subject_id=event.intent_id, event=fraud_event,
            result=result)
        if self.recorder is not None:
            self.recorder(fraud_event, result)
        return _decision(result, screener.rulebook.current.fields_used, screening_id)

    def record_label(self, tx: Tx, label: FraudLabel) -> bool:
        """Make a confirmed fraud usable by the risk features (merchant / terminal rows),
        in ``tx``; returns whether a row changed."""
        return state_store.fold_label(tx, self.state, label)

    def state_rows(self, conn: Connection, event: FraudEvent) -> dict[tuple[str, str], bytes]:
        """The committed state rows of ``event``'s entities (for tools and tests)."""
        return state_store.read_rows(conn, self.state.config.version,
                                     self.state.event_keys(event))

    # ------------------------------------------------------------------ rules
    def _refresh_rules_locked(self, conn: Connection) -> None:
        now = time.monotonic()
        if now - self._rules_checked_at < self.rules_check_every_s:
            return
        self._rules_checked_at = now
        marker = rule_sets.active_marker(conn)
        if marker is None or marker == self._rules_marker:
            return
        live = rule_sets.active(conn)
        self._rules_marker = marker
        if live is None:
            return
        try:
            ruleset = rule_sets.ruleset_of(live["content"], self.screener.model.feature_names)
        except ValidationError as exc:
            _log.error("fraud rule set %s does not fit the model's features (%s: %s); "
                       "keeping %s", live["version"], exc.field, exc,
                       self.screener.rulebook.current.version)
            return
        self.screener.swap_rules(ruleset)

    def use_rules(self, ruleset: RuleSet, marker: int | None = None) -> None:
        """Put a rule set in force now (an activation committed by this process)."""
        with self._lock:
            self.screener.swap_rules(ruleset)
            if marker is not None:
                self._rules_marker = marker

    def check_rules_now(self) -> None:
        """Look for a new active rule set at the next screening, not in a few seconds."""
        self._rules_checked_at = -math.inf

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.screener.model.feature_names)

    def swap_model(self, model: Any) -> Any:
        """Put a retrained model in force (it must use the same feature configuration:
        the state rows carry over)."""
        with self._lock:
            return self.screener.swap_model(model)

    def close(self) -> None:
        """Nothing to persist: the state is in the database."""


def _fraud_event(event: PaymentEvent, tx: Tx) -> FraudEvent:
    occurred = event.occurred_at if event.occurred_at is not None else tx.now
    card_id = event.extra.get("card_id") if event.extra else None
    return FraudEvent(
        customer_id=event.customer_id,
        device_id=event.device_id or f"{NO_DEVICE}:{event.customer_id}",
        merchant_id=event.merchant_id, amount_minor=event.amount_minor,
        timestamp_s=int(occurred.timestamp()),  # type: ignore[attr-defined]
        currency=event.currency, scenario=event.scenario,
        card_id=card_id if isinstance(card_id, str) else None,
        transaction_id=event.intent_id)


# Pure memo (kept): a function of the model's feature names and the rules' fields only.
@functools.lru_cache(maxsize=32)
def _summary_positions(names: tuple[str, ...], rule_fields: frozenset[str]
                       ) -> tuple[tuple[str, int], ...]:
    """(name, position in the feature vector) of the features kept with a screening, in the
    order they are kept (the summary's, then the rules' fields sorted), each once; a name
    the model does not compute is left out."""
    position = {name: i for i, name in enumerate(names)}
    kept: dict[str, int] = {}
    for name in (*SUMMARY_FEATURES, *sorted(rule_fields)):
        if name in position and name not in kept:
            kept[name] = position[name]
    return tuple(kept.items())


def _decision(result: ScreeningResult, rule_fields: frozenset[str],
              screening_id: int | None = None) -> Decision:
    values = result.feature_vector.tolist()
    summary: dict[str, float] = {}
    for name, i in _summary_positions(tuple(result.feature_names), rule_fields):
        value = values[i]
        if math.isfinite(value):
            summary[name] = round(float(value), 6)
    details = {"decision": result.decision, "score": round(float(result.score), 6),
               "rules_hit": list(result.rules_hit), "reasons": list(result.reasons),
               "versions": dict(result.versions), "features": summary,
               "screening_id": screening_id}
    reasons = result.reasons or (f"fraud_screening:{result.decision}",)
    version = "/".join(f"{k}={v}" for k, v in sorted(result.versions.items()))
    return Decision(_OUTCOMES[result.decision], tuple(reasons), version, details)
