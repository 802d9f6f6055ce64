"""Process configuration: every ``CREDITPAY_*`` environment variable, read once, in one place.

:class:`Settings` (pydantic-settings) is the only reader of the environment for creditpay's
own settings; every other module receives values from it (the bootstrap passes them in). A
value that does not parse is an error naming the variable, never a silent default: a typo in
a yes/no switch must not turn a safeguard off. Secrets are ``SecretStr`` (never printed).
The README's settings table is generated from these fields (``scripts/settings_table.py``;
tests/core/test_config.py checks that it matches).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from pydantic import Field, SecretStr, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from creditpay.errors import ValidationError

if TYPE_CHECKING:
    from creditpay.platform.keys import KeySources

__all__ = ["Settings", "ENV_PREFIX", "DEFAULT_SQLITE_PATH", "DEFAULT_CHECKPOINT_ROOT",
           "AUDIT_CHECKPOINT_DIR_ENV", "AUDIT_TRUSTED_KEYS_ENV", "parse_database_url",
           "default_checkpoint_dir", "parse_public_keys", "env_name", "settings_table",
           "DEV_TOOL_VARIABLES", "README_TABLE_START", "README_TABLE_END",
           "check_business_date", "check_time_of_day"]

ENV_PREFIX = "CREDITPAY_"
DEFAULT_SQLITE_PATH = Path("var") / "creditpay.db"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH}"
# Where audit checkpoints go when the database is not a SQLite file (docs/security.md §6).
DEFAULT_CHECKPOINT_ROOT = Path("var") / "audit-checkpoints"
AUDIT_CHECKPOINT_DIR_ENV = "CREDITPAY_AUDIT_CHECKPOINT_DIR"
AUDIT_TRUSTED_KEYS_ENV = "CREDITPAY_AUDIT_TRUSTED_KEYS"
# Variables read by development tools, not by the platform: creditpay.devtools sits beside
# config in the layers and runs before any Settings exist (the test suite starts its own
# PostgreSQL server with it), so it reads its one variable itself. Listed here so the
# README table is complete.
DEV_TOOL_VARIABLES: dict[str, str] = {
    "CREDITPAY_PG_BIN": "Development tools only: the folder holding PostgreSQL's initdb and "
                        "pg_ctl for the test server (default: PATH, then Debian's "
                        "versioned folders).",
}
README_TABLE_START = "<!-- settings-table:start (scripts/settings_table.py) -->"
README_TABLE_END = "<!-- settings-table:end -->"
_PUBLIC_KEY = re.compile(r"[0-9a-f]{64}")
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
# A URL scheme (RFC 3986 §3.1) followed by ':'. Two characters at least, so that a Windows
# drive letter ("C:\\x.db") is still read as a path.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_SQLITE_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite"})
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+psycopg"})


def env_name(field_name: str) -> str:
    """The environment variable of a :class:`Settings` field."""
    return ENV_PREFIX + field_name.upper()


def parse_database_url(text: str, *, field: str = "--db") -> str:
    """A database given as a URL or a plain path, as the URL creditpay opens.

    ``sqlite:///path`` and ``sqlite://`` (in memory), ``postgresql://...`` (also
    ``postgres://`` and ``postgresql+psycopg://``) are URLs; anything without a scheme is a
    path, meaning SQLite at that path. Anything else that looks like a URL (``sqlite:x.db``,
    ``mysql://...``) is refused rather than taken for a file name: that is how ``--db
    sqlite:///x.db`` once created a folder named ``sqlite:``.
    """
    text = text.strip()
    if not text:
        raise ValidationError("must be a database URL or a file path", field=field)
    scheme = _SCHEME.match(text)
    if scheme is None:
        return f"sqlite:///{text}"
    name = scheme.group(1).lower()
    rest = text[scheme.end():]
    if not rest.startswith("//"):
        raise ValidationError(f"{text!r} is neither a URL (scheme://...) nor a plain path",
                              field=field)
    if name in _SQLITE_SCHEMES:
        return "sqlite:" + rest
    if name in _POSTGRES_SCHEMES:
        return "postgresql+psycopg:" + rest
    raise ValidationError(f"unsupported database URL scheme {name!r} (sqlite or postgresql)",
                          field=field)


def default_checkpoint_dir(database_url: str) -> Path:
    """The audit checkpoint directory used when none is configured.

    A SQLite file ``DIR/NAME.db`` gets ``DIR/NAME.audit-checkpoints`` (one store per file, so
    two databases never share one); any other database gets
    ``var/audit-checkpoints/<database name>``. An in-memory database has no default: its
    chain dies with the process, and a store shared by such chains would only hold stale
    checkpoints. In production set ``CREDITPAY_AUDIT_CHECKPOINT_DIR`` to a directory the
    database role cannot write.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(parse_database_url(database_url, field="database_url"))
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite":
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ValidationError(
                f"an in-memory database has no default audit checkpoint directory; set "
                f"{AUDIT_CHECKPOINT_DIR_ENV}", field="audit_checkpoint_dir")
        path = Path(database)
        return path.with_name(path.stem + ".audit-checkpoints")
    if not _DATABASE_NAME.fullmatch(database):
        raise ValidationError(f"cannot derive a checkpoint directory from database name "
                              f"{database!r}; set {AUDIT_CHECKPOINT_DIR_ENV}",
                              field="audit_checkpoint_dir")
    return DEFAULT_CHECKPOINT_ROOT / database


def parse_public_keys(text: str | None, *, field: str) -> tuple[str, ...]:
    """Comma- or space-separated hex Ed25519 public keys (64 lower-case hex characters)."""
    keys = tuple(part.strip().lower() for part in re.split(r"[,\s]+", text or "")
                 if part.strip())
    for key in keys:
        if not _PUBLIC_KEY.fullmatch(key):
            raise ValidationError("must be hex Ed25519 public keys (64 hex characters each)",
                                  field=field)
    return keys


class Settings(BaseSettings):
    """Every ``CREDITPAY_*`` variable, typed. Build it with :meth:`from_env` (the process
    environment or a given mapping) or :meth:`of` (explicit values only, no environment:
    simulations and tests that must not depend on the shell they run in)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, case_sensitive=False,
                                      env_ignore_empty=True, extra="ignore", frozen=True,
                                      validate_default=True)

    mode: Literal["development", "production"] = Field(
        "development",
        description="`development` (the default: the embedded SQLite database is migrated on "
                    "open and background jobs run in the API process) or `production`: "
                    "development conveniences are refused unless explicitly allowed, "
                    "migrations run only by `creditpay db upgrade`, and jobs run in "
                    "`creditpay worker` / `creditpay scheduler`, never in the API process.")
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="Database URL (`sqlite:///path`, `postgresql://...`) or a SQLite file "
                    "path. Commands' `--db` overrides it.")
    master_key: SecretStr | None = Field(
        None, description="Master key, base64 of 32 bytes: wraps the vault's data keys; the "
                          "token, blind-index and audit-signing keys derive from it unless "
                          "pinned. Set it or MASTER_KEY_FILE, not both.")
    master_key_file: Path | None = Field(
        None, description="File (mode 0600) holding the master key in base64.")
    token_key: SecretStr | None = Field(
        None, description="Access-token signing key, base64 of at least 32 bytes (default: "
                          "derived from the master key).")
    blind_index_key: SecretStr | None = Field(
        None, description="Blind-index HMAC key, base64 of 32 bytes (default: derived from "
                          "the master key; pin it in production so a master-key change keeps "
                          "the indexes).")
    blind_index_key_file: Path | None = Field(
        None, description="File (mode 0600) holding the blind-index key.")
    audit_signing_key: SecretStr | None = Field(
        None, description="Ed25519 seed (base64 of 32 bytes) that signs audit checkpoints "
                          "(default: derived from the master key).")
    audit_signing_key_file: Path | None = Field(
        None, description="File (mode 0600) holding the audit signing seed.")
    audit_checkpoint_dir: Path | None = Field(
        None, description="Where signed audit checkpoints are written (default: "
                          "NAME.audit-checkpoints next to a SQLite file, else "
                          "var/audit-checkpoints/DBNAME). In production, a directory the "
                          "database role cannot write.")
    audit_trusted_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Earlier audit public keys (hex, comma or space separated) whose "
                        "checkpoints stay trusted after a signing-key change.")
    allow_development_features: bool = Field(
        False, description="Production mode only: let the development conveniences run "
                           "(the dev inbox, webhooks to private addresses, the simulated "
                           "card rail and bureau); each is logged at WARNING. Without it "
                           "production mode refuses to start with any of them.")
    webhooks_allow_private: bool = Field(
        False, description="Development only: merchant webhooks may target loopback and "
                           "private addresses, over http too. Logged when on.")
    dev_inbox: bool = Field(
        False, description="Development only: GET /v1/dev/inbox shows the codes and notices "
                           "sent to simulated phones and e-mails. Logged when on.")
    business_date: str | None = Field(
        None, description="Serve the database (`creditpay serve`, also `--business-date`) "
                          "and run every command on it at its own business date instead of "
                          "today's: "
                          "YYYY-MM-DD, or 'db' for the day after its last close of business "
                          "(a simulation's next day). Business time starts there at 09:00 "
                          "UTC and runs with the wall clock.")
    fraud_screening: bool = Field(
        True, description="Screen every payment for fraud (rules, block lists, and the model "
                          "when one is configured). On by default; `false` turns it off "
                          "(allow-all: no screening is stored), which every process logs "
                          "at WARNING when it starts.")
    fraud_model_dir: Path | None = Field(
        None, description="Folder of a trained fraud model (`FraudModel.save`; default: "
                          "none, the shipped rules decide alone).")
    fraud_rules: Path | None = Field(
        None, description="Fraud rules document (JSON or YAML) to start with (default: the "
                          "rules the package ships, risk/fraud/default_rules.json) until a "
                          "stored rule set is activated.")
    four_eyes_threshold_minor: int = Field(
        5_000_000, ge=0, le=10**15,
        description="Four-eyes control: a credit line granted with a limit above this "
                    "(minor units; default 50,000.00) is a proposal a second operator "
                    "approves (POST /v1/operator/approvals/{id}/approve).")
    operator_token: SecretStr | None = Field(
        None, description="The staff commands' credential (instead of `--token`): an "
                          "operator's `cpo_` token from `creditpay operator-create`, or a "
                          "login token from POST /v1/operator/auth/login. The command acts "
                          "as that operator, with its role from the database.")
    funding_rate_bps: int = Field(
        500, ge=0, le=10_000,
        description="The platform's cost of the money it lends itself, basis points a year: "
                    "the console's and `reports dashboard pnl`'s funding cost on own-funded "
                    "principal (the simulator's default too). A request's "
                    "`funding_rate_bps` / `--funding-rate-bps` overrides it.")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="The least severe log records written (any case: `INFO` works "
                            "too). Every process logs one JSON object per line (see "
                            "docs/operations.md, Observability).")
    log_format: Literal["json", "console"] = Field(
        "json", description="`json` (one JSON object per line, what a log pipeline reads) "
                            "or `console` (coloured key=value lines for a developer's "
                            "terminal). Personal data is masked in both.")
    metrics_enabled: bool = Field(
        True, description="Serve Prometheus metrics at GET /metrics (no token; restrict it "
                          "at the network edge, or turn it off here).")
    otel_enabled: bool = Field(
        False, description="OpenTelemetry tracing: a span per request (and per SQL "
                           "statement). Needs the `otel` extra: pip install "
                           "'creditpay[otel]'.")
    otel_exporter: Literal["console", "otlp"] = Field(
        "console", description="Where spans go when tracing is on: `console` (one JSON "
                               "object per span on stdout) or `otlp` (OTLP over HTTP to "
                               "OTEL_EXPORTER_OTLP_ENDPOINT, default "
                               "http://localhost:4318).")
    spark_master: str = Field(
        "local[2]", description="Where `creditpay cob run --engine spark` runs its tasks: "
                                "Spark local mode on this machine's cores (default), or a "
                                "cluster's master URL (spark://host:7077, yarn, k8s://...). "
                                "docs/spark.md.")
    spark_partitions: int | None = Field(
        None, ge=1, le=100_000,
        description="Account partitions per chunk for the Spark engine (default: the "
                    "cluster's default parallelism).")
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark configuration for the Spark engine, as JSON: "
                    '{"spark.executor.memory": "4g", "spark.jars": "/path/postgresql.jar"}.')
    approval_ttl_hours: int = Field(
        72, ge=1, le=720,
        description="Hours a four-eyes proposal can be approved or rejected before it "
                    "expires.")
    nightly_at: str = Field(
        "00:30", description="Time of day (HH:MM, business time: UTC) at which `creditpay "
                             "scheduler` (or the development server's in-process runner) "
                             "starts the nightly batch for the business date that just ended.")
    jobs_period_s: int = Field(
        2, ge=1, le=60,
        description="Seconds between two runs of the frequent jobs: merchant webhook delivery "
                    "and the card rail's due callbacks.")
    audit_seal_period_s: int = Field(
        5, ge=1, le=60,
        description="Seconds between two audit seals (with the signed checkpoint): the bound "
                    "on how long a committed audit record stays outside the hash chain "
                    "(docs/security.md, protection window).")
    jobs_stalled_after_s: int = Field(
        30, ge=2, le=3600,
        description="Seconds without a heartbeat after which a worker counts as dead and its "
                    "running jobs are retried by `creditpay scheduler` (PostgreSQL queue).")
    assistant_llm_url: str | None = Field(
        None, pattern=r"^https?://[^\s]+$",
        description="The customer-service assistant's optional local LLM (off when unset): "
                    "the base URL of an OpenAI-compatible chat server (llama.cpp, ollama), "
                    "e.g. http://127.0.0.1:8080. It may only rephrase the assistant's "
                    "template answer; intents, figures and actions never come from it "
                    "(docs/assistant.md).")
    assistant_llm_model: str = Field(
        "local", min_length=1, max_length=128,
        description="The model name sent to the assistant's LLM server (when "
                    "CREDITPAY_ASSISTANT_LLM_URL is set).")
    fx_rate_source: str = Field(
        "simulated", min_length=1, max_length=1024,
        description="Where FX mid rates come from (docs/fx.md): `simulated` (seeded, "
                    "deterministic per date; `simulated:SEED` for another seed) or the path "
                    "of a CSV feed with the columns `as_of,base,quote,mid_rate`.")
    fx_config: Path | None = Field(
        None, description="A JSON file of FX markups per currency pair, the quote lock and "
                          "the consumer limits in CNY, with its `version` (docs/fx.md); unset: "
                          "the packaged `creditpay/fx/fx_config.json`.")

    currencies: str = Field(
        "CNY", min_length=3, max_length=256,
        description="The currencies the platform operates in (ledger accounts, merchants' "
                    "settlement currencies), comma separated ISO 4217 codes, the consumers' "
                    "CNY first; e.g. `CNY,JPY,USD,EUR,THB,KRW` lets foreign merchants settle "
                    "in their own currency (paying abroad, docs/cross_border.md).")

    @field_validator("currencies", mode="after")
    @classmethod
    def _currencies(cls, value: str) -> str:
        from creditpay.money import validate_currency

        codes = [code.strip() for code in value.split(",") if code.strip()]
        for code in codes:
            validate_currency(code, env_name("currencies"))
        if not codes or codes[0] != "CNY" or len(set(codes)) != len(codes):
            raise ValidationError("must list CNY first and each currency once, e.g. CNY,JPY",
                                  field=env_name("currencies"))
        return ",".join(codes)

    @property
    def operated_currencies(self) -> tuple[str, ...]:
        """:attr:`currencies` as a tuple of codes."""
        return tuple(self.currencies.split(","))

    @field_validator("fx_rate_source", mode="after")
    @classmethod
    def _fx_rate_source(cls, value: str) -> str:
        text = value.strip()
        if re.fullmatch(r"simulated(:\d{1,9})?", text) or text.lower().endswith(".csv"):
            return text
        raise ValidationError("must be 'simulated', 'simulated:SEED' or the path of a .csv "
                              "file", field=env_name("fx_rate_source"))

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    serve_jobs: bool = Field(
        True, description="Development mode: `creditpay serve` runs the background jobs "
                          "(card-rail callbacks, audit sealing, webhook delivery) in the API "
                          "process; `--jobs/--no-jobs` sets it. Always off in production mode "
                          "and with `--workers` above 1 (N processes would run every job N "
                          "times): `creditpay worker` and `creditpay scheduler` run them.")
    rate_limit_ip: Annotated[tuple[int, float], NoDecode] = Field(
        (600, 100.0), description="Rate limit per client IP, `burst,per_second` (e.g. `600,100`): "
                                  "`burst` requests at once, refilled at `per_second`. On "
                                  "PostgreSQL every API process shares it (in the database); "
                                  "over it: 429 with Retry-After.")
    rate_limit_credential: Annotated[tuple[int, float], NoDecode] = Field(
        (300, 50.0), description="Rate limit per credential (API key or token), "
                                 "`burst,per_second`, shared like the IP's.")
    rate_limit_login: Annotated[tuple[int, float], NoDecode] = Field(
        (10, 0.1), description="Login attempts per phone, e-mail or operator id, "
                               "`burst,per_second`, checked before any password work.")

    @field_validator("rate_limit_ip", "rate_limit_credential", "rate_limit_login",
                     mode="before")
    @classmethod
    def _rate_limit(cls, value: Any) -> tuple[int, float]:
        """``burst,per_second`` (``[burst, per_second]`` too), or a pair."""
        try:
            if isinstance(value, str):
                value = value.strip().strip("[]()").split(",")
            burst_text, per_second_text = value
            burst, per_second = int(str(burst_text).strip()), float(str(per_second_text).strip())
        except (TypeError, ValueError):
            raise ValueError("expected burst,per_second (e.g. 600,100)") from None
        if burst < 1 or not 0 < per_second < float("inf"):
            raise ValueError("needs burst >= 1 and per_second > 0 (e.g. 600,100)")
        return burst, per_second

    @field_validator("spark_conf", mode="before")
    @classmethod
    def _spark_conf(cls, value: Any) -> Any:
        # JSON text from an explicit environment mapping (pydantic-settings parses the
        # process environment's itself).
        if isinstance(value, str):
            import json

            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("must be a JSON object of Spark settings") from None
        return value

    @field_validator("business_date")
    @classmethod
    def _business_date(cls, value: str | None) -> str | None:
        return check_business_date(value)

    @field_validator("nightly_at")
    @classmethod
    def _nightly_at(cls, value: str) -> str:
        check_time_of_day(value, env_name("nightly_at"))
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return parse_database_url(value, field=env_name("database_url"))

    @field_validator("audit_trusted_keys", mode="before")
    @classmethod
    def _trusted_keys(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or value is None:
            return parse_public_keys(value, field=AUDIT_TRUSTED_KEYS_ENV)
        return parse_public_keys(" ".join(value), field=AUDIT_TRUSTED_KEYS_ENV)

    @classmethod
    def from_env(cls, database_url: str | None = None,
                 environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of this process (``environ``: a mapping read instead of
        ``os.environ``); ``database_url`` (a command's ``--db``) wins over the variable.
        A bad value raises :class:`creditpay.errors.ValidationError` naming the variable."""
        overrides: dict[str, Any] = {}
        if database_url:
            overrides["database_url"] = database_url
        try:
            if environ is None:
                return cls(**overrides)
            values: dict[str, Any] = {}
            for name in cls.model_fields:
                text = environ.get(env_name(name), "")
                if text != "":
                    values[name] = text
            return cls.of(**{**values, **overrides})
        except PydanticValidationError as exc:
            raise _named(exc) from None

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Settings from these values and the defaults only, never the environment."""
        try:
            return _ExplicitSettings(**values)
        except PydanticValidationError as exc:
            raise _named(exc) from None

    def checkpoint_dir(self) -> Path:
        """The audit checkpoint directory: configured, else the default for the database."""
        if self.audit_checkpoint_dir is not None:
            return Path(self.audit_checkpoint_dir)
        return default_checkpoint_dir(self.database_url)

    def key_sources(self) -> KeySources:
        """The key settings as the platform's key loaders take them."""
        from creditpay.platform.keys import KeySources

        return KeySources(master_key=self.secret("master_key"),
                          master_key_file=self.master_key_file,
                          blind_index_key=self.secret("blind_index_key"),
                          blind_index_key_file=self.blind_index_key_file,
                          audit_signing_key=self.secret("audit_signing_key"),
                          audit_signing_key_file=self.audit_signing_key_file)

    def secret(self, name: str) -> str | None:
        """The plain value of the secret field ``name`` (None when unset)."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else None


class _ExplicitSettings(Settings):
    """:class:`Settings` whose only source is the values given (no environment, no file)."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _named(exc: PydanticValidationError) -> ValidationError:
    """pydantic's error as creditpay's, naming the environment variable (never its value:
    it may be a secret)."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    name = env_name(field) if field in Settings.model_fields else field
    message = str(error.get("msg", "is invalid"))
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ValidationError):
        message = cause.detail
    return ValidationError(f"{name}: {message}", field=name)


def settings_table() -> str:
    """The README's table of settings (Markdown), generated from :class:`Settings`."""
    rows = ["| Variable | Type | Default | What it does |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        kind = _type_name(annotation)
        default = info.get_default(call_default_factory=True)
        if default in (None, (), "", {}):
            shown = "unset"
        elif isinstance(default, bool):
            shown = "`true`" if default else "`false`"
        elif _is_rate_limit(annotation):
            shown = f"`{default[0]},{default[1]:g}`"
        else:
            shown = f"`{default}`"
        rows.append(f"| `{env_name(name)}` | {kind} | {shown} | {info.description} |")
    for variable, description in DEV_TOOL_VARIABLES.items():
        rows.append(f"| `{variable}` | path | unset | {description} |")
    return "\n".join(rows) + "\n"


def _is_rate_limit(annotation: Any) -> bool:
    return "tuple[int, float]" in str(annotation)


def _type_name(annotation: Any) -> str:
    text = str(annotation)
    if "SecretStr" in text:
        return "secret (base64)"
    if "Path" in text:
        return "path"
    if _is_rate_limit(annotation):
        return "`burst,per_second` (integer, number)"
    if "tuple" in text:
        return "list of hex keys"
    if annotation is bool:
        return "boolean (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`)"
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{choice}`" for choice in get_args(annotation))
    return "string"


def check_time_of_day(value: str, field: str) -> dt.time:
    """``HH:MM`` (24-hour) as a time, or ValidationError naming ``field``."""
    if not isinstance(value, str) or re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value) is None:
        raise ValidationError("must be a time of day HH:MM (00:00 to 23:59)", field=field)
    return dt.time(int(value[:2]), int(value[3:]))


def check_business_date(value: str | None, field: str | None = None) -> str | None:
    """A business-date setting: None, ``YYYY-MM-DD`` or ``db``; ValidationError naming
    ``field`` (default: the variable) otherwise."""
    if value is None or value == "db":
        return value
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError("must be YYYY-MM-DD or 'db'",
                              field=field or env_name("business_date")) from None
    return value
