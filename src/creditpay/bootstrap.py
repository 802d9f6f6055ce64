"""One bootstrap: every service of a creditpay process, built from :class:`Settings` and a clock.

The API (``api.runtime``), every command of the command line (``cli.common``), the
simulator (``sim.economy``), the nightly batch and the benchmarks get their services from
:func:`build_services`; none of them wires a service itself. What differs between them
(a simulated clock, the simulator's phones, cheaper password hashing, a test CA) is passed
in as :class:`ServiceOptions`, never read from a global. No business rule lives here: this
module only decides which object gets which collaborator.

Services that need key material (vault, parties, payments, notes, the audit checkpointer)
are built on first use, so a command that only reads the ledger runs without a master key;
a serving process calls :meth:`Services.start`, which builds them all at once so that it
fails at start, not on its first request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditpay.clock import Clock, ShiftedClock, SystemClock
from creditpay.config import Settings, env_name
from creditpay.errors import DomainError, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from creditpay.assistant.service import Assistant
    from creditpay.credit.funding import Funding
    from creditpay.credit.limits import LimitChanges
    from creditpay.credit.origination import Origination
    from creditpay.credit.products import Catalogue, LiveCatalogue
    from creditpay.db.uow import Tx, UnitOfWork
    from creditpay.fx.config import FxConfig
    from creditpay.fx.rates import RateSource
    from creditpay.parties.notifier import Notifier
    from creditpay.parties.security import PasswordPolicy, TokenSigner
    from creditpay.parties.service import AccessPolicy, Parties
    from creditpay.payments.credit_port import CreditPort
    from creditpay.payments.fraud import FraudScreeningConfig
    from creditpay.payments.rail import CardRail
    from creditpay.payments.risk import RiskGateway
    from creditpay.payments.service import Payments, PaymentsPolicy
    from creditpay.payments.webhooks import DeliveryLimits, WebhookDispatcher
    from creditpay.platform.approvals import ControlledAction, FourEyesPolicy
    from creditpay.platform.checkpoints import AuditCheckpointer, CheckpointStore
    from creditpay.platform.keys import MasterKeyProvider
    from creditpay.platform.notes import Notes
    from creditpay.platform.vault import BlindIndexer, Vault
    from creditpay.platform.webhook_targets import Resolve, WebhookTargets
    from creditpay.protection.complaints import ComplaintSubjects
    from creditpay.risk.bureau import BureauAdapter
    from creditpay.risk.fraud.cases import CasePolicy

__all__ = ["ServiceOptions", "Services", "build_services", "audit_checkpointer",
           "fraud_feature_names", "default_fraud_rules_path", "development_feature",
           "SchemaStatus", "schema_status", "upgrade_database",
           "DatabaseUnavailableError", "DatabaseBehindError", "REGISTRATION_LOOKUPS_MAX"]

_log = logging.getLogger("creditpay.webhooks")
_boot_log = logging.getLogger("creditpay.bootstrap")
# Host name lookups at once when merchants set their webhook URL (each request waits for its
# own, at most webhook_targets.LOOKUP_TIMEOUT_S).
REGISTRATION_LOOKUPS_MAX = 8


class DatabaseUnavailableError(DomainError):
    """A command that only reads was pointed at a database that does not exist (or holds no
    creditpay schema): nothing is created, the command stops."""

    type_slug = "database-unavailable"
    status = 503
    title = "Database unavailable"


class DatabaseBehindError(DatabaseUnavailableError):
    """Production mode opened a database whose schema is not this release's: nothing is
    migrated behind the operator's back; ``creditpay db upgrade`` does it."""

    type_slug = "database-behind"
    title = "Database schema not at this release's revision"


def default_fraud_rules_path() -> Path:
    """The rules document the package ships (``risk/fraud/default_rules.json``): what fraud
    screening decides with when no rules file is configured and no rule set is activated."""
    from importlib.resources import files

    return Path(str(files("creditpay.risk.fraud") / "default_rules.json"))


def development_feature(settings: Settings, what: str, variable: str | None) -> None:
    """Allow a development convenience (``what``, switched on by ``variable``; None: there is
    no other implementation to switch to) in this process: always in development mode; in
    production mode only with CREDITPAY_ALLOW_DEVELOPMENT_FEATURES=true, and then logged at
    WARNING. Otherwise a ValidationError naming the variable: the process must not start."""
    if settings.mode != "production":
        return
    allow = env_name("allow_development_features")
    if not settings.allow_development_features:
        if variable is not None:
            raise ValidationError(
                f"production mode (CREDITPAY_MODE=production) refuses {what} ({variable} "
                f"is on): turn it off, or set {allow}=true to run with it anyway",
                field=variable)
        raise ValidationError(
            f"production mode (CREDITPAY_MODE=production) refuses {what}, and this release "
            f"has no other: set {allow}=true to run with it anyway", field=allow)
    _boot_log.warning("PRODUCTION MODE RUNS A DEVELOPMENT FEATURE: %s (%s, allowed by %s)",
                      what, variable or "no other implementation", allow)


