"""Real-time fraud screening: the interface the payments checkout calls.

:class:`Screener` turns one :class:`PaymentEvent` into a :class:`ScreeningResult`
(decision, score, rules hit, reasons, features, versions) and folds the event into the
streaming state, all in process and without I/O or clock reads: the event carries its own
timestamp. Confirmed outcomes come back through :meth:`Screener.record_label`. The state
is saved and restored with :meth:`Screener.state_bytes` / ``Screener(..., state=...)``;
the caller persists it (and must keep one writer per state).

A caller inside a database transaction splits the two steps: :meth:`Screener.evaluate`
decides without touching the state, and :meth:`Screener.apply` folds the event in once the
transaction has committed, so the state holds committed screenings only.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from creditpay.errors import ValidationError
from creditpay.money import validate_currency
from creditpay.risk.fraud.features import (
    FraudLabel,
    PaymentEvent,
    StateCheckpoint,
    StreamingFeatures,
)
from creditpay.risk.fraud.model import DECISIONS, SCENARIOS, DecisionPolicy, ScoringModel
from creditpay.risk.fraud.rules import EMPTY_RULES, RuleBook, RuleSet

__all__ = ["Screener", "ScreeningResult", "PaymentEvent", "FraudLabel", "validate_event"]

_SEVERITY = {decision: i for i, decision in enumerate(DECISIONS)}
# Largest amount screened, in minor units (10^12 = 10 billion yuan): anything above is a
# data error, not a payment.
AMOUNT_MINOR_MAX = 10**12
_ID_MAX_CHARS = 128


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    """Outcome of one screening. ``score`` is the model's fraud probability in [0, 1]."""

    decision: str
    score: float
    rules_hit: tuple[str, ...]
    reasons: tuple[str, ...]
    feature_vector: np.ndarray
    feature_names: tuple[str, ...]
    versions: Mapping[str, str]
    # The score thresholds applied: {"version", "challenge", "review", "decline"}.
    thresholds: Mapping[str, Any] | None = None

    @property
    def features(self) -> dict[str, float]:
        """Feature values by name (NaN = not applicable)."""
        return dict(zip(self.feature_names, self.feature_vector.tolist(), strict=True))


