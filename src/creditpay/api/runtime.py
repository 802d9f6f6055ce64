"""Everything one API process holds: engine, unit of work, vault, services, limiters.

Built once by :func:`creditpay.api.app.create_app` from the settings and the environment's
keys (``CREDITPAY_MASTER_KEY[_FILE]``, optional ``CREDITPAY_TOKEN_KEY`` and
``CREDITPAY_BLIND_INDEX_KEY[_FILE]``); nothing here is a module-level global.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import logging
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from creditpay.clock import Clock, SystemClock
from creditpay.config import Settings
from creditpay.db.schema import open_database
from creditpay.db.uow import UnitOfWork
from creditpay.ledger.chart import ensure_platform_accounts
from creditpay.parties.security import PasswordPolicy, TokenSigner, load_token_key
from creditpay.parties.service import AccessPolicy, Parties
from creditpay.payments.complaint_subjects import complaint_subjects
from creditpay.payments.credit_port import CreditFacade, CreditPort
from creditpay.payments.rail import CardRail
from creditpay.payments.risk import AllowAllRiskGateway, RiskGateway
from creditpay.payments.service import Payments, PaymentsPolicy
from creditpay.payments.webhooks import DeliveryLimits, WebhookDispatcher
from creditpay.platform.checkpoints import AuditCheckpointer, CheckpointStore, build_checkpointer
from creditpay.platform.keys import LocalMasterKey, load_blind_index_key, load_master_key
from creditpay.platform.logging_filter import install_pii_log_filter
from creditpay.platform.notes import Notes
from creditpay.platform.vault import BlindIndexer, Vault
from creditpay.platform.webhook_targets import HostLookup, Resolve, WebhookTargets, system_resolve
from creditpay.protection.complaints import ComplaintSubjects
from creditpay.risk.bureau import BureauAdapter, SimulatedBureau
from creditpay.risk.fraud.cases import DEFAULT_CASE_POLICY, CasePolicy, open_payment_case

if TYPE_CHECKING:
    from creditpay.payments.fraud import FraudScreeningConfig

__all__ = ["ApiConfig", "Runtime", "build_runtime"]

_log = logging.getLogger("creditpay.webhooks")
# Host name lookups at once when merchants set their webhook URL (each request waits for its
# own, at most webhook_targets.LOOKUP_TIMEOUT_S).
REGISTRATION_LOOKUPS_MAX = 8


@dataclass
class ApiConfig:
    """Knobs of one API process; defaults are production values."""

    master_key: LocalMasterKey | None = None  # default: from the environment
    token_key: bytes | None = None  # default: CREDITPAY_TOKEN_KEY or HKDF(master)
    blind_index_key: bytes | None = None  # default: pinned env key or HKDF(master)
    risk: RiskGateway = field(default_factory=AllowAllRiskGateway)
    credit: CreditPort = field(default_factory=CreditFacade)
    access_policy: AccessPolicy = field(default_factory=AccessPolicy)
    payments_policy: PaymentsPolicy = field(default_factory=PaymentsPolicy)
    passwords: PasswordPolicy | None = None
    rail_delay_s: int = 3600
    # Token buckets (in process): capacity and refill per second.
    ip_bucket: tuple[int, float] = (600, 100.0)
    credential_bucket: tuple[int, float] = (300, 50.0)
    login_bucket: tuple[int, float] = (10, 0.1)  # per identifier, before any DB work
    # serve: deliver rail callbacks and seal the audit chain every second, and run the
    # webhook delivery worker (a task of its own).
    background_jobs: bool = False
    # Merchant webhooks (docs/security.md, "Webhooks"). None: Settings decides
    # (CREDITPAY_WEBHOOKS_ALLOW_PRIVATE); True lets webhooks target loopback and private
    # addresses over http too (development and tests only).
    webhooks_allow_private: bool | None = None
    dev_inbox: bool | None = None  # None: Settings.dev_inbox (CREDITPAY_DEV_INBOX)
    webhook_limits: DeliveryLimits = field(default_factory=DeliveryLimits)
    webhook_resolve: Resolve = system_resolve  # host name -> addresses; tests inject one
    webhook_tls_verify: ssl.SSLContext | bool = True  # an SSLContext with a test CA in tests
    # Fraud screening (issue #6): None = CREDITPAY_FRAUD_SCREENING decides (default off:
    # allow-all). Used only when ``risk`` is left at the allow-all default.
    fraud_screening: bool | None = None
    fraud: FraudScreeningConfig | None = None  # default: from the environment
    # Priority thresholds and SLA per priority of the fraud case queue (None: defaults).
    fraud_case_policy: CasePolicy | None = None
    pool_size: int = 10
    body_bytes_max: int = 1_048_576  # request bodies above it: 413 (creditpay.api.body)
    currencies: tuple[str, ...] = ("CNY",)
    deposit_waiver_score_min: int = 650  # credit score that waives a rental deposit
    # The credit bureau consumer credit applications pull from (default: the simulator).
    bureau: BureauAdapter = field(default_factory=lambda: SimulatedBureau(0))
    # Where the background seal writes audit checkpoints (default: the directory of
    # ``Settings.checkpoint_dir()``; docs/security.md section 6).
    audit_checkpoint_store: CheckpointStore | None = None


@dataclass
class Runtime:
    config: ApiConfig
    uow: UnitOfWork
    vault: Vault
    parties: Parties
    payments: Payments
    webhooks: WebhookDispatcher
    # The checks a merchant's webhook URL passes when it is set (deliveries have their own).
    webhook_targets: WebhookTargets
    complaint_subjects: ComplaintSubjects
    # Signs and stores a checkpoint on every seal of the background jobs.
    audit_checkpointer: AuditCheckpointer
    # Free text staff write (case notes), encrypted and erasable, referenced from the chain.
    notes: Notes
    dev_inbox: bool = False  # GET /v1/dev/inbox is served (development only)

    @property
    def clock(self) -> Clock:
        return self.uow.clock

    def close(self) -> None:
        close_risk = getattr(self.payments.risk, "close", None)
        if callable(close_risk):
            close_risk()  # e.g. persist the fraud screener's streaming state
        self.uow.engine.dispose()


def declared_income(conn: Any, customer_id: str, currency: str) -> tuple[int, int] | None:
    """Affordability's income and other debts, from the risk domain's latest decision."""
    from creditpay.risk.decisions.service import declared_income as latest

    return latest(conn, customer_id, currency)


def build_runtime(settings: Settings, clock: Clock | None, config: ApiConfig) -> Runtime:
    engine = open_database(settings.database_url, pool_size=config.pool_size)
    uow = UnitOfWork(engine, clock or SystemClock())
    master = config.master_key or load_master_key()
    vault = Vault(uow, master)
    # The first data key is created in its own transaction, before any business transaction
    # could need it (SQLite serialises writers: a nested one would wait on itself).
    vault.ensure_active_key()
    indexer = BlindIndexer(config.blind_index_key or load_blind_index_key(master).key)
    token_key = config.token_key or load_token_key(master)
    signer = TokenSigner(token_key)
    rail_key = hmac.new(token_key, b"creditpay/card-rail/v1", hashlib.sha256).digest()
    parties = Parties(vault=vault, indexer=indexer, signer=signer,
                      passwords=config.passwords or PasswordPolicy(),
                      policy=config.access_policy, currencies=config.currencies)
    payments = Payments(parties=parties, rail=CardRail(rail_key, delay_s=config.rail_delay_s),
                        risk=_risk_gateway(config), credit=config.credit,
                        policy=dataclasses.replace(config.payments_policy,
                                                   currencies=config.currencies),
                        declared_income=declared_income,
                        on_review=functools.partial(
                            open_payment_case,
                            policy=config.fraud_case_policy or DEFAULT_CASE_POLICY))
    for currency in config.currencies:
        uow.run(lambda tx, c=currency: ensure_platform_accounts(tx, c))
    recover = getattr(payments.risk, "recover", None)
    if recover is not None:
        # Fold the stored screenings the state snapshot lacks now, at start, rather than
        # inside the first customer's checkout.
        with uow.connect() as conn:
            recover(conn)
    install_pii_log_filter()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "creditpay"):
        install_pii_log_filter(logging.getLogger(name))
    # Built at start: an API whose seals could not be checkpointed must not come up.
    checkpointer = build_checkpointer(settings, master, store=config.audit_checkpoint_store)
    return Runtime(config, uow, vault, parties, payments,
                   *_webhooks(settings, config, uow, parties), complaint_subjects(payments),
                   checkpointer, Notes(vault),
                   config.dev_inbox if config.dev_inbox is not None else settings.dev_inbox)


def _webhooks(settings: Settings, config: ApiConfig, uow: UnitOfWork, parties: Parties
              ) -> tuple[WebhookDispatcher, WebhookTargets]:
    """The delivery worker and the registration checks, each with its own lookup threads so
    neither can use up the other's."""
    allow_private = (config.webhooks_allow_private if config.webhooks_allow_private is not None
                     else settings.webhooks_allow_private)
    if allow_private:
        _log.warning("WEBHOOKS MAY TARGET LOOPBACK AND PRIVATE ADDRESSES, OVER HTTP TOO "
                     "(CREDITPAY_WEBHOOKS_ALLOW_PRIVATE is on): development only, never in "
                     "production")
    limits = config.webhook_limits
    delivery = WebhookTargets(allow_private, HostLookup(
        config.webhook_resolve, threads_max=limits.in_flight_max,
        per_key_max=limits.per_merchant_max))
    registration = WebhookTargets(allow_private, HostLookup(
        config.webhook_resolve, threads_max=REGISTRATION_LOOKUPS_MAX, per_key_max=2))
    dispatcher = WebhookDispatcher(uow, parties, delivery, limits=limits,
                                   verify=config.webhook_tls_verify)
    return dispatcher, registration


def _risk_gateway(config: ApiConfig) -> RiskGateway:
    """The configured gateway; fraud screening replaces allow-all when switched on."""
    from creditpay.payments.fraud import (
        FraudScreeningConfig,
        ScreeningRiskGateway,
        screening_enabled,
    )

    enabled = (config.fraud_screening if config.fraud_screening is not None
               else screening_enabled())
    if not enabled or not isinstance(config.risk, AllowAllRiskGateway):
        return config.risk
    return ScreeningRiskGateway.from_config(config.fraud or FraudScreeningConfig.from_env())
