"""Point-in-time feature computation, the one code path for decisions and training sets.

Online (:func:`compute_features`) and offline (:func:`build_training_set`) both reduce a
customer's platform events to those with ``occurred_at < as_of`` and then run the declared
computations of :mod:`.declarations` in order. An event at or after the as-of time can never
reach a computation, so a training row cannot see its own future (no leakage), and a decision
replayed later sees exactly what it saw then.

Platform events are a plain table (``customer_id, occurred_at, kind, amount_minor,
merchant_category`` and, for ``device_seen``, ``device_id``) as rows (mappings), a pandas or
a polars frame, so this module does not depend on the payments or parties tables
(:mod:`.platform` builds the table from their public read functions).

Event kinds: ``payment``, ``refund``, ``credit_drawdown``, ``repayment``, ``repayment_late``
(the original five), ``top_up`` (a wallet top-up that succeeded), ``top_up_failed`` (a card
top-up the rail declined or that failed), ``payment_declined`` (a payment intent declined)
and ``device_seen`` (the customer used a device: its first registration and every sign-in
session; ``device_id`` names it, ``amount_minor`` is 0).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from creditpay.errors import ValidationError
from creditpay.risk.features.declarations import FEATURES, age_in_whole_years

__all__ = [
    "EMPLOYMENT_TYPES",
    "EVENT_KINDS",
    "HOUSING_TYPES",
    "FeatureInputs",
    "PlatformEvent",
    "application_from_store",
    "application_to_store",
    "build_training_set",
    "compute_features",
    "events_by_customer",
    "history_document",
    "history_from_document",
    "normalise_events",
    "validate_application",
]

EVENT_KINDS = frozenset({"payment", "refund", "credit_drawdown", "repayment", "repayment_late",
                         "top_up", "top_up_failed", "payment_declined", "device_seen"})
EMPLOYMENT_TYPES = frozenset({"salaried", "self_employed", "student", "retired", "unemployed"})
HOUSING_TYPES = frozenset({"rent", "own", "mortgage", "family", "other"})
DEVICE_ID_CHARS_MAX = 64
EVENTS_PER_CUSTOMER_MAX = 100_000  # a bound on online work; more is a data error, not history
INCOME_MINOR_MAX = 10**12
_OPTIONAL_FIELDS = frozenset({"housing", "declared_monthly_obligations_minor"})


class PlatformEvent(NamedTuple):
    """One platform event; ordered by time first so sorting gives the history.

    A named tuple rather than a frozen dataclass: a decision builds one per event of the
    applicant's history (thousands for an active customer), and a frozen dataclass costs
    about three times as much to construct (measured: 1.6 µs against 0.6 µs).
    """

    occurred_at: dt.datetime
    kind: str
    amount_minor: int
    merchant_category: str | None = None
    customer_id: str = ""
    device_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        row = {"customer_id": self.customer_id, "occurred_at": self.occurred_at.isoformat(),
               "kind": self.kind, "amount_minor": self.amount_minor,
               "merchant_category": self.merchant_category}
        # Only device events carry the key, so the stored form (and the digest) of a history
        # without devices is what it was before devices were features.
        if self.device_id is not None:
            row["device_id"] = self.device_id
        return row


@dataclass(frozen=True, slots=True)
class FeatureInputs:
    """Everything a feature may read: ``events`` are sorted and all before ``as_of``."""

    as_of: dt.datetime
    application: Mapping[str, Any]
    events: tuple[PlatformEvent, ...]
    platform_consented: bool
    bureau: Mapping[str, Any] | None
    # Look-back windows already cut, by days: several features share each window.
    windows: dict[int, tuple[PlatformEvent, ...]] = field(default_factory=dict, compare=False,
                                                          repr=False)

    def window(self, days: int) -> tuple[PlatformEvent, ...]:
        """The events in ``[as_of − days, as_of)`` (events are sorted, so a bisection)."""
        cut = self.windows.get(days)
        if cut is None:
            start = self.as_of - dt.timedelta(days=days)
            cut = self.events[bisect.bisect_left(self.events, start, key=_occurred_at):]
            self.windows[days] = cut
        return cut


def _aware(value: Any, field: str) -> dt.datetime:
    if type(value) is dt.datetime and value.tzinfo is dt.UTC:  # the common case, cheaply
        return value
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValidationError(f"{value!r} is not an ISO 8601 time", field=field) from exc
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        raise ValidationError(f"expected a datetime, got {type(value).__name__}", field=field)
    if value.tzinfo is None:
        raise ValidationError("time needs a timezone", field=field)
    return value.astimezone(dt.UTC)


def _rows(table: Any) -> Iterable[Mapping[str, Any]]:
    if hasattr(table, "iter_rows"):  # polars
        return table.iter_rows(named=True)
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # pandas
        return table.to_dict(orient="records")
    return table


def normalise_events(table: Any, *, customer_id: str | None = None) -> list[PlatformEvent]:
    """Validate an event table and return its events sorted by time.

    With ``customer_id`` every row must belong to that customer (an online decision must not
    read someone else's history).
    """
    events: list[PlatformEvent] = []
    append = events.append
    kinds, utc, device_max = EVENT_KINDS, dt.UTC, DEVICE_ID_CHARS_MAX
    for i, row in enumerate(_rows(table)):
        # The common row (the types the platform's own reads produce) is accepted by one
        # test of each field; anything else, including every invalid row, takes the
        # field-by-field path below, which converts what it can and names what it cannot.
        # A decision reads thousands of events for an active customer, so this loop is the
        # bulk of its CPU (profiled).
        get = row.get
        owner, kind, amount = get("customer_id"), get("kind"), get("amount_minor")
        at, category, device = get("occurred_at"), get("merchant_category"), get("device_id")
        if (type(owner) is str and owner and (customer_id is None or owner == customer_id)
                and kind in kinds and type(amount) is int and amount >= 0
                and type(at) is dt.datetime and at.tzinfo is utc
                and (category is None or (type(category) is str and category))
                and (device is None if kind != "device_seen"
                     else type(device) is str and 0 < len(device) <= device_max)):
            append(PlatformEvent(at, kind, amount, category, owner, device))
        else:
            append(_checked_event(row, f"platform_events[{i}]", customer_id))
        if customer_id is not None and len(events) > EVENTS_PER_CUSTOMER_MAX:
            raise ValidationError(f"more than {EVENTS_PER_CUSTOMER_MAX} events",
                                  field="platform_events")
    # A key function, not the tuple ordering: a missing category or device would compare
    # None with text on equal times.
    events.sort(key=_event_order)
    return events


def _checked_event(row: Mapping[str, Any], where: str, customer_id: str | None
                   ) -> PlatformEvent:
    """One event row checked field by field; an error names the field at fault."""
    owner = row.get("customer_id")
    if not isinstance(owner, str) or not owner:
        raise ValidationError("customer_id must be a non-empty string",
                              field=f"{where}.customer_id")
    if customer_id is not None and owner != customer_id:
        raise ValidationError(f"event of customer {owner!r}, expected {customer_id!r}",
                              field=f"{where}.customer_id")
    kind = row.get("kind")
    if kind not in EVENT_KINDS:
        raise ValidationError(f"kind must be one of {sorted(EVENT_KINDS)}",
                              field=f"{where}.kind")
    amount: Any = row.get("amount_minor")  # untrusted: refused below unless an integer
    try:
        # operator.index accepts Python and numpy integers and refuses floats and text.
        amount = None if isinstance(amount, bool) else operator.index(amount)
    except TypeError:
        amount = None
    if amount is None or amount < 0:
        raise ValidationError("amount_minor must be a non-negative integer",
                              field=f"{where}.amount_minor")
    category = row.get("merchant_category")
    if category is not None and not isinstance(category, str):
        raise ValidationError("merchant_category must be text",
                              field=f"{where}.merchant_category")
    device = row.get("device_id")
    if isinstance(device, float) and device != device:  # pandas NaN in a sparse column
        device = None
    if kind == "device_seen":
        if not isinstance(device, str) or not 0 < len(device) <= DEVICE_ID_CHARS_MAX:
            raise ValidationError(f"a device_seen event needs a device_id of 1-"
                                  f"{DEVICE_ID_CHARS_MAX} characters",
                                  field=f"{where}.device_id")
    elif device is not None:
        raise ValidationError("only device_seen events carry a device_id",
                              field=f"{where}.device_id")
    return PlatformEvent(_aware(row.get("occurred_at"), f"{where}.occurred_at"),
                         kind, int(amount), category or None, owner, device)


def _event_order(event: PlatformEvent) -> tuple[Any, ...]:
    """The dataclass's own field order (time first); a missing category sorts first."""
    return (event.occurred_at, event.kind, event.amount_minor, event.merchant_category or "",
            event.customer_id, event.device_id or "")


def events_by_customer(table: Any) -> dict[str, list[PlatformEvent]]:
    """Group an event table by customer, each history sorted by time (offline use)."""
    grouped: dict[str, list[PlatformEvent]] = {}
    for event in normalise_events(table):
        grouped.setdefault(event.customer_id, []).append(event)
    return grouped


def events_before(history: Sequence[PlatformEvent], as_of: dt.datetime
                  ) -> tuple[PlatformEvent, ...]:
    """The prefix of a sorted history strictly before ``as_of``."""
    cut = bisect.bisect_left(history, as_of, key=_occurred_at)
    return tuple(history[:cut])


def _occurred_at(event: PlatformEvent) -> dt.datetime:
    return event.occurred_at


HISTORY_FORMAT = "platform-events/2"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def history_document(customer_id: str, events: Sequence[PlatformEvent]) -> str:
    """The canonical stored form of one customer's sorted history: columnar JSON text.

    One array per field (times as whole microseconds since the Unix epoch, UTC), keys
    sorted, no spaces, so equal histories give equal text and the SHA-256 of the text
    identifies the history. Columns rather than one object per event: the text is about a
    third of the size, and building it costs a list comprehension per field instead of an
    ISO time and a dict per event (a decision stores the history of every applicant, so
    this is on the decision's hot path; see bench/RESULTS.md).
    """
    if any(event.customer_id != customer_id for event in events):
        raise ValidationError(f"every event must be of customer {customer_id!r}",
                              field="platform_events")
    document = {
        "amount_minor": [e.amount_minor for e in events],
        "customer_id": customer_id,
        "device_id": [e.device_id for e in events],
        "format": HISTORY_FORMAT,
        "kind": [e.kind for e in events],
        "merchant_category": [e.merchant_category for e in events],
        "occurred_at_us": [(e.occurred_at - _EPOCH) // _MICROSECOND for e in events],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def history_from_document(text: str) -> list[PlatformEvent]:
    """The events of a :func:`history_document` text, in their stored (sorted) order."""
    document = json.loads(text)
    if not isinstance(document, Mapping) or document.get("format") != HISTORY_FORMAT:
        raise ValidationError(f"not a {HISTORY_FORMAT} history", field="document")
    columns = [document[name] for name in ("occurred_at_us", "kind", "amount_minor",
                                           "merchant_category", "device_id")]
    if len({len(column) for column in columns}) > 1:
        raise ValidationError("history columns differ in length", field="document")
    owner = document["customer_id"]
    return [PlatformEvent(_EPOCH + dt.timedelta(microseconds=us), kind, amount, category,
                          owner, device)
            for us, kind, amount, category, device in zip(*columns, strict=True)]


def validate_application(application: Any) -> dict[str, Any]:
    """Check the applicant's fields; returns them typed (``date_of_birth`` as a date)."""
    if not isinstance(application, Mapping):
        raise ValidationError("application must be an object", field="application")
    out: dict[str, Any] = {}
    born = application.get("date_of_birth")
    try:
        out["date_of_birth"] = (born if isinstance(born, dt.date)
                                and not isinstance(born, dt.datetime)
                                else dt.date.fromisoformat(str(born)))
    except ValueError as exc:
        raise ValidationError("date_of_birth must be YYYY-MM-DD",
                              field="application.date_of_birth") from exc
    income = application.get("monthly_income_minor")
    if isinstance(income, bool) or not isinstance(income, int) or not 0 < income <= INCOME_MINOR_MAX:
        raise ValidationError(f"monthly_income_minor must be an integer in (0, {INCOME_MINOR_MAX}]",
                              field="application.monthly_income_minor")
    out["monthly_income_minor"] = income
    employment = application.get("employment_type")
    if employment not in EMPLOYMENT_TYPES:
        raise ValidationError(f"employment_type must be one of {sorted(EMPLOYMENT_TYPES)}",
                              field="application.employment_type")
    out["employment_type"] = employment
    kyc = application.get("kyc_verified")
    if not isinstance(kyc, bool):
        raise ValidationError("kyc_verified must be true or false",
                              field="application.kyc_verified")
    out["kyc_verified"] = kyc
    # Optional (older callers do not ask): absent or None means "not declared", and the
    # key is then left out, so such an application is stored and hashed as before.
    housing = application.get("housing")
    if housing is not None:
        if housing not in HOUSING_TYPES:
            raise ValidationError(f"housing must be one of {sorted(HOUSING_TYPES)}",
                                  field="application.housing")
        out["housing"] = housing
    obligations = application.get("declared_monthly_obligations_minor")
    if obligations is not None:
        if isinstance(obligations, bool) or not isinstance(obligations, int) \
                or not 0 <= obligations <= INCOME_MINOR_MAX:
            raise ValidationError("declared_monthly_obligations_minor must be an integer in "
                                  f"[0, {INCOME_MINOR_MAX}]",
                                  field="application.declared_monthly_obligations_minor")
        out["declared_monthly_obligations_minor"] = obligations
    unknown = sorted(set(application) - set(out) - _OPTIONAL_FIELDS)
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=f"application.{unknown[0]}")
    return out


def application_to_json(application: Mapping[str, Any]) -> dict[str, Any]:
    """A validated application as JSON (dates as ISO text)."""
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in application.items()}


def application_to_store(application: Mapping[str, Any], as_of: dt.datetime
                         ) -> dict[str, Any]:
    """A validated application as a decision stores it: the date of birth, personal data the
    vault keeps encrypted, is replaced by the whole years of age at ``as_of``, the only thing
    any feature reads from it (data minimisation: the decision record never holds the
    birthday in clear)."""
    stored = application_to_json(application)
    del stored["date_of_birth"]
    stored["age_years"] = age_in_whole_years(application["date_of_birth"], as_of.date())
    return stored


def application_from_store(stored: Mapping[str, Any], as_of: dt.datetime) -> dict[str, Any]:
    """The application to recompute a stored decision's features with: a stored age becomes
    a stand-in date of birth (``age_years`` before the as-of date, 28 February for a
    29 February as-of date), which gives the same age at ``as_of`` and says nothing more.
    Applications stored with their date of birth (before ages were stored) come back as
    they are."""
    if "age_years" not in stored:
        return dict(stored)
    age = stored["age_years"]
    if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 200:
        raise ValidationError("age_years must be a whole number of years",
                              field="application.age_years")
    on = _aware(as_of, "as_of").date()
    try:
        born = on.replace(year=on.year - age)
    except ValueError:  # 29 February in a year without one
        born = on.replace(year=on.year - age, day=28)
    out = {k: v for k, v in stored.items() if k != "age_years"}
    out["date_of_birth"] = born.isoformat()
    return out


def compute_features(
    *,
    as_of: dt.datetime,
    application: Mapping[str, Any],
    events: Sequence[PlatformEvent],
    bureau: Mapping[str, Any] | None,
    platform_consented: bool = True,
    validated: bool = False,
) -> dict[str, Any]:
    """Every declared feature at ``as_of``, in declaration order.

    ``events`` may be the customer's whole history: only those strictly before ``as_of`` are
    used. ``events`` must be sorted (as :func:`normalise_events` returns them).
    """
    as_of = _aware(as_of, "as_of")
    if not validated:
        application = validate_application(application)
    inputs = FeatureInputs(as_of, application, events_before(events, as_of),
                           platform_consented, bureau)
    values: dict[str, Any] = {}
    for definition in FEATURES:
        values[definition.name] = definition.compute(inputs, values)
    return values


def build_training_set(observations: Iterable[Mapping[str, Any]], events: Any) -> Any:
    """Point-in-time training rows: one per observation, features as of its ``as_of``.

    Each observation holds ``customer_id``, ``as_of``, ``application``, ``bureau`` (the
    report as pulled at that time, or None), optionally ``platform_consented`` (default True)
    and any label columns (``bad``...), which are copied through. ``events`` is the full
    event table of every customer, including events after the as-of times: they are cut off
    here, by the same :func:`compute_features` an online decision runs.
    Returns a pandas DataFrame.
    """
    import pandas as pd

    histories = events_by_customer(events)
    rows = []
    reserved = {"customer_id", "as_of", "application", "bureau", "platform_consented"}
    for observation in observations:
        customer_id = observation["customer_id"]
        row = {"customer_id": customer_id,
               "as_of": _aware(observation["as_of"], "as_of").isoformat()}
        row.update(compute_features(
            as_of=observation["as_of"], application=observation["application"],
            events=histories.get(customer_id, ()), bureau=observation.get("bureau"),
            platform_consented=observation.get("platform_consented", True)))
        row.update({k: v for k, v in observation.items() if k not in reserved})
        rows.append(row)
    return pd.DataFrame(rows)
