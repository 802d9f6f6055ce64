"""Fraud screening wired into checkout: a :class:`RiskGateway` backed by the risk domain's
:class:`creditpay.risk.fraud.screening.Screener` (issue #6).

* A trained model is loaded when one is configured (``model_dir``, a directory written by
  ``FraudModel.save``); without one, decisions come from the rules document alone (the
  score is 0 and only rules and block lists can challenge, hold or decline).
* Every screening is stored in the risk domain's ``fraud_screenings`` journal, in the
  screened transaction (:func:`creditpay.risk.fraud.records.record_screening`).
* The streaming feature state lives in process (one screener, guarded by a lock: the
  Screener is not thread-safe). A screening decides on the state without changing it; the
  event is folded in by an after-commit hook of the transaction (``Tx.after_commit``), so
  the state holds exactly the committed screenings: a rolled-back confirm leaves no trace.
  Snapshots go to ``state_path`` (atomically, every ``snapshot_every`` folded screenings
  and on close) with the highest journal id they include; on start the state is the
  snapshot plus a replay of the journal rows after it (all rows without a snapshot), done
  by :meth:`ScreeningRiskGateway.recover` or lazily at the first screening. A crash loses
  no acknowledged screening.
* Rules: the live version of ``fraud_rule_sets`` (:mod:`creditpay.risk.fraud.rule_sets`),
  when one was activated, replaces the configured document; the gateway polls the
  activation marker at most every ``rules_check_every_s`` seconds, and an activation in
  this process swaps at once (:meth:`ScreeningRiskGateway.use_rules`).
* Outcomes map to checkout: ``challenge`` -> step-up, ``review`` -> held for an analyst,
  ``decline`` -> refused. Every screening's record (decision, score, rules hit, reasons,
  versions, a features summary) rides on :attr:`Decision.details`; payments stores it on
  the intent (``risk_reasons.screening``) and in the audit trail (``payment.screened``).

The default app keeps allow-all; ``CREDITPAY_FRAUD_SCREENING=on`` (or
``ApiConfig(fraud_screening=True)``) switches this gateway on, configured from
``CREDITPAY_FRAUD_MODEL_DIR``, ``CREDITPAY_FRAUD_RULES`` (JSON/YAML rules document) and
``CREDITPAY_FRAUD_STATE`` (state file): ``creditpay.config.Settings`` reads them and
``creditpay.bootstrap`` builds the :class:`FraudScreeningConfig`.
"""

from __future__ import annotations

import json
import logging
import math
import os
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
from creditpay.risk.fraud import records, rule_sets
from creditpay.risk.fraud.features import FeatureConfig
from creditpay.risk.fraud.features import PaymentEvent as FraudEvent
from creditpay.risk.fraud.features import feature_names as config_feature_names
from creditpay.risk.fraud.model import DEFAULT_POLICY, DecisionPolicy, FraudModel
from creditpay.risk.fraud.rules import EMPTY_RULES, RuleSet, load_rules
from creditpay.risk.fraud.screening import Screener, ScreeningResult

__all__ = ["FraudScreeningConfig", "RulesOnlyModel", "ScreeningRiskGateway"]

NO_DEVICE = "no-device"  # the screener needs a device id; payments without one share this
SNAPSHOT_EVERY_DEFAULT = 1000
RULES_CHECK_EVERY_S = 2.0  # how stale the rules may be in a process that did not activate
# A screening not committed within this time after it was stored is taken as rolled back
# when a snapshot sets its high-water mark (a transaction open longer than this whose
# screening commits after a snapshot is folded, but a replay after a crash would miss it).
PENDING_TTL_S = 600.0
SNAPSHOT_MAGIC = b"creditpay-fraud-state/2\n"
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
    """Where the model, the rules and the state live (all optional)."""

    model_dir: Path | None = None
    rules_path: Path | None = None
    rules: Mapping[str, Any] | None = None  # a rules document given inline (tests, tools)
    state_path: Path | None = None
    snapshot_every: int = SNAPSHOT_EVERY_DEFAULT


