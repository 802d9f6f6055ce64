"""Fraud screening wired into checkout: a :class:`RiskGateway` backed by the risk domain's
:class:`creditpay.risk.fraud.screening.Screener` (issue #6).

* A trained model is loaded when one is configured (``model_dir``, a directory written by
  ``FraudModel.save``); without one, decisions come from the rules document alone (the
  score is 0 and only rules and block lists can challenge, hold or decline).
* The streaming feature state lives in process (one screener, guarded by a lock: the
  Screener is not thread-safe) and is persisted with the Screener's own serialisation to
  ``state_path`` (written atomically every ``snapshot_every`` screenings and on close,
  restored on start). A crash loses at most the velocity counts since the last snapshot.
* Outcomes map to checkout: ``challenge`` -> step-up, ``review`` -> held for an analyst,
  ``decline`` -> refused. Every screening's record (decision, score, rules hit, reasons,
  versions, a features summary) rides on :attr:`Decision.details`; payments stores it on
  the intent (``risk_reasons.screening``) and in the audit trail (``payment.screened``).

The default app keeps allow-all; ``CREDITPAY_FRAUD_SCREENING=on`` (or
``ApiConfig(fraud_screening=True)``) switches this gateway on, configured from
``CREDITPAY_FRAUD_MODEL_DIR``, ``CREDITPAY_FRAUD_RULES`` (JSON/YAML rules document) and
``CREDITPAY_FRAUD_STATE`` (state file).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from creditpay.db.uow import Tx
from creditpay.payments.risk import Decision, Outcome, PaymentEvent
from creditpay.risk.fraud.features import FeatureConfig
from creditpay.risk.fraud.features import PaymentEvent as FraudEvent
from creditpay.risk.fraud.features import feature_names as config_feature_names
from creditpay.risk.fraud.model import DEFAULT_POLICY, DecisionPolicy, FraudModel
from creditpay.risk.fraud.rules import EMPTY_RULES, RuleSet, load_rules
from creditpay.risk.fraud.screening import Screener, ScreeningResult

__all__ = ["FraudScreeningConfig", "RulesOnlyModel", "ScreeningRiskGateway",
           "screening_enabled", "ENV_SWITCH"]

ENV_SWITCH = "CREDITPAY_FRAUD_SCREENING"
NO_DEVICE = "no-device"  # the screener needs a device id; payments without one share this
SNAPSHOT_EVERY_DEFAULT = 1000
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


def screening_enabled(env: Mapping[str, str] | None = None) -> bool:
    """True when the environment switches fraud screening on."""
    value = (env if env is not None else os.environ).get(ENV_SWITCH, "")
    return value.strip().lower() in {"on", "1", "true", "yes"}


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FraudScreeningConfig:
        env = env if env is not None else os.environ

        def path(name: str) -> Path | None:
            value = env.get(name, "").strip()
            return Path(value) if value else None

        return cls(model_dir=path("CREDITPAY_FRAUD_MODEL_DIR"),
                   rules_path=path("CREDITPAY_FRAUD_RULES"),
                   state_path=path("CREDITPAY_FRAUD_STATE"))


class ScreeningRiskGateway:
    """:class:`RiskGateway` that screens each payment with one in-process Screener."""

    def __init__(self, screener: Screener, *, state_path: Path | None = None,
                 snapshot_every: int = SNAPSHOT_EVERY_DEFAULT,
                 recorder: Callable[[FraudEvent, ScreeningResult], None] | None = None
                 ) -> None:
        if snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1")
        self.screener = screener
        # Sees every screening with its whole feature vector (reused by the screener: copy
        # what you keep), e.g. to build the next training set once labels arrive.
        self.recorder = recorder
        self.state_path = state_path
        self.snapshot_every = snapshot_every
        self._lock = threading.Lock()
        self._since_snapshot = 0

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
        state = None
        if config.state_path is not None and config.state_path.exists():
            state = config.state_path.read_bytes()
        return cls(Screener(model, rules, state=state), state_path=config.state_path,
                   snapshot_every=config.snapshot_every)

    # ------------------------------------------------------------------ RiskGateway
    def screen_payment(self, tx: Tx, event: PaymentEvent) -> Decision:
        fraud_event = _fraud_event(event, tx)
        with self._lock:
            result = self.screener.screen(fraud_event)
            if self.recorder is not None:
                self.recorder(fraud_event, result)
            self._since_snapshot += 1
            if self.state_path is not None and self._since_snapshot >= self.snapshot_every:
                self._save_locked()
        return _decision(result, self.screener.rulebook.current.fields_used)

    # ------------------------------------------------------------------ state
    def save_state(self) -> None:
        """Write the streaming state to ``state_path`` now (atomically)."""
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        self._since_snapshot = 0
        if self.state_path is None:
            return
        data = self.screener.state_bytes()
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


def _decision(result: ScreeningResult, rule_fields: frozenset[str]) -> Decision:
    features = result.features
    summary: dict[str, float] = {}
    for name in (*SUMMARY_FEATURES, *sorted(rule_fields)):
        value = features.get(name)
        if value is not None and math.isfinite(value):
            summary[name] = round(float(value), 6)
    details = {"decision": result.decision, "score": round(float(result.score), 6),
               "rules_hit": list(result.rules_hit), "reasons": list(result.reasons),
               "versions": dict(result.versions), "features": summary}
    reasons = result.reasons or (f"fraud_screening:{result.decision}",)
    version = "/".join(f"{k}={v}" for k, v in sorted(result.versions.items()))
    return Decision(_OUTCOMES[result.decision], tuple(reasons), version, details)
