"""The close of business's business steps: pure functions over a chunk's arrays.

Each step maps a :class:`ChunkState` (the chunk's accounts and open installments as numpy
arrays, one entry per account ordered by seq) and the day's :class:`DayInputs` to a
:class:`StepOutput`: the new state, the ledger transfer requests, the outbox events, the rows
to write and the step's counts. A step does no I/O, reads no clock and never changes its
input arrays (it copies an array before changing it), so it can be run and tested without a
database. The order is data (:data:`STEPS`); :mod:`creditpay.credit.cob` loads the chunk,
runs the consent pre-pass and the wallet pulls, runs the steps in that order and hands the
collected output to one executor that posts to the ledger and writes the rows.

Units: money int64 minor units; rates int64 millionths; dates int64 day numbers (days since
1970-01-01, :data:`~creditpay.credit.cob_vectorised.NO_DATE` for none); accrual numerators
exact int64 in ``1 / (1_000_000 * year_basis_days)`` minor unit.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit.cob_vectorised import (
    MICRO,
    NO_DATE,
    accrue_and_age,
    day_number,
    positions,
    round_half_up_div,
)
from creditpay.credit.delinquency import buckets_vectorised
from creditpay.credit.lines import CLEARING_CODE, transfer
from creditpay.credit.offers import line_due_date
from creditpay.credit.statements import revolving_minimum_shares

__all__ = ["ChunkState", "DayInputs", "Event", "Writes", "StepOutput", "Step", "STEPS",
           "PlanInstallment", "auto_debit_candidates", "auto_debit_amounts",
           "auto_debit_pulls", "run_steps", "positions", "COUNT_KEYS", "ChunkOutput"]

Arrays = Mapping[str, np.ndarray]
_MAX = np.iinfo(np.int64).max

COUNT_KEYS = ("accounts", "interest_accrued_minor", "penalty_accrued_minor", "auto_debits",
              "auto_debit_minor", "auto_debits_failed", "rolled_past_due", "late_fees",
              "write_offs", "written_off_minor", "installments_billed", "statements",
              "transfers")


@dataclass(frozen=True)
class ChunkState:
    """A chunk as arrays. ``a``: per account (the repository's columns plus ``status``,
    ``written_off_minor``, ``written_off_on`` and ``event``: the row needs the full update).
    ``v``: per open (billed or past-due) installment, plus ``pos`` (its account's position
    in ``a``), ``valid`` (its account is in the chunk and not written off today) and
    ``changed`` (the row must be written)."""

    a: Arrays
    v: Arrays

    @property
    def n(self) -> int:
        return len(self.a["seq"])


@dataclass(frozen=True)
class PlanInstallment:
    """An open installment of a plan on a line, due in the cycle a statement opens."""

    item_id: int
    account_seq: int
    due_on: dt.date
    amount_minor: int


@dataclass(frozen=True)
class DayInputs:
    """What the steps need besides the chunk's own rows, read before they run."""

    day: int
    platform: Mapping[str, int]  # platform ledger account ids by code
    catalogue: P.Catalogue
    # Consent pre-pass: per account, the refusal rule of its auto-debit consent (None: in
    # force, or not debited today) and the stored reference.
    consent_refusal: np.ndarray
    consent_reference: np.ndarray
    # Per account: the wallet pull of its auto-debit was posted.
    collected: np.ndarray
    # Scheduled installments due by tomorrow (billing), with ``pos`` and ``valid``.
    due_items: Arrays
    # Scheduled installments (account seq, due day) of the accounts with items due.
    scheduled_seq: np.ndarray
    scheduled_due: np.ndarray
    # Highest installment number by account seq, for the lines cutting a statement.
    installment_numbers: Mapping[int, int]
    # Plan installments in the cycle of today's statements, by line id.
    plan_installments: Mapping[str, tuple[PlanInstallment, ...]]
    # Seqs (sorted) of the accounts with an installment due tomorrow that a repayment billed
    # ahead (billed or already paid): their period ends today.
    ahead_seqs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def today(self) -> dt.date:
        return dt.date(1970, 1, 1) + dt.timedelta(days=self.day)


@dataclass(frozen=True)
class Event:
    """An outbox event to emit."""

    topic: str
    aggregate_type: str
    aggregate_id: str
    payload: Mapping[str, object]


