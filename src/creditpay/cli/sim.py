"""``creditpay sandbox`` (compare credit policies on one simulated population) and
``creditpay bench demo`` (how fast the simulated economy runs, and where its time goes)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from creditpay import demo
from creditpay.sim import sandbox
from creditpay.sim.pnl import FUNDING_RATE_BPS_DEFAULT, LGD_BPS_DEFAULT

__all__ = ["register", "bench_demo", "PLATFORM_PHASES", "MONITORING_PHASES"]

# Phases of creditpay.sim.economy that are service calls (the platform at work), and those
# that read the book back (snapshots for the report, vintages and early-warning monitors).
PLATFORM_PHASES = ("topups", "purchases", "repayments", "refunds", "settle", "expiry",
                   "complaints", "applications", "referrals", "reviews", "fraud_reports")
MONITORING_PHASES = ("snapshots", "monitoring")
RAW_COMMITS_SECONDS = 2.0
SAMPLE_INTERVAL_S = 0.005
SIMULATION_NOTE = (
    "creditpay.sim.economy times phases, not the simulation's own Python: every phase mixes "
    "the behaviour draws of the consumers with the service calls they make. 'simulation' in "
    "shares is what no phase measured (the day loop, progress bar and the final figures, "
    "including the ledger verification), so it is not the sim's own Python alone; "
    "'sampled' estimates that by stack sampling.")


class _StackSampler:
    """Samples one thread's stack every ``interval_s``: a sample is 'simulation' when the
    innermost creditpay frame is in ``creditpay.sim``, 'platform' when it is elsewhere in
    creditpay (services, db, ledger, risk), 'other' with no creditpay frame.

    A sample waits for the GIL, so it lands within a switch interval (5 ms) of its time:
    close enough to uniform in time for shares over a run of seconds.
    """

    def __init__(self, thread_id: int, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.thread_id = thread_id
        self.interval_s = interval_s
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def _classify(self, frame: Any) -> str:
        depth = 0
        while frame is not None and depth < 500:  # bounded walk
            module = frame.f_globals.get("__name__", "")
            if module.startswith("creditpay."):
                return "simulation" if module.startswith("creditpay.sim.") else "platform"
            frame = frame.f_back
            depth += 1
        return "other"

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            frame = sys._current_frames().get(self.thread_id)
            if frame is not None:
                self.counts[self._classify(frame)] += 1
            del frame

    def __enter__(self) -> _StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self) -> dict[str, Any]:
        total = sum(self.counts.values())
        return {"method": "stack sampling of the run's thread every "
                          f"{self.interval_s * 1000:.0f} ms; innermost creditpay frame in "
                          "creditpay.sim = simulation, elsewhere in creditpay = platform",
                "samples": total,
                **{f"{k}_share": round(self.counts[k] / total, 4) if total else 0.0
                   for k in ("simulation", "platform", "other")}}


def _group(timings: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """Seconds per group (simulation = the unmeasured rest) and the phases not recognised."""
    total = timings["total"]
    groups = {"simulation": 0.0, "platform_services": 0.0, "close_of_business": 0.0,
              "portfolio_monitoring": 0.0, "other_phases": 0.0}
    unknown = []
    for phase, seconds in timings.items():
        if phase == "total":
            continue
        if phase in PLATFORM_PHASES or phase.startswith("setup."):
            groups["platform_services"] += seconds
        elif phase == "close_of_business":
            groups["close_of_business"] += seconds
        elif phase in MONITORING_PHASES:
            groups["portfolio_monitoring"] += seconds
        else:  # a phase added to the economy after this benchmark was written
            groups["other_phases"] += seconds
            unknown.append(phase)
    # Each phase is rounded to 10 ms, so the rest can come out a few ms below zero.
    groups["simulation"] = max(0.0, total - sum(groups.values()))
    return groups, sorted(unknown)


def bench_demo(*, customers: int, merchants: int, days: int, seed: int,
               progress: bool = False) -> dict[str, Any]:
    """Run the demo economy on a fresh temporary SQLite file and report its speed, where the
    time goes, and the store's raw durable commits/s measured on the same disk afterwards."""
    from creditpay.benchmarks.checkout import _raw_commits, _store
    from creditpay.sim.economy import EconomyConfig, run_economy

    with _store("sqlite") as (url, connect, _server):
        with _StackSampler(threading.get_ident()) as sampler:
            figures, timings = run_economy(EconomyConfig(
                customers=customers, merchants=merchants, days=days, seed=seed,
                database_url=url, progress=progress))
        raw_commits_per_s = _raw_commits("sqlite", connect, 1, RAW_COMMITS_SECONDS)
    total = float(timings["total"])
    groups, unknown = _group(timings)
    grouped_total = sum(groups.values())
    transfers = int(figures["transfers"])
    transfers_per_s = transfers / total if total else 0.0
    return {
        "bench": "demo", "store": "sqlite", "cpu_count": os.cpu_count(),
        "durability": "normal (synchronous=NORMAL, as creditpay demo)",
        "customers": customers, "merchants": merchants, "days": days, "seed": seed,
        "seconds": round(total, 2),
        "consumer_days_per_s": round(customers * days / total, 1) if total else 0.0,
        "shares": {k: round(v / grouped_total, 4) if grouped_total else 0.0
                   for k, v in groups.items()},
        "seconds_by_group": {k: round(v, 2) for k, v in groups.items()},
        "phases_s": timings,
        "platform_phases": [*PLATFORM_PHASES, "setup.*"],
        "monitoring_phases": list(MONITORING_PHASES),
        "other_phase_names": unknown,
        "simulation_separable": False,
        "simulation_note": SIMULATION_NOTE,
        "sampled": sampler.summary(),
        "transfers": transfers,
        "transfers_per_s": round(transfers_per_s, 1),
        "raw_commits_per_s": round(raw_commits_per_s, 1),
        "raw_commits": "single-row BEGIN IMMEDIATE; INSERT; COMMIT, WAL, synchronous=FULL, "
                       f"one writer, {RAW_COMMITS_SECONDS:.0f} s, same temporary folder",
        "ratio": round(transfers_per_s / raw_commits_per_s, 4) if raw_commits_per_s else None,
        "ledger_ok": bool(figures["ledger_ok"]),
    }