class _FeatureView(Mapping[str, float]):
    """Read-only name -> value view over the feature vector (no dict built per payment)."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: np.ndarray) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, name: str) -> float:
        return float(self._values[self._index[name]])

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def _check_id(value: Any, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value or len(value) > _ID_MAX_CHARS:
        raise ValidationError(f"{name} must be a non-empty string of at most {_ID_MAX_CHARS} "
                              "characters", field=name)


def validate_event(event: PaymentEvent, coordinates: str) -> None:
    """Reject malformed events before they touch the state."""
    if not isinstance(event, PaymentEvent):
        raise ValidationError("expected a PaymentEvent", field="event")
    _check_id(event.customer_id, "customer_id")
    _check_id(event.device_id, "device_id")
    _check_id(event.merchant_id, "merchant_id")
    _check_id(event.card_id, "card_id", optional=True)
    _check_id(event.terminal_id, "terminal_id", optional=True)
    amount = event.amount_minor
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise ValidationError("amount_minor must be an int (minor units)", field="amount_minor")
    if not 0 < amount <= AMOUNT_MINOR_MAX:
        raise ValidationError(f"amount_minor must be in (0, {AMOUNT_MINOR_MAX}]",
                              field="amount_minor")
    validate_currency(event.currency)
    if event.scenario not in SCENARIOS:
        raise ValidationError(f"scenario must be one of {SCENARIOS}", field="scenario")
    ts = event.timestamp_s
    if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
        raise ValidationError("timestamp_s must be a non-negative int (unix seconds)",
                              field="timestamp_s")
    names = ("lat", "lon") if coordinates == "geo" else ("grid_x", "grid_y")
    values = [getattr(event, n) for n in names]
    if (values[0] is None) != (values[1] is None):
        raise ValidationError(f"give both {names[0]} and {names[1]} or neither",
                              field=names[1] if values[1] is None else names[0])
    for name, value in zip(names, values, strict=True):
        if value is not None and (not isinstance(value, int | float)
                                  or not math.isfinite(value)):
            raise ValidationError(f"{name} must be a finite number", field=name)
    if coordinates == "geo" and values[0] is not None:
        if not -90.0 <= values[0] <= 90.0:
            raise ValidationError("lat must be within [-90, 90]", field="lat")
        if not -180.0 <= values[1] <= 180.0:
            raise ValidationError("lon must be within [-180, 180]", field="lon")


class Screener:
    """Features + rules + model + decision for one payment, and the state update.

    Not thread-safe: one screener owns one feature state (shard by customer for more).
    """

    def __init__(self, model: ScoringModel, rules: RuleSet | RuleBook | None = None,
                 policy: DecisionPolicy | None = None, state: bytes | None = None,
                 reasons_top_k: int = 3) -> None:
        self.model = model
        # An evaluated event kept in the state until the next call (see ``evaluate``).
        self._tentative: tuple[PaymentEvent, StateCheckpoint] | None = None
        if state is None:
            self._engine = StreamingFeatures(model.feature_config)
        else:
            self._engine = StreamingFeatures.from_bytes(state)
            if self._engine.config.version != model.feature_config.version:
                raise ValidationError("state was built with another feature configuration",
                                      field="state")
        if isinstance(rules, RuleBook):
            self.rulebook = rules
        else:
            self.rulebook = RuleBook(rules or RuleSet.from_dict(EMPTY_RULES,
                                                                model.feature_names))
        self.policy = policy or model.policy
        self.reasons_top_k = reasons_top_k
        self._index = {name: i for i, name in enumerate(model.feature_names)}
        self._coordinates = model.feature_config.coordinates
        self._refresh_versions()

    def _refresh_versions(self) -> None:
        self._versions = types.MappingProxyType({
            "model": self.model.version,
            "features": self.model.feature_config.version,
            "rules": self.rulebook.current.version,
            "thresholds": self.policy.version,
        })

    def swap_rules(self, ruleset: RuleSet) -> RuleSet:
        """Hot-swap the rules; returns the previous set."""
        previous = self.rulebook.swap(ruleset)
        self._refresh_versions()
        return previous

    def swap_model(self, model: ScoringModel) -> ScoringModel:
        """Hot-swap the model and its score thresholds (a retrained champion); returns the
        previous model. The streaming state carries over, so the new model must use the
        same feature configuration."""
        if model.feature_config.version != self.model.feature_config.version:
            raise ValidationError("the model uses another feature configuration than the "
                                  "state", field="model")
        previous, self.model = self.model, model
        self.policy = model.policy
        self._refresh_versions()
        return previous

    def swap_policy(self, policy: DecisionPolicy) -> DecisionPolicy:
        """Hot-swap the score thresholds; returns the previous policy."""
        previous, self.policy = self.policy, policy
        self._refresh_versions()
        return previous

    @property
    def engine(self) -> StreamingFeatures:
        """The feature state, holding folded (applied or screened) events only."""
        self._settle()
        return self._engine

    def _settle(self) -> None:
        """Take a tentatively folded event (``evaluate`` without ``apply``) back out."""
        if self._tentative is not None:
            undo = self._tentative[1]
            self._tentative = None
            undo.restore()

    def screen(self, event: PaymentEvent) -> ScreeningResult:
        """Screen one payment and fold it into the state (the attempt counts even if
        declined: repeated declined attempts are themselves a fraud signal)."""
        validate_event(event, self._coordinates)
        return self._decide(event, self.engine.update(event))

    def evaluate(self, event: PaymentEvent) -> ScreeningResult:
        """Screen one payment as :meth:`screen` does without folding it into the state;
        :meth:`apply` folds it (once its transaction committed).

        The features are those :meth:`apply` on this state folds. Cheap in the usual order
        (evaluate, then apply of the same event): the update stays in place, with the rows
        it overwrote kept aside, and ``apply`` only forgets them; any other call first
        puts those rows back, so the state never shows an event not applied.
        """
        validate_event(event, self._coordinates)
        self._settle()
        undo = self._engine.checkpoint(event)
        try:
            x = self._engine.update(event)
        except BaseException:
            undo.restore()
            raise
        self._tentative = (event, undo)
        return self._decide(event, x)

    def apply(self, event: PaymentEvent) -> None:
        """Fold an evaluated event into the state (after its transaction committed)."""
        tentative = self._tentative
        if tentative is not None and tentative[0] is event:
            self._tentative = None  # already in place: keep it
            return
        validate_event(event, self._coordinates)
        self.engine.update(event)

    def discard(self, event: PaymentEvent) -> None:
        """Forget an evaluated event that will never be applied (optional: any later call
        does it anyway)."""
        if self._tentative is not None and self._tentative[0] is event:
            self._settle()

    def decide(self, event: PaymentEvent, x: np.ndarray) -> ScreeningResult:
        """Rules, model and decision for ``event`` whose features ``x`` were computed
        elsewhere (the shared state rows: :mod:`creditpay.risk.fraud.state_store`)."""
        return self._decide(event, x)

    def _decide(self, event: PaymentEvent, x: np.ndarray) -> ScreeningResult:
        ruleset = self.rulebook.current  # read once: one screening sees one version
        versions = self._versions
        score = self.model.probability(x)
        decision = self.policy.decide(score, event.scenario, event.amount_minor)
        rules_hit: tuple[str, ...] = ()
        if ruleset.rules or ruleset.blocklists:
            entity_ids = {"customer": event.customer_id, "device": event.device_id,
                          "card": event.card_id, "merchant": event.merchant_id,
                          "terminal": event.terminal_id}
            event_fields = {"amount_minor": event.amount_minor, "currency": event.currency,
                            "scenario": event.scenario}
            rules_hit, action = ruleset.evaluate(entity_ids, event_fields,
                                                 _FeatureView(self._index, x))
            if action is not None and _SEVERITY[action] > _SEVERITY[decision]:
                decision = action
        reasons: tuple[str, ...] = tuple(f"rule:{name}" for name in rules_hit)
        if decision != "approve":
            reasons += tuple(f"model:{r}" for r in
                             self.model.top_reasons(x, self.reasons_top_k))
        row = self.policy.row_for(event.scenario, event.amount_minor)
        thresholds = {"version": self.policy.version, "challenge": row.challenge,
                      "review": row.review, "decline": row.decline}
        return ScreeningResult(decision=decision, score=score, rules_hit=rules_hit,
                               reasons=reasons, feature_vector=x,
                               feature_names=self.model.feature_names, versions=versions,
                               thresholds=thresholds)

    def record_label(self, label: FraudLabel) -> bool:
        """Record a confirmed fraud / legitimate outcome known at ``label_timestamp_s``."""
        if not isinstance(label, FraudLabel):
            raise ValidationError("expected a FraudLabel", field="label")
        _check_id(label.customer_id, "customer_id")
        return self.engine.record_label(label)

    def state_bytes(self) -> bytes:
        """The state of the folded events (never a tentative one), serialised."""
        return self.engine.to_bytes()