@dataclass(frozen=True)
class Writes:
    """Rows a step asks the executor to write (dates as ``dt.date``; the executor adds the
    timestamps)."""

    # (status, interest, principal paid, interest paid, fee paid, minimum, due date, id)
    item_updates: tuple[tuple[str, int, int, int, int, int, dt.date, int], ...] = ()
    item_inserts: tuple[Mapping[str, object], ...] = ()
    statements: tuple[Mapping[str, object], ...] = ()
    repayments: tuple[Mapping[str, object], ...] = ()
    auto_debit_stops: tuple[int, ...] = ()  # account seqs: auto-debit switched off
    written_off: tuple[int, ...] = ()  # account seqs: open installments cancelled
    frozen_lines: tuple[str, ...] = ()
    plan_tags: tuple[tuple[str, int], ...] = ()  # (statement id, installment id)
    # What each write-off zeroes, as it stood (credit_write_offs: a reversal restores it):
    # {"seq", "account_id", "written_off_on", "line_id", "state": {column: value}}.
    write_off_states: tuple[Mapping[str, object], ...] = ()

    def __add__(self, other: Writes) -> Writes:
        return Writes(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class StepOutput:
    state: ChunkState
    requests: tuple[L.TransferRequest, ...] = ()
    events: tuple[Event, ...] = ()
    writes: Writes = field(default_factory=Writes)
    counts: Mapping[str, int] = field(default_factory=dict)


StepFunction = Callable[[ChunkState, DayInputs], StepOutput]


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFunction


# ----------------------------------------------------------------------------- helpers
def _own(arrays: Arrays, *names: str) -> dict[str, np.ndarray]:
    """A new mapping in which ``names`` are copies (safe to change in place)."""
    out = dict(arrays)
    for name in names:
        out[name] = out[name].copy()
    return out


def _sum_by_account(n: int, pos: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, pos, values.astype(np.int64))
    return out


def _due(v: Arrays, component: str) -> np.ndarray:
    return v[f"{component}_minor"] - v[f"{component}_paid_minor"]


def _total_due(v: Arrays) -> np.ndarray:
    return _due(v, "principal") + _due(v, "interest") + _due(v, "fee")


def _iso(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()


def _date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def _principal(a: Arrays) -> np.ndarray:
    return a["principal_unbilled_minor"] + a["principal_billed_minor"] + \
        a["principal_past_due_minor"]


def _post_accrual(a: dict[str, np.ndarray], rows: np.ndarray, which: str) -> np.ndarray:
    """Round the accrued interest (or penalty) of ``rows`` half-up and clear it: the amount
    posted to the ledger now (the period's one rounding, as in the schedules). ``a`` must own
    the ``{which}_accrual_num`` and ``{which}_posted_minor`` arrays."""
    denominator = MICRO * a["year_basis_days"][rows]
    amount = round_half_up_div(a[f"{which}_accrual_num"][rows], denominator)
    a[f"{which}_accrual_num"][rows] = 0
    a[f"{which}_posted_minor"][rows] += amount
    return amount


def _posting(requests: list[L.TransferRequest], tag: str, code: str, debit: int, credit: int,
             amount: int, reference: str) -> None:
    if amount > 0:
        requests.append(transfer(tag, code, debit, credit, amount, reference))


# ----------------------------------------------------------------------------- auto-debit
def _owed(state: ChunkState, day: int) -> np.ndarray:
    v = state.v
    return v["valid"] & np.isin(v["status"], ("billed", "past_due")) & \
        (v["due_date"] <= day) & (_total_due(v) > 0)


def auto_debit_candidates(state: ChunkState, day: int) -> np.ndarray:
    """Positions of the accounts to debit today: auto-debit on, an item due today (a billed
    item, or a revolving balance carried to a statement due today)."""
    a, v = state.a, state.v
    due_today = _owed(state, day) & (v["due_date"] == day)
    has_due = np.zeros(state.n, dtype=bool)
    has_due[v["pos"][due_today]] = True
    return np.flatnonzero(has_due & (a["auto_debit_enabled"] == 1)
                          & (a["auto_debit_account_id"] > 0))


def auto_debit_amounts(state: ChunkState, day: int) -> dict[str, np.ndarray]:
    """Per account, what an auto-debit takes today: everything due by ``day`` by component
    (principal, interest, fee incl. late fees, penalty) and the total."""
    a, v = state.a, state.v
    owed = _owed(state, day)
    pos = v["pos"][owed]
    amounts = {
        "principal": _sum_by_account(state.n, pos, _due(v, "principal")[owed]),
        "interest": _sum_by_account(state.n, pos, _due(v, "interest")[owed]),
        "fee": _sum_by_account(state.n, pos, _due(v, "fee")[owed]) + a["late_fee_unpaid_minor"],
        "penalty": a["penalty_unpaid_minor"],
    }
    amounts["total"] = amounts["principal"] + amounts["interest"] + amounts["fee"] + \
        amounts["penalty"]
    return amounts


def _consented(state: ChunkState, inputs: DayInputs) -> tuple[np.ndarray, np.ndarray]:
    candidates = auto_debit_candidates(state, inputs.day)
    refused = np.asarray([inputs.consent_refusal[i] is not None for i in candidates],
                         dtype=bool)
    return candidates[~refused], candidates[refused]


def auto_debit_pulls(state: ChunkState, inputs: DayInputs
                     ) -> tuple[np.ndarray, list[L.TransferRequest]]:
    """The wallet pulls to attempt (positions and requests), for the candidates whose
    consent is in force. All or nothing: one pull of the whole amount due per account; the
    ledger refuses it when the wallet is short (the account is left for collections)."""
    a = state.a
    debit, _ = _consented(state, inputs)
    total = auto_debit_amounts(state, inputs.day)["total"]
    date_text = _iso(inputs.day)
    pulls = [transfer(f"cob:{date_text}:{a['account_id'][i]}:autodebit", "credit.auto_debit",
                      int(a["auto_debit_account_id"][i]), inputs.platform[CLEARING_CODE],
                      int(total[i]), a["account_id"][i]) for i in debit]
    return debit, pulls


def auto_debit(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """Apply today's auto-debits: the accounts whose consent was refused have their
    auto-debit switched off (event ``credit.auto_debit.changed`` with the rule); those whose
    wallet pull was posted repay everything due by today."""
    day = inputs.day
    debit, stopped = _consented(state, inputs)
    a = _own(state.a, "auto_debit_enabled", "auto_debit_account_id")
    events = []
    for i in stopped:
        a["auto_debit_enabled"][i] = 0
        a["auto_debit_account_id"][i] = 0
        events.append(Event("credit.auto_debit.changed", "credit_account",
                            str(a["account_id"][i]),
                            {"enabled": False, "reason": inputs.consent_refusal[i],
                             "consent_reference": inputs.consent_reference[i]}))
    writes = Writes(auto_debit_stops=tuple(int(a["seq"][i]) for i in stopped))
    counts = {"auto_debits_stopped_no_consent": len(stopped)} if len(stopped) else {}
    succeeded = debit[inputs.collected[debit]] if len(debit) else debit
    counts["auto_debits_failed"] = len(debit) - len(succeeded)
    if len(succeeded) == 0:
        return StepOutput(replace(state, a=a), events=tuple(events), writes=writes,
                          counts=counts)
    amounts = auto_debit_amounts(state, day)
    principal, interest, fee, penalty, total = (amounts[k] for k in (
        "principal", "interest", "fee", "penalty", "total"))
    platform = inputs.platform
    date_text = _iso(day)
    requests: list[L.TransferRequest] = []
    repayments = []
    for i in succeeded:
        account_id = a["account_id"][i]
        tag = f"cob:{date_text}:{account_id}:autodebit"
        for component, values in (("principal", principal), ("interest", interest),
                                  ("fee", fee), ("penalty", penalty)):
            if values[i]:
                requests.append(transfer(f"{tag}:{component}", "credit.repayment",
                                         platform[CLEARING_CODE],
                                         int(a[f"{component}_account_id"][i]),
                                         int(values[i]), account_id))
        if principal[i] and a["line_available_account_id"][i]:
            requests.append(transfer(f"{tag}:limit", "credit.limit_restore",
                                     platform["credit_limit_control"],
                                     int(a["line_available_account_id"][i]),
                                     int(principal[i]), account_id))
        repayments.append({
            "repayment_id": f"autodebit:{account_id}:{date_text}",
            "request_hash": "auto_debit", "customer_id": a["customer_id"][i],
            "currency": a["currency"][i], "amount_minor": int(total[i]),
            "channel": "auto_debit",
            "result": {"account_id": account_id, "principal_minor": int(principal[i]),
                       "interest_minor": int(interest[i]), "fee_minor": int(fee[i]),
                       "penalty_minor": int(penalty[i])}})
    v = _own(state.v, "status", "principal_paid_minor", "interest_paid_minor",
             "fee_paid_minor", "changed")
    owed = _owed(state, day)
    paid_mask = owed & np.isin(v["pos"], succeeded)
    billed_mask = paid_mask & (v["status"] == "billed")
    past_mask = paid_mask & (v["status"] == "past_due")
    billed_paid = _sum_by_account(state.n, v["pos"][billed_mask],
                                  _due(v, "principal")[billed_mask])
    past_paid = _sum_by_account(state.n, v["pos"][past_mask], _due(v, "principal")[past_mask])
    for component in ("principal", "interest", "fee"):
        v[f"{component}_paid_minor"][paid_mask] = v[f"{component}_minor"][paid_mask]
    v["status"][paid_mask] = "paid"
    v["changed"] |= paid_mask
    # What was paid came off the billed and past-due principal; charges are settled.
    a = _own(a, "penalty_unpaid_minor", "late_fee_unpaid_minor", "oldest_past_due_date",
             "latest_past_due_date", "event")
    a["principal_billed_minor"] = a["principal_billed_minor"] - billed_paid
    a["principal_past_due_minor"] = a["principal_past_due_minor"] - past_paid
    for name in ("penalty_unpaid_minor", "late_fee_unpaid_minor"):
        a[name][succeeded] = 0
    for name in ("oldest_past_due_date", "latest_past_due_date"):
        a[name][succeeded] = NO_DATE
    a["event"][succeeded] = True
    counts["auto_debits"] = len(succeeded)
    counts["auto_debit_minor"] = int(total[succeeded].sum())
    return StepOutput(ChunkState(a, v), tuple(requests), tuple(events),
                      writes + Writes(repayments=tuple(repayments)), counts)


# ----------------------------------------------------------------------------- daily
def accrue_and_age_step(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """Interest and penalty of the day, dpd (:func:`accrue_and_age`). Day D accrues before
    D's unpaid items roll to past due: the due date is the last day to pay, so revolving
    interest and past-due treatment start the day after. The flags it computes (late fee due,
    write-off due, what was added) are kept in the state for the later steps."""
    a = dict(state.a)
    result = accrue_and_age(
        day=inputs.day, interest_base=a["interest_base"],
        interest_rate_micro=a["interest_rate_micro"],
        penalty_rate_micro=a["penalty_rate_micro"], grace_days=a["grace_days"],
        late_fee_minor=a["late_fee_minor"], write_off_dpd=a["write_off_dpd"],
        principal_current=a["principal_unbilled_minor"] + a["principal_billed_minor"],
        principal_past_due=a["principal_past_due_minor"],
        # A flat loan's interest is on the principal lent less what was prepaid.
        principal_original=a["principal_original_minor"] - a["principal_prepaid_minor"],
        interest_num=a["interest_accrual_num"], penalty_num=a["penalty_accrual_num"],
        oldest_past_due=a["oldest_past_due_date"], latest_past_due=a["latest_past_due_date"],
        late_fee_through=a["late_fee_through_date"])
    a.update(interest_accrual_num=result.interest_num, penalty_accrual_num=result.penalty_num,
             dpd=result.dpd, interest_added_num=result.interest_added_num,
             penalty_added_num=result.penalty_added_num, late_fee_due=result.late_fee_due,
             write_off_due=result.write_off)
    denominators = MICRO * a["year_basis_days"]
    counts = {"interest_accrued_minor": int(round_half_up_div(
        result.interest_added_num, denominators).sum()),
        "penalty_accrued_minor": int(round_half_up_div(
            result.penalty_added_num, denominators).sum())}
    return StepOutput(replace(state, a=a), counts=counts)


def roll(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """Billed items due on or before the day and still unpaid become past due. A revolving
    balance carried to a later statement stays past due (it bears interest) and takes that
    statement's due date and minimum: it is checked on that date. A revolving line is late
    only when the minimum payment was missed."""
    day = inputs.day
    v0 = state.v
    total_due = _total_due(v0)
    rolling = v0["valid"] & (v0["status"] == "billed") & (v0["due_date"] <= day) & \
        (total_due > 0)
    carried = v0["valid"] & (v0["status"] == "past_due") & (v0["due_date"] == day) & \
        (total_due > 0)
    if not (rolling.any() or carried.any()):
        return StepOutput(state)
    a = _own(state.a, "latest_past_due_date", "event")
    v = _own(v0, "status", "changed")
    pos = v["pos"]
    moved = _sum_by_account(state.n, pos[rolling], _due(v, "principal")[rolling])
    a["principal_billed_minor"] = a["principal_billed_minor"] - moved
    a["principal_past_due_minor"] = a["principal_past_due_minor"] + moved
    paid_total = v["principal_paid_minor"] + v["interest_paid_minor"] + v["fee_paid_minor"]
    revolve = a["style"][pos] == "revolve"
    late = (rolling | carried) & (~revolve | (paid_total < v["minimum_minor"]))
    oldest = np.where(a["oldest_past_due_date"] == NO_DATE, _MAX, a["oldest_past_due_date"])
    np.minimum.at(oldest, pos[late], v["due_date"][late])
    a["oldest_past_due_date"] = np.where(oldest == _MAX, NO_DATE, oldest)
    np.maximum.at(a["latest_past_due_date"], pos[late], v["due_date"][late])
    v["status"][rolling] = "past_due"
    v["changed"] |= rolling
    a["event"][pos[rolling | late]] = True
    return StepOutput(ChunkState(a, v), counts={"rolled_past_due": int(rolling.sum())})


def waive_residues(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """Accounts that owe no principal more accrue nothing more: the sub-minor remainder of
    their interest and penalty accruals is dropped before anything is posted (statement,
    billing, month end), so it is never rounded up against the customer. Whole minor units
    still accrued stay owed. (A repayment does the same when it pays the principal off.)"""
    a0 = state.a
    denominator = MICRO * a0["year_basis_days"]
    residue = (a0["status"] == "active") & (_principal(a0) == 0) & (
        (a0["interest_accrual_num"] % denominator != 0)
        | (a0["penalty_accrual_num"] % denominator != 0))
    rows = np.flatnonzero(residue)
    if len(rows) == 0:
        return StepOutput(state)
    a = _own(a0, "interest_accrual_num", "penalty_accrual_num", "event")
    for which in ("interest", "penalty"):
        name = f"{which}_accrual_num"
        a[name][rows] -= a[name][rows] % denominator[rows]
    a["event"][rows] = True
    return StepOutput(replace(state, a=a))


def late_fees(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """A late fee once per missed due date, after the grace days."""
    rows = np.flatnonzero(state.a["late_fee_due"])
    if len(rows) == 0:
        return StepOutput(state, counts={"late_fees": 0})
    a = _own(state.a, "late_fee_unpaid_minor", "fee_posted_minor", "late_fee_through_date",
             "event")
    requests: list[L.TransferRequest] = []
    for i in rows:
        _posting(requests, f"cob:{_iso(inputs.day)}:{a['account_id'][i]}:late_fee",
                 "credit.late_fee", int(a["fee_account_id"][i]), inputs.platform["fee_income"],
                 int(a["late_fee_minor"][i]), a["account_id"][i])
    a["late_fee_unpaid_minor"][rows] += a["late_fee_minor"][rows]
    a["fee_posted_minor"][rows] += a["late_fee_minor"][rows]
    a["late_fee_through_date"][rows] = a["latest_past_due_date"][rows]
    a["event"][rows] = True
    return StepOutput(replace(state, a=a), tuple(requests), counts={"late_fees": len(rows)})


_WRITE_OFF_ZEROED = ("principal_unbilled_minor", "principal_billed_minor",
                     "principal_past_due_minor", "penalty_unpaid_minor",
                     "late_fee_unpaid_minor", "interest_accrual_num", "penalty_accrual_num")


def write_off(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """At the product's dpd every receivable goes to ``write_off_expense``; the account stops
    accruing, its open installments are cancelled and its line is frozen."""
    a0, v0 = state.a, state.v
    rows = np.flatnonzero(a0["write_off_due"])
    if len(rows) == 0:
        return StepOutput(state)
    open_items = v0["valid"] & np.isin(v0["status"], ("billed", "past_due"))
    pos = v0["pos"][open_items]
    components = {
        "principal": _principal(a0),
        "interest": _sum_by_account(state.n, pos, _due(v0, "interest")[open_items]),
        "fee": _sum_by_account(state.n, pos, _due(v0, "fee")[open_items])
        + a0["late_fee_unpaid_minor"],
        "penalty": a0["penalty_unpaid_minor"]}
    requests: list[L.TransferRequest] = []
    for i in rows:
        for component, amounts in components.items():
            _posting(requests, f"cob:{_iso(inputs.day)}:{a0['account_id'][i]}:write_off:"
                     f"{component}", "credit.write_off", inputs.platform["write_off_expense"],
                     int(a0[f"{component}_account_id"][i]), int(amounts[i]),
                     a0["account_id"][i])
    total = np.zeros(len(rows), dtype=np.int64)
    for amounts in components.values():
        total += amounts[rows]
    a = _own(a0, "written_off_minor", "written_off_on", "status", "next_due_date", "event",
             *_WRITE_OFF_ZEROED)
    a["written_off_minor"][rows] = total
    a["written_off_on"][rows] = inputs.day
    a["status"][rows] = "written_off"
    for name in _WRITE_OFF_ZEROED:
        a[name][rows] = 0  # accruals stop: a written-off account is non-accrual
    a["next_due_date"][rows] = NO_DATE
    a["event"][rows] = True
    # Their installments are cancelled by the executor; nothing else touches them.
    v = dict(v0)
    v["valid"] = v0["valid"] & ~np.isin(v0["pos"], rows)
    writes = Writes(written_off=tuple(int(s) for s in a0["seq"][rows]),
                    frozen_lines=tuple(str(a0["line_id"][i]) for i in rows
                                       if a0["kind"][i] == "line"),
                    write_off_states=tuple(_write_off_state(a0, v0, int(i), inputs.day)
                                           for i in rows))
    return StepOutput(ChunkState(a, v), tuple(requests), writes=writes,
                      counts={"write_offs": len(rows), "written_off_minor": int(total.sum())})


_ITEM_FIELDS = ("interest_minor", "principal_paid_minor", "interest_paid_minor",
                "fee_paid_minor", "minimum_minor")


def _write_off_state(a0: Arrays, v0: Arrays, i: int, day: int) -> Mapping[str, object]:
    """Account row ``i``'s columns a write-off changes, as they stood before it (dates as
    ISO text, None for none), and its loaded installments as today's earlier steps left
    them (the write-off drops them from the chunk, so these values are never written), for
    credit_write_offs."""
    due = int(a0["next_due_date"][i])
    state: dict[str, object] = {name: int(a0[name][i]) for name in _WRITE_OFF_ZEROED}
    state["next_due_date"] = None if due == NO_DATE else _iso(due)
    line_id = a0["line_id"][i] if a0["kind"][i] == "line" else None
    items = [{"id": int(v0["id"][k]), "status": str(v0["status"][k]),
              **{name: int(v0[name][k]) for name in _ITEM_FIELDS}}
             for k in np.flatnonzero(v0["valid"] & (v0["pos"] == i))]
    return {"seq": int(a0["seq"][i]), "account_id": str(a0["account_id"][i]),
            "written_off_on": _date(day), "line_id": None if line_id is None else str(line_id),
            "state": state, "items": items}


def bill(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """Installments due tomorrow are billed, posting the interest accrued for their period
    (so a customer paying on the due date sees the exact amount), their fees and the
    penalty accrued; the next due date moves to the next scheduled installment.

    The day before its due date is an installment's period end however it was billed: a
    plan installment a repayment already billed (one a line's statement shows, paid early:
    repayments._bill_now) has its account's penalty posted here too, and the interest
    accrued since it was billed is cleared: its billing posted the period's scheduled
    interest, which that accrual is part of. So at every period end the period's accrual
    is zero (docs/servicing.md)."""
    a0, v0 = state.a, state.v
    d = inputs.due_items
    day = inputs.day
    live = d["valid"] & (a0["status"][d["pos"]] == "active") if len(d["id"]) else \
        np.zeros(0, dtype=bool)
    ahead = v0["valid"] & (v0["status"] == "billed") & (v0["due_date"] == day + 1)
    ahead_pos = v0["pos"][ahead]
    ahead_pos = ahead_pos[(a0["status"][ahead_pos] == "active")
                          & (a0["kind"][ahead_pos] != "line")]
    if not live.any() and len(ahead_pos) == 0 and len(inputs.ahead_seqs) == 0:
        return StepOutput(state)
    pos = d["pos"][live]
    # Interest goes onto the items billed now (an item billed early took its own at billing).
    billing = np.unique(pos)
    accounts = np.union1d(billing, ahead_pos)
    # The first item billed for an account takes the whole accrued interest of its period.
    first = np.zeros(len(d["id"]), dtype=bool)
    live_index = np.flatnonzero(live)
    _, first_of = np.unique(pos, return_index=True)
    first[live_index[first_of]] = True
    bearing = billing[np.isin(a0["interest_base"][billing], (1, 3))]
    a = _own(a0, "interest_accrual_num", "interest_posted_minor", "penalty_accrual_num",
             "penalty_posted_minor", "next_due_date", "event")
    interest = np.zeros(state.n, dtype=np.int64)
    interest[bearing] = _post_accrual(a, bearing, "interest")
    # An installment a repayment billed early posted its period's whole interest then (the
    # scheduled interest, which is the daily accrual's): what accrued since is in it. Paid
    # or not (a paid one is not among the open items: ``inputs.ahead_seqs`` names it).
    found, known = positions(a0["seq"], inputs.ahead_seqs)
    ahead_all = np.union1d(ahead_pos, found[known])
    early = ahead_all[(a0["status"][ahead_all] == "active")
                      & np.isin(a0["interest_base"][ahead_all], (1, 3))
                      & ~np.isin(ahead_all, billing)]
    a["interest_accrual_num"][early] = 0
    a["event"][early] = True
    penalty = np.zeros(state.n, dtype=np.int64)
    penalty[accounts] = _post_accrual(a, accounts, "penalty")
    item_interest = np.where(np.isin(d["pos"], bearing) & live,
                             np.where(first, interest[d["pos"]], 0), d["interest_minor"])
    principal = _sum_by_account(state.n, pos, d["principal_minor"][live])
    fee = _sum_by_account(state.n, pos, d["fee_minor"][live])
    a["principal_unbilled_minor"] = a["principal_unbilled_minor"] - principal
    a["principal_billed_minor"] = a["principal_billed_minor"] + principal
    a["fee_posted_minor"] = a["fee_posted_minor"] + fee
    a["penalty_unpaid_minor"] = a["penalty_unpaid_minor"] + penalty
    date_text = _iso(day)
    platform = inputs.platform
    requests: list[L.TransferRequest] = []
    for i in accounts:
        account_id = a["account_id"][i]
        tag = f"cob:{date_text}:{account_id}:bill"
        _posting(requests, f"{tag}:interest", "credit.interest_posted",
                 int(a["interest_account_id"][i]), platform["interest_income"],
                 int(interest[i]), account_id)
        _posting(requests, f"{tag}:fee", "credit.fee_posted", int(a["fee_account_id"][i]),
                 platform["fee_income"], int(fee[i]), account_id)
        _posting(requests, f"{tag}:penalty", "credit.penalty_posted",
                 int(a["penalty_account_id"][i]), platform["penalty_income"],
                 int(penalty[i]), account_id)
    total = d["principal_minor"] + item_interest + d["fee_minor"]
    # Billing rows carry zero paid amounts: a scheduled item has none yet.
    updates = tuple(("billed", int(item_interest[k]), 0, 0, 0, int(total[k]),
                     _date(d["due_date"][k]), int(d["id"][k])) for k in live_index)
    # The next due date is the earliest installment still scheduled after tomorrow.
    a["next_due_date"][billing] = NO_DATE
    found_pos, found = positions(a["seq"], inputs.scheduled_seq)
    later = found & (inputs.scheduled_due > day + 1) & np.isin(found_pos, billing)
    earliest = np.full(state.n, _MAX, dtype=np.int64)
    np.minimum.at(earliest, found_pos[later], inputs.scheduled_due[later])
    has = earliest != _MAX
    a["next_due_date"][has] = earliest[has]
    a["event"][accounts] = True
    return StepOutput(replace(state, a=a), tuple(requests), writes=Writes(item_updates=updates),
                      counts={"installments_billed": int(live.sum())})


def statements(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """Cut the statements of lines whose statement day is today: the line's own new
    principal, interest and penalty, plus the installments of the customer's plans on the
    line that fall due in the cycle. A revolving line's balances in good standing are carried
    onto it, due on its due date, with their share of its minimum."""
    a0, v0 = state.a, state.v
    today = inputs.today
    day = inputs.day
    due_lines = (a0["kind"] == "line") & (a0["statement_day"] == today.day) & \
        (a0["status"] == "active")
    if not due_lines.any():
        return StepOutput(state)
    rows = np.flatnonzero(due_lines)
    open_items = v0["valid"] & np.isin(v0["status"], ("billed", "past_due"))
    paid_total = v0["principal_paid_minor"] + v0["interest_paid_minor"] + v0["fee_paid_minor"]
    principal_due = _due(v0, "principal")
    charges_due = _due(v0, "interest") + _due(v0, "fee")
    total_due = principal_due + charges_due
    item_pos = v0["pos"]
    carried = open_items & (v0["status"] == "past_due") & (total_due > 0) & \
        (a0["style"][item_pos] == "revolve") & (paid_total >= v0["minimum_minor"])
    carried_principal = _sum_by_account(state.n, item_pos[carried], principal_due[carried])
    denominator = MICRO * a0["year_basis_days"][rows]
    pending = (a0["principal_unbilled_minor"][rows] + carried_principal[rows]
               + round_half_up_div(a0["interest_accrual_num"][rows], denominator)
               + round_half_up_div(a0["penalty_accrual_num"][rows], denominator))
    # Plans written off today in this chunk had their installments cancelled.
    gone = set(a0["seq"][a0["status"] == "written_off"].tolist())
    plan_lines = {line: [p for p in plans if p.account_seq not in gone]
                  for line, plans in inputs.plan_installments.items()}
    has_plans = np.asarray([bool(plan_lines.get(a0["line_id"][i])) for i in rows], dtype=bool)
    rows = rows[(pending > 0) | has_plans]
    if len(rows) == 0:
        return StepOutput(state)
    charges = _sum_by_account(state.n, item_pos[open_items], charges_due[open_items])
    opening = (a0["principal_billed_minor"] + a0["principal_past_due_minor"]
               + a0["penalty_unpaid_minor"] + a0["late_fee_unpaid_minor"] + charges)[rows]
    a = _own(a0, "interest_accrual_num", "interest_posted_minor", "penalty_accrual_num",
             "penalty_posted_minor", "principal_unbilled_minor", "principal_billed_minor",
             "penalty_unpaid_minor", "next_due_date", "event")
    v = _own(v0, "minimum_minor", "due_date", "changed")
    interest = _post_accrual(a, rows, "interest")
    penalty = _post_accrual(a, rows, "penalty")
    principal = a["principal_unbilled_minor"][rows].copy()
    a["principal_unbilled_minor"][rows] = 0
    a["principal_billed_minor"][rows] += principal
    a["penalty_unpaid_minor"][rows] += penalty
    line_items: dict[int, list[int]] = {}
    for item in np.flatnonzero(open_items & np.isin(item_pos, rows)).tolist():
        line_items.setdefault(int(item_pos[item]), []).append(item)
    date_text = today.isoformat()
    platform = inputs.platform
    requests: list[L.TransferRequest] = []
    inserts: list[Mapping[str, object]] = []
    statement_rows: list[Mapping[str, object]] = []
    tags: list[tuple[str, int]] = []
    for k, i in enumerate(rows):
        account_id = a["account_id"][i]
        product = inputs.catalogue.get(a["product_code"][i], int(a["product_version"][i]))
        assert isinstance(product, P.CreditLineProduct)
        due = line_due_date(product, today)
        own = int(principal[k] + interest[k])
        mine = sorted(line_items.get(int(i), []),
                      key=lambda j: (int(v["due_date"][j]), int(v["number"][j])))
        rolled = [j for j in mine if carried[j]]
        if product.style is P.LineStyle.REVOLVE:
            share, shares = revolving_minimum_shares(
                P.rate_micro(product.minimum_payment_rate), int(principal[k]),
                [int(principal_due[j]) for j in rolled])
            minimum = min(own, share + int(interest[k]))
            for j, part in zip(rolled, shares, strict=True):
                # Carried to this statement: due on its due date, with what it already owes
                # in interest and fees and its share of the principal part.
                v["minimum_minor"][j] = int(paid_total[j] + charges_due[j]) + part
                v["due_date"][j] = day_number(due)
                v["changed"][j] = True
        else:
            minimum = own
        # What must be paid by the due date: each open statement's minimum not yet paid
        # (a missed one in full), the new one's, the charges and the plans' installments.
        owed_minimum = sum(min(int(total_due[j]), max(0, int(v["minimum_minor"][j]
                                                            - paid_total[j])))
                           for j in mine)
        statement_id = f"{account_id}:{date_text}"
        number = 0  # a statement of penalty only has no due item of its own
        if own:
            number = (inputs.installment_numbers.get(int(a["seq"][i])) or 0) + 1
            inserts.append({
                "account_seq": int(a["seq"][i]), "number": number, "due_date": due,
                "status": "billed", "principal_minor": int(principal[k]),
                "interest_minor": int(interest[k]), "fee_minor": 0, "principal_paid_minor": 0,
                "interest_paid_minor": 0, "fee_paid_minor": 0, "minimum_minor": minimum,
                "statement_id": statement_id})
        plans = plan_lines.get(a["line_id"][i], [])
        plans_minor = sum(p.amount_minor for p in plans)
        # Installments due by the statement's due date are part of what must be paid by it;
        # those due later in the cycle are shown (and in the balance) but not yet owed.
        plans_due_minor = sum(p.amount_minor for p in plans if p.due_on <= due)
        closing = int(opening[k] + principal[k] + interest[k] + penalty[k]) + plans_minor
        statement_rows.append({
            "statement_id": statement_id, "account_seq": int(a["seq"][i]),
            "statement_date": today, "due_date": due,
            "opening_balance_minor": int(opening[k]), "new_principal_minor": int(principal[k]),
            "interest_minor": int(interest[k]), "penalty_minor": int(penalty[k]),
            "fee_minor": 0, "closing_balance_minor": closing,
            "minimum_payment_minor": minimum + owed_minimum + int(a["penalty_unpaid_minor"][i])
            + int(a["late_fee_unpaid_minor"][i]) + plans_due_minor,
            "installment_number": number, "converted_minor": 0})
        tags.extend((statement_id, p.item_id) for p in plans)
        tag = f"cob:{date_text}:{account_id}:statement"
        _posting(requests, f"{tag}:interest", "credit.interest_posted",
                 int(a["interest_account_id"][i]), platform["interest_income"],
                 int(interest[k]), account_id)
        _posting(requests, f"{tag}:penalty", "credit.penalty_posted",
                 int(a["penalty_account_id"][i]), platform["penalty_income"],
                 int(penalty[k]), account_id)
        current = a["next_due_date"][i]
        if own or rolled:
            a["next_due_date"][i] = day_number(due) if current == NO_DATE or current < day \
                else min(current, day_number(due))
    a["event"][rows] = True
    writes = Writes(item_inserts=tuple(inserts), statements=tuple(statement_rows),
                    plan_tags=tuple(tags))
    return StepOutput(ChunkState(a, v), tuple(requests), writes=writes,
                      counts={"statements": len(rows)})


def month_end(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """On the last day of a month, post the penalty accrued so far (a matured, delinquent
    loan has no more due dates to post it on)."""
    today = inputs.today
    if today.day != calendar.monthrange(today.year, today.month)[1]:
        return StepOutput(state)
    a0 = state.a
    rows = np.flatnonzero((a0["penalty_accrual_num"] > 0) & (a0["status"] == "active"))
    if len(rows) == 0:
        return StepOutput(state)
    a = _own(a0, "penalty_accrual_num", "penalty_posted_minor", "penalty_unpaid_minor",
             "event")
    amounts = _post_accrual(a, rows, "penalty")
    a["penalty_unpaid_minor"][rows] += amounts
    requests: list[L.TransferRequest] = []
    for k, i in enumerate(rows):
        _posting(requests, f"cob:{today.isoformat()}:{a['account_id'][i]}:month_end:penalty",
                 "credit.penalty_posted", int(a["penalty_account_id"][i]),
                 inputs.platform["penalty_income"], int(amounts[k]), a["account_id"][i])
    a["event"][rows] = True
    return StepOutput(replace(state, a=a), tuple(requests))


def close_settled(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """Plans and loans that owe nothing more (paid by today's auto-debit) are closed; the
    sub-minor remainder of their accrual is waived, never rounded up against the customer
    (:func:`waive_residues` dropped it already; whole units are still owed)."""
    a0, v = state.a, state.v
    open_due = v["valid"] & np.isin(v["status"], ("billed", "past_due"))
    due = _sum_by_account(state.n, v["pos"][open_due], _total_due(v)[open_due])
    denominator = MICRO * a0["year_basis_days"]
    settled = ((a0["kind"] != "line") & (a0["status"] == "active") & (due == 0)
               & (_principal(a0) + a0["penalty_unpaid_minor"] + a0["late_fee_unpaid_minor"]
                  == 0)
               & (a0["interest_accrual_num"] < denominator)
               & (a0["penalty_accrual_num"] < denominator))
    rows = np.flatnonzero(settled)
    if len(rows) == 0:
        return StepOutput(state)
    a = _own(a0, "status", "interest_accrual_num", "penalty_accrual_num", "next_due_date",
             "event")
    a["status"][rows] = "closed"
    a["interest_accrual_num"][rows] = 0
    a["penalty_accrual_num"][rows] = 0
    a["next_due_date"][rows] = NO_DATE
    a["event"][rows] = True
    return StepOutput(replace(state, a=a))


def buckets(state: ChunkState, inputs: DayInputs) -> StepOutput:
    """Delinquency bucket by each account's product bounds (few products: one pass each)."""
    a0 = state.a
    labels = np.empty(state.n, dtype=object)
    if state.n == 0:
        return StepOutput(replace(state, a={**a0, "bucket": labels}))
    # Group by product code then version with element-wise comparisons: the products are
    # few, and sorting the accounts' code strings (np.unique on objects) or building a
    # "code:version" string per account cost more than the bucketing itself.
    codes = a0["product_code"]
    versions = a0["product_version"]
    for code in set(codes.tolist()):
        of_code = codes == code
        for version in np.unique(versions[of_code]).tolist():
            mask = of_code & (versions == version)
            bounds = inputs.catalogue.get(str(code), int(version)).bucket_bounds
            labels[mask] = buckets_vectorised(a0["dpd"][mask], bounds)
    return StepOutput(replace(state, a={**a0, "bucket": labels}))


STEPS: tuple[Step, ...] = (
    Step("auto_debit", auto_debit),
    Step("accrue_and_age", accrue_and_age_step),
    Step("roll", roll),
    Step("waive_residues", waive_residues),
    Step("late_fees", late_fees),
    Step("write_off", write_off),
    Step("bill", bill),
    Step("statements", statements),
    Step("month_end", month_end),
    Step("close_settled", close_settled),
    Step("buckets", buckets),
)


@dataclass(frozen=True)
class ChunkOutput:
    """Every step's output, collected in order, for the executor."""

    state: ChunkState
    requests: tuple[L.TransferRequest, ...]
    events: tuple[Event, ...]
    writes: Writes
    counts: Mapping[str, int]


def run_steps(state: ChunkState, inputs: DayInputs, steps: tuple[Step, ...] = STEPS
              ) -> ChunkOutput:
    """Run ``steps`` in order, each on the state the previous one returned; collect their
    requests, events, writes and counts (summed by key)."""
    requests: list[L.TransferRequest] = []
    events: list[Event] = []
    writes = Writes()
    counts: dict[str, int] = {}
    for step in steps:
        out = step.run(state, inputs)
        state = out.state
        requests.extend(out.requests)
        events.extend(out.events)
        writes = writes + out.writes
        for key, value in out.counts.items():
            counts[key] = counts.get(key, 0) + value
    return ChunkOutput(state, tuple(requests), tuple(events), writes, counts)