def _system_resolve() -> Resolve:
    from creditpay.platform.webhook_targets import system_resolve

    return system_resolve


@dataclass(frozen=True)
class ServiceOptions:
    """What a process chooses besides the settings. Defaults are production values; ``None``
    means "from the settings" (keys, fraud screening, webhooks to private addresses)."""

    # --- storage
    pool_size: int = 10
    durability: str = "full"  # SQLite only: "normal" for replayable simulations
    # A command that only reads: the database must exist already (nothing is created).
    read_only: bool = False
    # --- keys (None: from the settings)
    master_key: MasterKeyProvider | None = None
    token_key: bytes | None = None
    blind_index_key: bytes | None = None
    # --- parties
    passwords: PasswordPolicy | None = None
    access_policy: AccessPolicy | None = None
    notifier: Notifier | None = None  # default: the outbox (parties' own default)
    # None: from the settings (CREDITPAY_CURRENCIES, default CNY only).
    currencies: tuple[str, ...] | None = None
    # --- payments
    payments_policy: PaymentsPolicy | None = None
    rail_delay_s: int = 3600
    # None: allow-all, or fraud screening when switched on (settings or ``fraud_screening``).
    risk: RiskGateway | None = None
    fraud_screening: bool | None = None
    fraud: FraudScreeningConfig | None = None  # None: from the settings' fraud paths
    fraud_case_policy: CasePolicy | None = None
    credit: CreditPort | None = None  # None: the credit port on the credit domain
    # --- webhooks
    webhooks_allow_private: bool | None = None
    webhook_limits: DeliveryLimits | None = None
    webhook_resolve: Resolve = field(default_factory=_system_resolve)
    webhook_tls_verify: ssl.SSLContext | bool = True
    # --- credit configuration (None: the packaged products and caps, loaded once per
    # Services; passed to every service that prices or services credit, never a global)
    catalogue: Catalogue | None = None
    # How often (monotonic seconds) a serving process looks for product or caps versions
    # activated by another process (one index read; 0: on every request).
    catalogue_check_every_s: float = 1.0
    # --- risk and audit
    bureau: BureauAdapter | None = None  # default: the simulated bureau
    audit_checkpoint_store: CheckpointStore | None = None  # default: settings' directory
    # --- foreign exchange (None: from the settings: CREDITPAY_FX_CONFIG, _FX_RATE_SOURCE)
    fx_config: FxConfig | None = None
    fx_rate_source: RateSource | None = None


def serving_clock(settings: Settings) -> Clock:
    """The business clock of a serving process: the wall clock, or with
    ``settings.business_date`` a clock that starts at 09:00 UTC of that date (``db``: the
    day after the database's last close of business) and runs with the wall clock. A
    database with no close of business cannot be served at its own date: ValidationError
    naming the setting."""
    if settings.business_date is None:
        return SystemClock()
    if settings.business_date == "db":
        from creditpay.credit.cob import next_business_date
        from creditpay.db.engine import make_engine

        _require_existing(settings.database_url)  # never create a database to read a date
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            with engine.connect() as conn:
                day = next_business_date(conn)
        finally:
            engine.dispose()
        if day is None:
            raise ValidationError("the database has no close of business yet: give a date",
                                  field=env_name("business_date"))
    else:
        day = dt.date.fromisoformat(settings.business_date)
    return ShiftedClock(dt.datetime(day.year, day.month, day.day, 9, tzinfo=dt.UTC))


def build_services(settings: Settings, clock: Clock,
                   options: ServiceOptions | None = None) -> Services:
    """Open the database of ``settings`` (migrated to the current schema unless
    ``options.read_only``) and return the process's services on it, with business ``clock``.
    Raises :class:`DatabaseUnavailableError` when a read-only process's database is missing."""
    options = options or ServiceOptions()
    _check_settings_mode(settings, options)
    engine = _open_engine(settings, options)
    services = Services(settings, clock, options, engine)
    services.warn_if_screening_off()
    return services


def _check_settings_mode(settings: Settings, options: ServiceOptions) -> None:
    """Production mode refuses the development switches of the settings (before anything is
    opened), unless explicitly allowed."""
    if settings.dev_inbox:
        development_feature(settings, "the development inbox (GET /v1/dev/inbox shows the "
                            "codes sent to customers)", env_name("dev_inbox"))
    allow_private = (options.webhooks_allow_private
                     if options.webhooks_allow_private is not None
                     else settings.webhooks_allow_private)
    if allow_private:
        development_feature(settings, "webhooks to loopback and private addresses",
                            env_name("webhooks_allow_private"))


