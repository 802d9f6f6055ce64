"""One way every creditpay process logs: structlog over the standard library, one JSON object
per line.

:func:`configure_logging` is called once by each entry point (``creditpay serve``, the job
worker and scheduler, the command line). After it, every record, whether logged through
``logging.getLogger(...)`` (creditpay's modules, uvicorn, SQLAlchemy, alembic, httpx) or
through ``structlog.get_logger()``, is rendered by the same processors:

- ``timestamp`` (ISO-8601, UTC), ``level``, ``logger``, ``event`` and the record's fields
  (``extra=`` of a stdlib call, keyword arguments of a structlog call);
- the context bound for the current request or job (``request_id``, see
  :func:`bind_request_id`) through structlog's contextvars;
- an exception's traceback as text in ``exception``;
- every value masked by :func:`creditpay.platform.logging_filter.mask_event_dict` (phone
  numbers, ID numbers, card numbers, e-mail addresses, tokens, API keys, passwords) as the
  last step before rendering;
- ``json`` (default): one JSON object per line on stderr; ``console``: structlog's coloured
  key=value lines for a developer's terminal.

The standard-library integration is structlog's ``ProcessorFormatter`` on one root handler,
so a library's records need no special treatment. The record factory of
:func:`~creditpay.platform.logging_filter.install_pii_log_filter` stays installed too (a
second, independent guard for handlers other libraries might add).
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Protocol, TextIO

import structlog

from creditpay.platform.logging_filter import install_pii_log_filter, mask_event_dict

__all__ = ["LogSettings", "configure_logging", "bind_request_id", "current_request_id",
           "reset_request_id", "LOG_FORMATS", "LOG_LEVELS"]

LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Libraries whose own handlers would print a second, plain-text copy of their records.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "sqlalchemy",
                    "httpx", "procrastinate")
# The request id of the request being served (also bound in structlog's contextvars as
# ``request_id``); read by the API's problem responses.
_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "creditpay_request_id", default=None)


class LogSettings(Protocol):
    """What :func:`configure_logging` reads (``creditpay.config.Settings`` has both; the
    platform layer cannot import config, which sits above it)."""

    @property
    def log_level(self) -> str: ...

    @property
    def log_format(self) -> str: ...


class _StderrHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler writing to whatever ``sys.stderr`` is at the time of each record (as
    the standard library's last-resort handler does), so a replaced stderr (a test runner's
    capture, a closed one) never receives stale writes."""

    # Its formatter ends with mask_event_dict, so install_pii_log_filter adds no filter.
    masks_pii = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


# Attributes every LogRecord has (and those formatters add): anything else came from extra=.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName"}


def _add_extra(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
               ) -> MutableMapping[str, Any]:
    """The ``extra=`` fields of a standard-library record as fields of the line (structlog's
    ExtraAdder would also copy ``message``, which another handler's formatter may have set
    on the record)."""
    record = event_dict.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


def _renderer(log_format: str) -> Any:
    if log_format == "console":
        return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.processors.JSONRenderer(sort_keys=False, default=str)


def configure_logging(settings: LogSettings) -> None:
    """Route every log record of this process through structlog to stderr, as JSON lines
    (``settings.log_format == "json"``) or console lines, at ``settings.log_level`` and
    above. Idempotent: a second call replaces the handler the first one installed (and
    leaves handlers others added, such as a test runner's, alone)."""
    log_format = settings.log_format
    level_name = settings.log_level.lower()
    if log_format not in LOG_FORMATS:
        from creditpay.errors import ValidationError

        raise ValidationError(f"must be one of {list(LOG_FORMATS)}", field="CREDITPAY_LOG_FORMAT")
    if level_name not in LOG_LEVELS:
        from creditpay.errors import ValidationError

        raise ValidationError(f"must be one of {list(LOG_LEVELS)}", field="CREDITPAY_LOG_LEVEL")
    level = logging.getLevelNamesMapping()[level_name.upper()]
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    # Fields every line gets, whichever API logged it.
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
    ]
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # Records from the standard library (every library, and creditpay's own modules).
        foreign_pre_chain=[*shared, _add_extra],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last before rendering: every value, the traceback text included.
            mask_event_dict,
            _renderer(log_format),
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.set_name("creditpay")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "creditpay"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for old in list(library.handlers):
            library.removeHandler(old)
        library.propagate = True
    # Chatty at INFO: SQLAlchemy's engine echoes every statement, alembic lists its plugins
    # each time it loads, httpx logs every request it sends (the access log has ours).
    for chatty in ("sqlalchemy.engine", "alembic.runtime.plugins", "httpx"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    # The API writes its own access line (creditpay.access: route template, status,
    # duration, request id); uvicorn's would say the same twice, whatever order uvicorn's
    # own logging set-up and this one ran in (a `--workers` process runs this after it).
    logging.getLogger("uvicorn.access").setLevel(max(level, logging.WARNING))
    install_pii_log_filter()  # on the root logger and its handlers, this one included


def bind_request_id(request_id: str) -> tuple[contextvars.Token[str | None], Any]:
    """Bind ``request_id`` for every line logged in this context (the request being served);
    returns what :func:`reset_request_id` needs to unbind it."""
    tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
    return _REQUEST_ID.set(request_id), tokens


def reset_request_id(bound: tuple[contextvars.Token[str | None], Any]) -> None:
    token, tokens = bound
    _REQUEST_ID.reset(token)
    structlog.contextvars.reset_contextvars(**tokens)


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return _REQUEST_ID.get()