class ScreeningRiskGateway:
    """:class:`RiskGateway` that screens each payment with one in-process Screener.

    Journal bookkeeping (ids of ``fraud_screenings``): every id at or below ``_floor`` is
    folded into the state or will never be (rolled back); ``_above`` holds the folded ids
    above it; ``_pending`` the screenings stored but not yet committed (id -> monotonic s).
    A snapshot records (floor, above), so a replay folds exactly the rows it lacks.
    ``journal_floor`` / ``journal_above`` say what ``screener``'s state already holds: 0
    for an empty state (the whole journal is replayed at the first screening), None for a
    state of unknown position (nothing is replayed).
    """

    def __init__(self, screener: Screener, *, state_path: Path | None = None,
                 snapshot_every: int = SNAPSHOT_EVERY_DEFAULT,
                 recorder: Callable[[FraudEvent, ScreeningResult], None] | None = None,
                 rules_check_every_s: float = RULES_CHECK_EVERY_S,
                 journal_floor: int | None = 0, journal_above: frozenset[int] = frozenset()
                 ) -> None:
        if snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1")
        if rules_check_every_s < 0:
            raise ValueError("rules_check_every_s must be non-negative")
        self.screener = screener
        # Sees every screening with its whole feature vector (reused by the screener: copy
        # what you keep), e.g. to build the next training set once labels arrive.
        self.recorder = recorder
        self.state_path = state_path
        self.snapshot_every = snapshot_every
        self.rules_check_every_s = rules_check_every_s
        self._lock = threading.Lock()
        self._since_snapshot = 0
        # None: a state of unknown journal position (an old snapshot): nothing is replayed.
        self._floor = journal_floor
        self._above: set[int] = set(journal_above)
        self._pending: dict[int, float] = {}
        self._recovered = False
        self._replayed_to = 0  # journal ids up to this were folded by the replay
        self._rules_marker: int | None = None
        self._rules_checked_at = -math.inf
        self.replay_skipped = 0  # journal rows the state refused on replay (out of order)

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
        state: bytes | None = None
        floor: int | None = 0
        above = frozenset[int]()
        if config.state_path is not None and config.state_path.exists():
            state, floor, above = _read_snapshot(config.state_path.read_bytes())
        try:
            screener = Screener(model, rules, state=state)
        except ValidationError:
            # A snapshot of another feature configuration: rebuild from the whole journal.
            _log.warning("fraud state snapshot %s does not fit the model's features; "
                         "rebuilding from the screenings journal", config.state_path)
            screener, floor, above = Screener(model, rules), 0, frozenset()
        return cls(screener, state_path=config.state_path,
                   snapshot_every=config.snapshot_every, journal_floor=floor,
                   journal_above=above)

    # ------------------------------------------------------------------ RiskGateway
    def screen_payment(self, tx: Tx, event: PaymentEvent) -> Decision:
        started = time.perf_counter()
        decision = self._screen_payment(tx, event)
        metrics.observe_screening(time.perf_counter() - started, str(decision.outcome))
        return decision

    def _screen_payment(self, tx: Tx, event: PaymentEvent) -> Decision:
        fraud_event = _fraud_event(event, tx)
        subject_type = "p2p" if event.scenario == "p2p" else "payment"
        with self._lock:
            if not self._recovered:
                self._recover_locked(tx.conn)
            self._refresh_rules_locked(tx.conn)
            result = self.screener.evaluate(fraud_event)
            # Stored under the lock, so no snapshot is taken between the id's allocation
            # and its registration as pending.
            screening_id = records.record_screening(
                tx, subject_type=subject_type, subject_id=event.intent_id,
                event=fraud_event, result=result)
            self._pending[screening_id] = time.monotonic()
            if self.recorder is not None:
                self.recorder(fraud_event, result)
        tx.after_commit(lambda: self._fold(screening_id, fraud_event))
        return _decision(result, self.screener.rulebook.current.fields_used, screening_id)

    def _fold(self, screening_id: int, event: FraudEvent) -> None:
        """After commit: the screening is acknowledged, fold it into the state."""
        with self._lock:
            self._pending.pop(screening_id, None)
            if screening_id <= self._replayed_to:
                return  # already in the state (replayed)
            try:
                self.screener.apply(event)
            except ValidationError:
                # Out of time order for one of its entities (a concurrent transaction
                # folded a later event first): the state cannot take it.
                _log.warning("fraud screening %s not folded: out of time order",
                             screening_id)
            self._above.add(screening_id)
            self._since_snapshot += 1
            if len(self._above) > 4 * self.snapshot_every:
                self._compact_locked()
            if self.state_path is not None and self._since_snapshot >= self.snapshot_every:
                self._save_locked()

    # ------------------------------------------------------------------ journal
    def recover(self, conn: Connection) -> int:
        """Fold the journal rows the state lacks (those after the snapshot); returns how
        many were folded. Runs once (at the first screening otherwise)."""
        with self._lock:
            return self._recover_locked(conn)

    def _recover_locked(self, conn: Connection) -> int:
        if self._recovered:
            return 0
        self._recovered = True
        if self._floor is None:
            # A snapshot without a journal position: take it as current.
            self._floor, self._above = records.last_screening_id(conn), set()
            return 0
        folded = 0
        last = self._floor
        for screening_id, event in records.events_after(conn, self._floor,
                                                        skip=frozenset(self._above)):
            try:
                self.screener.apply(event)
                folded += 1
            except ValidationError:
                self.replay_skipped += 1
            last = screening_id
        self._floor = self._replayed_to = max([last, *self._above])
        self._above = set()
        self._since_snapshot += folded
        return folded

    def _compact_locked(self) -> None:
        """Raise the floor to just below the oldest live pending screening."""
        if self._floor is None:
            return  # unknown journal position (before recovery of an old snapshot)
        now = time.monotonic()
        for stale in [i for i, at in self._pending.items() if now - at > PENDING_TTL_S]:
            del self._pending[stale]
        floor = self._floor
        if self._pending:
            floor = max(floor, min(self._pending) - 1)
        elif self._above:
            floor = max(floor, max(self._above))
        self._floor = floor
        self._above = {i for i in self._above if i > floor}

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

    # ------------------------------------------------------------------ state
    def save_state(self) -> None:
        """Write the streaming state to ``state_path`` now (atomically)."""
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        self._since_snapshot = 0
        if self.state_path is None:
            return
        self._compact_locked()
        data = _snapshot_bytes(self.screener.state_bytes(), self._floor, self._above)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.state_path)

    def swap_model(self, model: Any) -> Any:
        """Put a retrained model in force (the streaming state carries over)."""
        with self._lock:
            return self.screener.swap_model(model)

    def close(self) -> None:
        self.save_state()