def _open_engine(settings: Settings, options: ServiceOptions) -> Engine:
    from creditpay.db.engine import make_engine
    from creditpay.db.schema import migrate, open_database

    url = settings.database_url
    if settings.mode == "production":
        # Never migrate in production: the database must already be at this release's
        # schema (creditpay db upgrade), and it is never created here either.
        _require_existing(url)
        engine = make_engine(url, pool_size=options.pool_size, durability=options.durability)
        try:
            _require_at_head(engine, url)
        except BaseException:
            engine.dispose()
            raise
        return engine
    if not options.read_only:
        return open_database(url, pool_size=options.pool_size, durability=options.durability)
    _require_existing(url)
    engine = make_engine(url, pool_size=options.pool_size, durability=options.durability)
    try:
        _require_schema(engine, url)
        migrate(engine)  # an existing creditpay database is brought to this code's schema
    except BaseException:
        engine.dispose()
        raise
    return engine


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)  # never echo a password


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema is: its revisions, this release's heads (one per domain
    branch), and whether they are the same."""

    current: tuple[str, ...]
    head: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        return set(self.current) == set(self.head)

    def to_json(self) -> dict[str, Any]:
        return {"current": list(self.current), "head": list(self.head),
                "at_head": self.at_head}


def schema_status(settings: Settings) -> SchemaStatus:
    """The schema revisions of ``settings``' database, read only: a missing SQLite file or an
    unreachable server is a DatabaseUnavailableError, nothing is created; a database without
    creditpay's schema has no current revision."""
    from sqlalchemy.exc import OperationalError

    from creditpay.db.engine import make_engine
    from creditpay.db.schema import current_revisions, head_revisions

    url = settings.database_url
    _require_existing(url, schema=False)
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            current = current_revisions(conn)
    except OperationalError as exc:
        first_line = str(exc.orig or exc).strip().splitlines()[0]
        raise DatabaseUnavailableError(f"cannot open database {_shown(url)}: {first_line}",
                                       field="db") from None
    finally:
        engine.dispose()
    return SchemaStatus(current, head_revisions())


def upgrade_database(settings: Settings) -> tuple[SchemaStatus, SchemaStatus]:
    """Migrate ``settings``' database to this release's heads (creating a SQLite file that
    does not exist yet); the status before and after. The one way production migrates."""
    from sqlalchemy.exc import OperationalError

    from creditpay.db.engine import make_engine
    from creditpay.db.schema import current_revisions, head_revisions, migrate

    url = settings.database_url
    engine = make_engine(url, pool_size=1)
    try:
        try:
            with engine.connect() as conn:
                before = current_revisions(conn)
        except OperationalError as exc:
            first_line = str(exc.orig or exc).strip().splitlines()[0]
            raise DatabaseUnavailableError(f"cannot open database {_shown(url)}: "
                                           f"{first_line}", field="db") from None
        migrate(engine)
        with engine.connect() as conn:
            after = current_revisions(conn)
    finally:
        engine.dispose()
    heads = head_revisions()
    return SchemaStatus(before, heads), SchemaStatus(after, heads)


def _require_at_head(engine: Engine, url: str) -> None:
    from creditpay.db.schema import current_revisions, head_revisions

    _require_schema(engine, url)
    with engine.connect() as conn:
        status = SchemaStatus(current_revisions(conn), head_revisions())
    if not status.at_head:
        raise DatabaseBehindError(
            f"database {_shown(url)} is not at this release's schema (at "
            f"{', '.join(status.current) or 'nothing'}; needs {', '.join(status.head)}): "
            "production mode never migrates on open, run `creditpay db upgrade`", field="db")


def _require_existing(url: str, *, schema: bool = True) -> None:
    """A SQLite file must exist and hold creditpay's schema before it is opened: opening it
    through the engine would create it, or write a WAL header into an empty file."""
    import sqlite3
    from pathlib import Path
    from urllib.parse import quote

    from sqlalchemy.engine import make_url

    from creditpay.db.engine import normalise_url

    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        return  # a server never creates a database on connect; _require_schema connects
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise DatabaseUnavailableError("an in-memory database is empty: nothing to read",
                                       field="db")
    path = Path(database)
    if not path.is_file():
        raise DatabaseUnavailableError(f"database {database} does not exist", field="db")
    # Read-only (mode=ro): this look must not change the file either.
    with contextlib.closing(sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro",
                                            uri=True)) as conn:
        try:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                 "AND name = 'alembic_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatabaseUnavailableError(f"{database} is not a SQLite database ({exc})",
                                           field="db") from None
    if found is None and schema:
        raise DatabaseUnavailableError(
            f"database {database} holds no creditpay data (no schema)", field="db")


