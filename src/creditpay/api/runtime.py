"""What one API process holds: the services (from :func:`creditpay.bootstrap.build_services`)
and the per-process HTTP knobs (rate limits, body limit, background jobs).

Built once by :func:`creditpay.api.app.create_app` from the settings (keys included:
``CREDITPAY_MASTER_KEY[_FILE]``, optional ``CREDITPAY_TOKEN_KEY`` and
``CREDITPAY_BLIND_INDEX_KEY[_FILE]``); nothing here is a module-level global.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from creditpay.bootstrap import ServiceOptions, Services, build_services, serving_clock
from creditpay.clock import Clock
from creditpay.config import Settings
from creditpay.credit.funding import Funding
from creditpay.credit.origination import Origination
from creditpay.db.uow import UnitOfWork
from creditpay.parties.security import PasswordPolicy
from creditpay.parties.service import AccessPolicy, Parties
from creditpay.payments.credit_port import CreditPort
from creditpay.payments.risk import AllowAllRiskGateway, RiskGateway
from creditpay.payments.service import Payments, PaymentsPolicy
from creditpay.payments.webhooks import DeliveryLimits, WebhookDispatcher
from creditpay.platform.approvals import ControlledAction, FourEyesPolicy
from creditpay.platform.checkpoints import AuditCheckpointer, CheckpointStore
from creditpay.platform.keys import LocalMasterKey
from creditpay.platform.logging_filter import install_pii_log_filter
from creditpay.platform.notes import Notes
from creditpay.platform.vault import Vault
from creditpay.platform.webhook_targets import Resolve, WebhookTargets, system_resolve
from creditpay.protection.complaints import ComplaintSubjects
from creditpay.risk.bureau import BureauAdapter, SimulatedBureau
from creditpay.risk.fraud.cases import CasePolicy

if TYPE_CHECKING:
    from creditpay.credit.limits import LimitChanges
    from creditpay.credit.products import Catalogue
    from creditpay.payments.fraud import FraudScreeningConfig

__all__ = ["ApiConfig", "Runtime", "build_runtime"]


@dataclass
class ApiConfig:
    """Knobs of one API process; defaults are production values."""

    master_key: LocalMasterKey | None = None  # default: from the settings
    token_key: bytes | None = None  # default: CREDITPAY_TOKEN_KEY or HKDF(master)
    blind_index_key: bytes | None = None  # default: pinned env key or HKDF(master)
    risk: RiskGateway = field(default_factory=AllowAllRiskGateway)
    credit: CreditPort | None = None  # default: the credit port on ``catalogue``
    # The products and caps credit prices and services with (default: the packaged ones,
    # loaded by the bootstrap for this process).
    catalogue: Catalogue | None = None
    access_policy: AccessPolicy = field(default_factory=AccessPolicy)
    payments_policy: PaymentsPolicy = field(default_factory=PaymentsPolicy)
    passwords: PasswordPolicy | None = None
    rail_delay_s: int = 3600
    # Rate limits: capacity and refill per second (creditpay.api.access). Where they are
    # kept: "auto" is the database on PostgreSQL (shared by every API process: serve
    # --workers N) and this process's memory on SQLite (one process); "database" or
    # "memory" forces one. ``rate_limit_clock``: seconds, default the wall clock (database)
    # or the monotonic clock (memory); tests move a fake one.
    rate_limits: Literal["auto", "database", "memory"] = "auto"
    rate_limit_clock: Callable[[], float] | None = None
    # None: the settings' (CREDITPAY_RATE_LIMIT_IP, _CREDENTIAL, _LOGIN).
    ip_bucket: tuple[int, float] | None = None
    credential_bucket: tuple[int, float] | None = None
    login_bucket: tuple[int, float] | None = None  # per identifier, before any DB work
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
    # Fraud screening (issue #6): None = CREDITPAY_FRAUD_SCREENING decides (default on, with
    # the shipped rules). Used only when ``risk`` is left at the allow-all default.
    fraud_screening: bool | None = None
    fraud: FraudScreeningConfig | None = None  # default: from the environment
    # Priority thresholds and SLA per priority of the fraud case queue (None: defaults).
    fraud_case_policy: CasePolicy | None = None
    pool_size: int = 10
    body_bytes_max: int = 1_048_576  # request bodies above it: 413 (creditpay.api.body)
    currencies: tuple[str, ...] | None = None  # None: CREDITPAY_CURRENCIES
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
    # The product catalogue and caps every credit route prices and services with.
    catalogue: Catalogue
    dev_inbox: bool = False  # GET /v1/dev/inbox is served (development only)
    services: Services | None = None  # everything the bootstrap built for this process
    # The dashboard's P&L funding rate (Settings.funding_rate_bps), basis points a year.
    funding_rate_bps: int = 500

    @property
    def clock(self) -> Clock:
        return self.uow.clock

    @property
    def four_eyes(self) -> FourEyesPolicy:
        """What needs a second operator (the bootstrap's, from the settings)."""
        assert self.services is not None, "a runtime is built by build_runtime"
        return self.services.four_eyes

    @property
    def controlled_actions(self) -> dict[str, ControlledAction]:
        """The four-eyes controlled actions an approval executes, by kind."""
        assert self.services is not None, "a runtime is built by build_runtime"
        return self.services.controlled_actions

    @property
    def limit_changes(self) -> LimitChanges:
        """Staff changes of a line's limit (the bootstrap's)."""
        assert self.services is not None, "a runtime is built by build_runtime"
        return self.services.limit_changes

    @property
    def funding(self) -> Funding | None:
        """Partner funding (the bootstrap's; None for a runtime built without services)."""
        return self.services.funding if self.services is not None else None

    @property
    def origination(self) -> Origination:
        """Credit's origination use cases (opening a line, the affordability check): the
        same object checkout uses."""
        return self.payments.origination

    def close(self) -> None:
        if self.services is not None:
            self.services.close()
            return
        close_risk = getattr(self.payments.risk, "close", None)
        if callable(close_risk):
            close_risk()  # the risk gateway's own resources
        self.uow.engine.dispose()


def build_runtime(settings: Settings, clock: Clock | None, config: ApiConfig) -> Runtime:
    """The services of :func:`creditpay.bootstrap.build_services`, started, with the API's
    own configuration; installs the log filter that masks personal data."""
    services = build_services(settings, clock or serving_clock(settings),
                              _service_options(config))
    try:
        services.start()
    except BaseException:
        services.close()
        raise
    install_pii_log_filter()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "creditpay"):
        install_pii_log_filter(logging.getLogger(name))
    return Runtime(config, services.uow, services.vault, services.parties, services.payments,
                   services.webhooks, services.webhook_targets, services.complaint_subjects,
                   services.audit_checkpointer, services.notes, services.catalogue,
                   config.dev_inbox if config.dev_inbox is not None else settings.dev_inbox,
                   services=services, funding_rate_bps=settings.funding_rate_bps)


def _service_options(config: ApiConfig) -> ServiceOptions:
    """The bootstrap's options for this API configuration (``risk`` left at allow-all lets
    the settings switch fraud screening on)."""
    risk = None if isinstance(config.risk, AllowAllRiskGateway) else config.risk
    return ServiceOptions(
        pool_size=config.pool_size, master_key=config.master_key, token_key=config.token_key,
        blind_index_key=config.blind_index_key, passwords=config.passwords,
        access_policy=config.access_policy, currencies=config.currencies,
        payments_policy=config.payments_policy, rail_delay_s=config.rail_delay_s, risk=risk,
        fraud_screening=config.fraud_screening, fraud=config.fraud,
        fraud_case_policy=config.fraud_case_policy, credit=config.credit,
        webhooks_allow_private=config.webhooks_allow_private,
        webhook_limits=config.webhook_limits, webhook_resolve=config.webhook_resolve,
        webhook_tls_verify=config.webhook_tls_verify, bureau=config.bureau,
        audit_checkpoint_store=config.audit_checkpoint_store, catalogue=config.catalogue)