def _snapshot_bytes(state: bytes, floor: int | None, above: set[int]) -> bytes:
    """Snapshot file: magic line, one JSON line (journal position), the state bytes."""
    meta = json.dumps({"journal_floor": floor, "journal_above": sorted(above)},
                      separators=(",", ":")).encode()
    return SNAPSHOT_MAGIC + meta + b"\n" + state


def _read_snapshot(data: bytes) -> tuple[bytes, int | None, frozenset[int]]:
    """(state, journal floor, journal ids above it); an old snapshot (the bare state) has
    no journal position (floor None)."""
    if not data.startswith(SNAPSHOT_MAGIC):
        return data, None, frozenset()
    rest = data[len(SNAPSHOT_MAGIC):]
    line_end = rest.index(b"\n")
    meta = json.loads(rest[:line_end])
    floor = meta.get("journal_floor")
    return (rest[line_end + 1:], None if floor is None else int(floor),
            frozenset(int(i) for i in meta.get("journal_above", [])))


def _fraud_event(event: PaymentEvent, tx: Tx) -> FraudEvent:
    occurred = event.occurred_at if event.occurred_at is not None else tx.now
    card_id = event.extra.get("card_id") if event.extra else None
    return FraudEvent(
        customer_id=event.customer_id, device_id=event.device_id or NO_DEVICE,
        merchant_id=event.merchant_id, amount_minor=event.amount_minor,
        timestamp_s=int(occurred.timestamp()),  # type: ignore[attr-defined]
        currency=event.currency, scenario=event.scenario,
        card_id=card_id if isinstance(card_id, str) else None,
        transaction_id=event.intent_id)


def _decision(result: ScreeningResult, rule_fields: frozenset[str],
              screening_id: int | None = None) -> Decision:
    features = result.features
    summary: dict[str, float] = {}
    for name in (*SUMMARY_FEATURES, *sorted(rule_fields)):
        value = features.get(name)
        if value is not None and math.isfinite(value):
            summary[name] = round(float(value), 6)
    details = {"decision": result.decision, "score": round(float(result.score), 6),
               "rules_hit": list(result.rules_hit), "reasons": list(result.reasons),
               "versions": dict(result.versions), "features": summary,
               "screening_id": screening_id}
    reasons = result.reasons or (f"fraud_screening:{result.decision}",)
    version = "/".join(f"{k}={v}" for k, v in sorted(result.versions.items()))
    return Decision(_OUTCOMES[result.decision], tuple(reasons), version, details)