def _require_schema(engine: Engine, url: str) -> None:
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    try:
        with engine.connect() as conn:
            has_schema = inspect(conn).has_table("alembic_version")
    except OperationalError as exc:
        first_line = str(exc.orig or exc).strip().splitlines()[0]
        raise DatabaseUnavailableError(f"cannot open database {_shown(url)}: {first_line}",
                                       field="db") from None
    if not has_schema:
        raise DatabaseUnavailableError(
            f"database {_shown(url)} holds no creditpay data (no schema)", field="db")


def audit_checkpointer(settings: Settings, master: MasterKeyProvider | None = None, *,
                       store: CheckpointStore | None = None) -> AuditCheckpointer:
    """The audit checkpointer of ``settings``: the signing key (pinned by
    ``CREDITPAY_AUDIT_SIGNING_KEY[_FILE]``, else derived from ``master``, else from the
    settings' master key) and the directory store. Raises KeyMaterialError when there is no
    key material: a sealer must not run without it."""
    from creditpay.platform.checkpoints import AuditCheckpointer, DirectoryCheckpointStore
    from creditpay.platform.keys import load_audit_signing_key, load_master_key

    sources = settings.key_sources()
    if master is None and not sources.audit_signing_pinned:
        master = load_master_key(sources)
    return AuditCheckpointer(load_audit_signing_key(master, sources),
                             store or DirectoryCheckpointStore(settings.checkpoint_dir()),
                             frozenset(settings.audit_trusted_keys))


def _declared_income(conn: Connection, customer_id: str,
                     currency: str) -> tuple[int, int] | None:
    """Affordability's income and other debts, from the risk domain's latest decision."""
    from creditpay.risk.decisions.service import declared_income

    return declared_income(conn, customer_id, currency)


def _platform_accounts(tx: Tx, *, currency: str) -> None:
    from creditpay.ledger.chart import ensure_platform_accounts

    ensure_platform_accounts(tx, currency)


def fraud_feature_names(gateway: Any) -> Any:
    """The features of the screener in force (fraud rules must fit the model it runs), or
    the packaged defaults when it has none."""
    from creditpay.risk.fraud import rule_sets

    names = getattr(gateway, "feature_names", None)
    return names if names is not None else rule_sets.default_feature_names()