def _demo_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bench demo: {result['customers']:,} consumers, "
                        f"{result['merchants']:,} merchants, {result['days']} days")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("seconds", f"{result['seconds']:.1f}")
    table.add_row("consumer-days per second", f"{result['consumer_days_per_s']:,.1f}")
    for group, share in result["shares"].items():
        table.add_row(f"share: {group.replace('_', ' ')}", f"{share:.1%}")
    sampled = result["sampled"]
    table.add_row("sampled: simulation / platform",
                  f"{sampled['simulation_share']:.1%} / {sampled['platform_share']:.1%}")
    table.add_row("ledger transfers per second", f"{result['transfers_per_s']:,.1f}")
    table.add_row("raw durable commits per second", f"{result['raw_commits_per_s']:,.1f}")
    table.add_row("ratio", f"{result['ratio']}")
    Console().print(table)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("sandbox")
    def sandbox_command(
        policy: Annotated[list[Path] | None, typer.Option(
            "--policy", exists=True, dir_okay=False, readable=True,
            help="An application policy file (JSON); give two or more. The first is the "
                 "baseline A.")] = None,
        customers: Annotated[int, typer.Option(min=1, max=1_000_000)]
        = sandbox.CUSTOMERS_DEFAULT,
        merchants: Annotated[int, typer.Option(min=1, max=100_000)]
        = sandbox.MERCHANTS_DEFAULT,
        days: Annotated[int, typer.Option(min=1, max=3650, help="Business days.")]
        = sandbox.DAYS_DEFAULT,
        seed: Annotated[int, typer.Option(help="One seed: one population for every policy.")]
        = 42,
        out: Annotated[Path, typer.Option(help="Folder for the databases, comparison.json "
                                               "and sandbox.html.")] = Path("var/sandbox"),
        json_output: Annotated[bool, typer.Option("--json")] = False,
        funding_rate_bps: Annotated[int, typer.Option(
            min=0, max=10_000, help="The platform's annual cost of the money it lends "
                                    "itself, in basis points.")] = FUNDING_RATE_BPS_DEFAULT,
        lgd_bps: Annotated[int, typer.Option(
            min=0, max=10_000, help="Loss given default of the expected loss on balances "
                                    "outstanding at the end, in basis points.")]
        = LGD_BPS_DEFAULT,
    ) -> None:
        """Run the same simulated population under each credit policy and compare approval
        rate, bad rate, the platform's revenue, funding cost, losses, the expected loss on
        what is still outstanding and expected profit side by side, ranked by it."""
        from creditpay.errors import DomainError

        policies = list(policy or [])
        if len(policies) < 2:
            raise typer.BadParameter(
                f"give at least two policies to compare (got {len(policies)}); "
                "repeat --policy FILE", param_hint="'--policy'")
        try:
            sandbox.check_policies(policies)  # every file valid before any long run
        except DomainError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--policy'") from None
        comparison = sandbox.run_sandbox(policies, customers=customers, merchants=merchants,
                                         days=days, seed=seed, workdir=out,
                                         progress=not json_output,
                                         funding_rate_bps=funding_rate_bps, lgd_bps=lgd_bps)
        if json_output:
            typer.echo(json.dumps(comparison))
        else:
            sandbox.print_table(comparison)
        if not all(p["ledger_ok"] for p in comparison["policies"]):
            raise typer.Exit(1)

    @bench_app.command("demo")
    def bench_demo_command(
        customers: Annotated[int, typer.Option(min=1, max=1_000_000)]
        = demo.CUSTOMERS_DEFAULT,
        merchants: Annotated[int, typer.Option(min=1, max=100_000)] = demo.MERCHANTS_DEFAULT,
        days: Annotated[int, typer.Option(min=1, max=3650)] = demo.DAYS_DEFAULT,
        seed: Annotated[int, typer.Option()] = 42,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
    ) -> None:
        """The simulated economy (creditpay demo) on a temporary SQLite file: consumer-days
        per second, the share of time per phase group, and ledger transfers/s against the
        store's raw durable commits/s measured in the same run."""
        started = time.perf_counter()
        result = bench_demo(customers=customers, merchants=merchants, days=days, seed=seed,
                            progress=not json_output)
        result["wall_seconds"] = round(time.perf_counter() - started, 2)
        if json_output:
            typer.echo(json.dumps(result))
        else:
            _demo_table(result)
        if not result["ledger_ok"]:
            raise typer.Exit(1)