class Services:
    """Every service of one process, on one engine and one clock. Attributes built on first
    use (``cached_property``) so that a process builds only what it uses."""

    def __init__(self, settings: Settings, clock: Clock, options: ServiceOptions,
                 engine: Engine) -> None:
        from creditpay.db.uow import UnitOfWork

        self.settings = settings
        self.clock = clock
        self.options = options
        self.engine = engine
        self.uow: UnitOfWork = UnitOfWork(engine, clock)

    # ------------------------------------------------------------------ keys
    @cached_property
    def master(self) -> MasterKeyProvider:
        from creditpay.platform.keys import load_master_key

        return self.options.master_key or load_master_key(self.settings.key_sources())

    @cached_property
    def token_key(self) -> bytes:
        from creditpay.parties.security import load_token_key

        return self.options.token_key or load_token_key(self.master,
                                                        self.settings.secret("token_key"))

    @cached_property
    def indexer(self) -> BlindIndexer:
        from creditpay.platform.keys import load_blind_index_key
        from creditpay.platform.vault import BlindIndexer

        key = (self.options.blind_index_key
               or load_blind_index_key(self.master, self.settings.key_sources()).key)
        return BlindIndexer(key)

    # ------------------------------------------------------------------ platform
    @cached_property
    def vault(self) -> Vault:
        from creditpay.platform.vault import Vault

        return Vault(self.uow, self.master)

    @cached_property
    def notes(self) -> Notes:
        from creditpay.platform.notes import Notes

        return Notes(self.vault)

    @cached_property
    def audit_checkpointer(self) -> AuditCheckpointer:
        sources = self.settings.key_sources()
        master = None if sources.audit_signing_pinned else self.master
        return audit_checkpointer(self.settings, master,
                                  store=self.options.audit_checkpoint_store)

    # ------------------------------------------------------------------ parties
    @cached_property
    def signer(self) -> TokenSigner:
        from creditpay.parties.security import TokenSigner

        return TokenSigner(self.token_key)

    @cached_property
    def parties(self) -> Parties:
        from creditpay.parties.security import PasswordPolicy
        from creditpay.parties.service import AccessPolicy, Parties

        return Parties(vault=self.vault, indexer=self.indexer, signer=self.signer,
                       passwords=self.options.passwords or PasswordPolicy(),
                       notifier=self.options.notifier,
                       policy=self.options.access_policy or AccessPolicy(),
                       currencies=self.currencies)

    # ------------------------------------------------------------------ credit
    @cached_property
    def packaged_catalogue(self) -> Catalogue:
        """The catalogue this release ships: the one given, else the packaged products and
        caps, loaded here once."""
        from creditpay.credit.products import load_catalogue

        return self.options.catalogue or load_catalogue()

    @cached_property
    def catalogue(self) -> LiveCatalogue:
        """The product catalogue and caps in force, which every service that prices or
        services credit is given: the packaged one plus the versions activated through
        four-eyes (credit.catalogue_versions). One object for the process's life: an
        activation swaps what it holds (:meth:`refresh_catalogue`)."""
        from creditpay.credit import catalogue_versions
        from creditpay.credit.products import LiveCatalogue

        with self.uow.connect() as conn:
            built, marker = catalogue_versions.current(conn, self.packaged_catalogue)
        return LiveCatalogue(built, marker)

    def refresh_catalogue(self, *, force: bool = False) -> None:
        """Rebuild the catalogue when a version was activated since it was built (by this
        process or another): one index read, at most every ``catalogue_check_every_s``
        unless ``force``. A serving process calls it per request (api.common.runtime)."""
        import time

        from creditpay.credit import catalogue_versions

        live = self.catalogue
        now = time.monotonic()
        if not force and now - live.checked_at < self.options.catalogue_check_every_s:
            return
        live.checked_at = now
        with self.uow.connect() as conn:
            if catalogue_versions.marker(conn) == live.marker:
                return
            built, marker = catalogue_versions.current(conn, self.packaged_catalogue)
        live.use(built, marker)

    # ------------------------------------------------------------------ payments
    @cached_property
    def rail(self) -> CardRail:
        from creditpay.payments.rail import CardRail

        # The only card rail creditpay has is its in-process simulator (sandbox acquirer).
        development_feature(self.settings, "the simulated card rail (an in-process "
                            "stand-in for the card network)", None)
        rail_key = hmac.new(self.token_key, b"creditpay/card-rail/v1", hashlib.sha256).digest()
        return CardRail(rail_key, delay_s=self.options.rail_delay_s)

    @cached_property
    def risk(self) -> RiskGateway:
        """The payment risk gateway: the one given, else fraud screening (on by default,
        with the shipped rules unless others are configured), else allow-all."""
        from creditpay.payments.risk import AllowAllRiskGateway

        if self.options.risk is not None:
            return self.options.risk
        enabled = (self.options.fraud_screening if self.options.fraud_screening is not None
                   else self.settings.fraud_screening)
        if not enabled:
            return AllowAllRiskGateway()
        from creditpay.payments.fraud import FraudScreeningConfig, ScreeningRiskGateway

        config = self.options.fraud or FraudScreeningConfig(
            model_dir=self.settings.fraud_model_dir,
            rules_path=self.settings.fraud_rules or default_fraud_rules_path())
        return ScreeningRiskGateway.from_config(config)

    def warn_if_screening_off(self) -> None:
        """One WARNING line when this process would take payments without fraud screening
        (the settings or the process's own option switched it off; a process that brings
        its own risk gateway chose it and is not warned)."""
        if self.options.risk is not None:
            return
        if self.options.fraud_screening is False:
            _boot_log.warning("FRAUD SCREENING IS OFF in this process (its options turn it "
                              "off; %s is ignored): payments are approved unscreened",
                              env_name("fraud_screening"))
        elif self.options.fraud_screening is None and not self.settings.fraud_screening:
            _boot_log.warning("FRAUD SCREENING IS OFF (%s=false): payments are approved "
                              "unscreened and no screening is stored",
                              env_name("fraud_screening"))

    @cached_property
    def credit(self) -> CreditPort:
        # The payments -> credit port: built here and nowhere else.
        from creditpay.payments.credit_port import CreditFacade

        return self.options.credit or CreditFacade(self.catalogue, self.funding)

    @cached_property
    def funding(self) -> Funding:
        """Partner funding (credit.funding): a partner sees a consumer's data only through
        reporting.data_sharing (the consumer's consent for that partner, the fields it asks
        for, audited), and is matched on the customer's latest approved grade and PD."""
        from creditpay.credit.funding import Funding
        from creditpay.reporting.data_sharing import share_with_partner
        from creditpay.risk.decisions.queries import latest_grade_and_pd

        def share(tx: Tx, customer_id: str, partner_id: str, fields: Sequence[str]
                  ) -> Mapping[str, Any]:
            # The parties service (its vault needs key material) only when a partner is
            # asked: a process that funds nothing with partners never needs it here.
            return share_with_partner(tx, customer_id, partner_id, fields,
                                      parties=self.parties)

        return Funding(share_data=share, borrower_risk=latest_grade_and_pd)

    @cached_property
    def origination(self) -> Origination:
        """Credit's origination use cases (opening a line, the affordability check) on this
        process's catalogue (none when the credit port offers no credit), customers and
        declared incomes; checkout, the API and the simulator share it."""
        from creditpay.credit.origination import Origination
        from creditpay.payments.service import PaymentsPolicy

        policy = self.options.payments_policy or PaymentsPolicy()
        return Origination(catalogue=self.catalogue if self.credit.available else None,
                           customers=self.parties, declared_income=_declared_income,
                           limit_max_minor=policy.amount_minor_max)

    @cached_property
    def limit_changes(self) -> LimitChanges:
        """Staff changes of a line's limit, on this process's catalogue (its caps) and the
        largest limit a grant gives (the payments policy's largest amount, as
        :attr:`origination`)."""
        from creditpay.credit.limits import LimitChanges
        from creditpay.payments.service import PaymentsPolicy

        policy = self.options.payments_policy or PaymentsPolicy()
        return LimitChanges(self.catalogue, policy.amount_minor_max)

    @cached_property
    def four_eyes(self) -> FourEyesPolicy:
        """What needs a second operator, and how long a proposal waits (settings)."""
        from creditpay.platform.approvals import FourEyesPolicy

        return FourEyesPolicy(self.settings.four_eyes_threshold_minor,
                              dt.timedelta(hours=self.settings.approval_ttl_hours))

    @cached_property
    def controlled_actions(self) -> dict[str, ControlledAction]:
        """The four-eyes controlled actions, by kind: who may approve each and the owning
        domain's use case an approval executes (docs/security.md, "Four-eyes control")."""
        from creditpay.parties.service import Principal
        from creditpay.platform.approvals import Actor, ControlledAction
        from creditpay.risk.early_warning import service as early_warning

        def grant_line(tx: Tx, payload: Mapping[str, Any], proposer: Actor
                       ) -> Mapping[str, Any]:
            return self.origination.open_credit_line(
                tx, Principal("operator", proposer.id, proposer.role),
                str(payload["customer_id"]), limit_minor=int(payload["limit_minor"]),
                product_code=str(payload["product_code"]), currency=str(payload["currency"]))

        def run_playbook(tx: Tx, payload: Mapping[str, Any], proposer: Actor
                         ) -> Mapping[str, Any]:
            return early_warning.apply_playbook(
                tx, str(payload["alert_id"]), proposer.id,
                [proposer.role] if proposer.role else [], dict(payload["parameters"]))

        def activate_fraud_rules(tx: Tx, payload: Mapping[str, Any], proposer: Actor
                                 ) -> Mapping[str, Any]:
            from creditpay.risk.fraud import rule_sets

            gateway = self.risk  # the one payments screens with (Services.payments)
            names = fraud_feature_names(gateway)
            view = rule_sets.activate(tx, str(payload["version"]), operator=proposer.id,
                                      names=names)
            use_rules = getattr(gateway, "use_rules", None)
            if use_rules is not None:
                # The running screener swaps the set in once it is committed.
                ruleset = rule_sets.ruleset_of(view["content"], names)
                tx.after_commit(lambda: use_rules(ruleset, view["activation_seq"]))
            return view

        def activate_credit_policy(tx: Tx, payload: Mapping[str, Any], proposer: Actor
                                   ) -> Mapping[str, Any]:
            from creditpay.risk.decisions.policy import activate_policy

            policy = activate_policy(tx, dict(payload["document"]), actor=proposer.id)
            return {"policy_id": policy.policy_id, "version": policy.version,
                    "content_hash": policy.content_hash}

        def change_limit(tx: Tx, payload: Mapping[str, Any], proposer: Actor
                         ) -> Mapping[str, Any]:
            return self.limit_changes.change(
                tx, proposer.id, str(payload["line_id"]),
                limit_minor=int(payload["limit_minor"]), reason=str(payload["reason"]),
                expected_limit_version=int(payload["limit_version"]))

        def reverse_write_off(tx: Tx, payload: Mapping[str, Any], proposer: Actor
                              ) -> Mapping[str, Any]:
            from creditpay.credit.write_off_reversal import reverse_write_off as reverse

            return reverse(tx, proposer.id, str(payload["account_id"]),
                           reason=str(payload["reason"]),
                           expected_written_off_on=dt.date.fromisoformat(
                               str(payload["written_off_on"])))

        def promote_model(tx: Tx, payload: Mapping[str, Any], proposer: Actor
                          ) -> Mapping[str, Any]:
            from creditpay.risk.decisions import registry

            return registry.promote_proposed(tx, payload, actor=proposer.id).to_json()

        def approve_referral(tx: Tx, payload: Mapping[str, Any], proposer: Actor
                             ) -> Mapping[str, Any]:
            from creditpay.risk.decisions import referrals

            reviewed = referrals.review_referral(tx, referrals.ReviewReferral(
                decision_id=str(payload["decision_id"]),
                reviewer=Principal("operator", proposer.id, proposer.role), verdict="approve",
                line_product_code=str(payload["product_code"]),
                limit_minor=int(payload["limit_minor"])), open_line=self.origination.open_credit_line)
            out = reviewed.referral.to_json()
            if reviewed.line is not None:
                out["line_id"] = reviewed.line.line_id
            return out

        def change_catalogue(kind: str) -> Any:
            def execute(tx: Tx, payload: Mapping[str, Any], proposer: Actor, checker: Actor
                        ) -> Mapping[str, Any]:
                from creditpay.credit import catalogue_versions

                out = catalogue_versions.activate(
                    tx, self.packaged_catalogue, kind, payload, proposed_by=proposer.id,
                    activated_by=checker.id)
                # This process's services use the new version once it is committed.
                tx.after_commit(lambda: self.refresh_catalogue(force=True))
                return out
            return execute

        def arrange_funding(tx: Tx, payload: Mapping[str, Any], proposer: Actor,
                            checker: Actor) -> Mapping[str, Any]:
            from creditpay.credit import funding

            product = self.catalogue.get(str(payload["product_code"]),
                                         int(payload["product_version"]))
            out = funding.set_arrangement(
                tx, proposer.id, product=product,
                arrangement_type=str(payload["arrangement_type"]),
                partners=list(payload["partners"]),
                platform_share_bps=payload["platform_share_bps"],
                guarantee_bps=int(payload["guarantee_bps"]), fallback=str(payload["fallback"]),
                caps=self.catalogue.caps(product.jurisdiction), approved_by=checker.id)
            # The catalogue carries the arrangements: this process routes with it at once.
            tx.after_commit(lambda: self.refresh_catalogue(force=True))
            return out

        def change_partner_terms(tx: Tx, payload: Mapping[str, Any], proposer: Actor,
                                 checker: Actor) -> Mapping[str, Any]:
            from creditpay.parties import partners
            from creditpay.reporting.data_sharing import SHAREABLE_FIELDS

            return partners.change_terms(tx, proposer.id, str(payload["partner_id"]),
                                         payload["terms"], shareable_fields=SHAREABLE_FIELDS,
                                         approved_by=checker.id)

        def decide_dispute(tx: Tx, payload: Mapping[str, Any], proposer: Actor
                           ) -> Mapping[str, Any]:
            note = payload.get("note")
            return self.payments.disputes.decide(
                tx, proposer.id, str(payload["dispute_id"]), outcome=str(payload["outcome"]),
                note=None if note is None else str(note))

        staff = frozenset({"admin", "risk_analyst"})
        return {action.kind: action for action in (
            ControlledAction("dispute.decide", staff, decide_dispute),
            ControlledAction("credit_line.grant", staff, grant_line),
            ControlledAction("credit_line.limit", staff, change_limit),
            ControlledAction("credit_referral.approve", staff, approve_referral),
            ControlledAction("write_off.reverse", staff, reverse_write_off),
            ControlledAction("model.promote", staff, promote_model),
            ControlledAction("playbook.run", staff, run_playbook),
            ControlledAction("fraud_rules.activate", staff, activate_fraud_rules),
            ControlledAction("credit_policy.activate", staff, activate_credit_policy),
            ControlledAction("product.change", staff, change_catalogue("product"),
                             with_checker=True),
            ControlledAction("caps.change", staff, change_catalogue("caps"),
                             with_checker=True),
            ControlledAction("funding.arrange", staff, arrange_funding, with_checker=True),
            ControlledAction("partner.terms", staff, change_partner_terms,
                             with_checker=True))}

    @cached_property
    def payments(self) -> Payments:
        from creditpay.payments.service import Payments, PaymentsPolicy
        from creditpay.risk.fraud.cases import DEFAULT_CASE_POLICY, open_payment_case

        policy = dataclasses.replace(self.options.payments_policy or PaymentsPolicy(),
                                     currencies=self.currencies)
        return Payments(parties=self.parties, rail=self.rail, risk=self.risk,
                        credit=self.credit, origination=self.origination, policy=policy,
                        on_review=functools.partial(
                            open_payment_case,
                            policy=self.options.fraud_case_policy or DEFAULT_CASE_POLICY),
                        fx_config=self.fx_config, fx_rate_source=lambda: self.fx_rate_source)

    @cached_property
    def complaint_subjects(self) -> ComplaintSubjects:
        from creditpay.payments.complaint_subjects import complaint_subjects

        return complaint_subjects(self.payments)

    # ------------------------------------------------------------------ webhooks
    @cached_property
    def webhooks_allow_private(self) -> bool:
        allow = (self.options.webhooks_allow_private
                 if self.options.webhooks_allow_private is not None
                 else self.settings.webhooks_allow_private)
        if allow:
            _log.warning("WEBHOOKS MAY TARGET LOOPBACK AND PRIVATE ADDRESSES, OVER HTTP TOO "
                         "(CREDITPAY_WEBHOOKS_ALLOW_PRIVATE is on): development only, never "
                         "in production")
        return allow

    @cached_property
    def webhook_limits(self) -> DeliveryLimits:
        from creditpay.payments.webhooks import DeliveryLimits

        return self.options.webhook_limits or DeliveryLimits()

    @cached_property
    def webhooks(self) -> WebhookDispatcher:
        """The delivery worker, with lookup threads of its own (registration has others, so
        neither can use up the other's)."""
        from creditpay.payments.webhooks import WebhookDispatcher
        from creditpay.platform.webhook_targets import HostLookup, WebhookTargets

        limits = self.webhook_limits
        delivery = WebhookTargets(self.webhooks_allow_private, HostLookup(
            self.options.webhook_resolve, threads_max=limits.in_flight_max,
            per_key_max=limits.per_merchant_max))
        return WebhookDispatcher(self.uow, self.parties, delivery, limits=limits,
                                 verify=self.options.webhook_tls_verify)

    @cached_property
    def webhook_targets(self) -> WebhookTargets:
        """The checks a merchant's webhook URL passes when it is set."""
        from creditpay.platform.webhook_targets import HostLookup, WebhookTargets

        return WebhookTargets(self.webhooks_allow_private, HostLookup(
            self.options.webhook_resolve, threads_max=REGISTRATION_LOOKUPS_MAX,
            per_key_max=2))

    # ------------------------------------------------------------------ assistant
    @cached_property
    def assistant(self) -> Assistant:
        """The customer-service assistant of this process (issue #20): its classifier is
        trained and its index built on first use, once per Services (never a module
        global), with this process's catalogue (it needs no key)."""
        from creditpay.assistant.llm import LlmRephraser
        from creditpay.assistant.service import Assistant

        url = self.settings.assistant_llm_url
        llm = LlmRephraser(url, self.settings.assistant_llm_model) if url else None
        return Assistant(catalogue=self.catalogue, llm=llm, fx_config=self.fx_config)

    # ------------------------------------------------------------------ risk
    @cached_property
    def bureau(self) -> BureauAdapter:
        from creditpay.risk.bureau import SimulatedBureau

        bureau = self.options.bureau or SimulatedBureau(0)
        if isinstance(bureau, SimulatedBureau):
            development_feature(self.settings, "the simulated credit bureau", None)
        return bureau

    # ------------------------------------------------------------------ foreign exchange
    @cached_property
    def currencies(self) -> tuple[str, ...]:
        """The currencies the platform operates in: the process's choice, else
        ``CREDITPAY_CURRENCIES``."""
        return self.options.currencies or self.settings.operated_currencies

    @cached_property
    def fx_config(self) -> FxConfig:
        """The FX markups, quote lock and limits in force (versioned data), loaded once per
        Services: the given one, else ``CREDITPAY_FX_CONFIG``, else the packaged file."""
        from creditpay.fx.config import load_fx_config

        return self.options.fx_config or load_fx_config(self.settings.fx_config)

    @cached_property
    def fx_rate_source(self) -> RateSource:
        """Where the day's mid rates come from: the given source, else the one
        ``CREDITPAY_FX_RATE_SOURCE`` names. Production mode refuses the simulated source
        unless development features are allowed (then it is logged at WARNING)."""
        from creditpay.fx.rates import SimulatedRateSource, build_rate_source

        source = self.options.fx_rate_source or build_rate_source(
            self.settings.fx_rate_source, home_currency=self.fx_config.home_currency)
        if isinstance(source, SimulatedRateSource):
            variable = env_name("fx_rate_source")
            if self.settings.mode == "production" \
                    and not self.settings.allow_development_features:
                raise ValidationError(
                    f"production mode (CREDITPAY_MODE=production) refuses the simulated FX "
                    f"rate source: set {variable} to a CSV feed, or "
                    f"{env_name('allow_development_features')}=true to run with it anyway",
                    field=variable)
            development_feature(self.settings, "the simulated FX rate source", None)
        return source

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Services:
        """What a serving process (API, simulator) does once before its first request: the
        first data key (in its own transaction: SQLite serialises writers, so creating it
        inside a business transaction would wait on itself), the platform's ledger accounts
        per currency, and the audit checkpointer (a process whose seals could not be
        checkpointed must not come up)."""
        _ = self.bureau  # production refuses the simulated bureau now, not at a request
        self.vault.ensure_active_key()
        _ = self.payments
        for currency in self.currencies:
            self.uow.run(functools.partial(_platform_accounts, currency=currency))
        _ = self.audit_checkpointer
        return self

    def close(self) -> None:
        """Persist what the risk gateway keeps in memory and release the connections."""
        risk: Any = self.__dict__.get("risk")
        close_risk = getattr(risk, "close", None)
        if callable(close_risk):
            close_risk()  # e.g. persist the fraud screener's streaming state
        self.engine.dispose()
