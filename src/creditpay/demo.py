"""``creditpay demo``: the platform at work on the embedded default (SQLite, no server).

Today it exercises the foundation end to end through the real ledger service: it creates a
fresh database, opens the platform's account plan, gives a seeded population of consumers
wallets and pay-later credit lines, and runs business days of top-ups, purchases paid from
balance or on credit (two-phase holds captured or released), repayments, refunds and merchant
settlement, with the close of each day expiring stale holds. It ends with the books verified
and the balances printed. The simulator issue (#7) replaces the behaviour model with the full
simulated economy; the flags are already the final ones.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from creditpay.money import Money

CURRENCY = "CNY"
MERCHANT_DISCOUNT_RATE = Decimal("0.006")
# A customer acts on about one day in ten: 0.55 / ACTIVITY_SCALE of days.
ACTIVITY_SCALE = 5.5
REFUND_SHARE = 0.03


@dataclass
class DemoFigures:
    customers: int
    merchants: int
    days: int
    transfers: int = 0
    topups_minor: int = 0
    purchases_balance_minor: int = 0
    purchases_credit_minor: int = 0
    holds_released: int = 0
    holds_expired: int = 0
    repayments_minor: int = 0
    refunds_minor: int = 0
    settled_minor: int = 0
    refused_insufficient: int = 0
    refused_over_limit: int = 0
    balances: dict[str, int] = field(default_factory=dict)
    ledger_ok: bool = False

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def run_demo(db_path: Path, *, customers: int, merchants: int, days: int, seed: int,
             start: str = "2025-01-01T08:00:00+00:00", progress: bool = True) -> DemoFigures:
    """Run the demo economy into a fresh SQLite database at ``db_path``."""
    from rich.progress import Progress

    from creditpay import ledger as L
    from creditpay.clock import SimulatedClock
    from creditpay.db.schema import open_database
    from creditpay.db.uow import UnitOfWork
    from creditpay.errors import InsufficientFundsError
    from creditpay.ledger.verify import verify_ledger

    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    # A simulation can be re-run from its seed, so it trades power-loss durability for speed
    # (WAL with synchronous=NORMAL stays consistent after a crash; see db/engine.py).
    engine = open_database(f"sqlite:///{db_path}", pool_size=2, durability="normal")
    clock = SimulatedClock(start)
    uow = UnitOfWork(engine, clock)
    rng = random.Random(seed)
    figures = DemoFigures(customers, merchants, days)
    TR = L.TransferRequest

    with uow.begin() as tx:
        platform = {a.code: a for a in L.open_accounts(tx, [
            L.AccountSpec("platform:bank:CNY", CURRENCY, "bank_settlement", "platform",
                          "platform", "debit"),
            L.AccountSpec("platform:credit_control:CNY", CURRENCY, "credit_limit_control",
                          "platform", "platform", "debit"),
            L.AccountSpec("platform:fee_income:CNY", CURRENCY, "merchant_fee_income",
                          "platform", "platform", "credit"),
        ])}
        wallets, lines, receivables = [], [], []
        for c in range(customers):
            wallet, line, receivable = L.open_accounts(tx, [
                L.AccountSpec(f"wallet:c{c}:CNY", CURRENCY, "wallet", "customer", f"c{c}",
                              "credit", debits_must_not_exceed_credits=True),
                L.AccountSpec(f"line_available:c{c}:CNY", CURRENCY, "credit_line_available",
                              "customer", f"c{c}", "credit",
                              debits_must_not_exceed_credits=True),
                L.AccountSpec(f"receivable_principal:c{c}:CNY", CURRENCY,
                              "credit_receivable_principal", "customer", f"c{c}", "debit"),
            ])
            wallets.append(wallet)
            lines.append(line)
            receivables.append(receivable)
        payables = L.open_accounts(tx, [
            L.AccountSpec(f"merchant_payable:m{m}:CNY", CURRENCY, "merchant_payable",
                          "merchant", f"m{m}", "credit") for m in range(merchants)])
        # Every customer gets a pay-later limit of 500-5,000 CNY.
        L.create_transfers(tx, [
            TR(f"grant:c{c}", "credit.limit_grant",
               debit_account_id=platform["credit_limit_control"].id,
               credit_account_id=lines[c].id, amount_minor=rng.randint(5, 50) * 10_000)
            for c in range(customers)])

    open_holds: list[tuple[str, int, int]] = []  # (hold id, customer, amount)
    # Purchases to refund tomorrow: id, customer, merchant, amount, paid on credit.
    purchases: list[tuple[str, int, int, int, bool]] = []
    ids = iter(range(10**9))
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("business days", total=days)
        for day in range(days):
            for c in range(customers):
                action = rng.random() * ACTIVITY_SCALE
                if action >= 0.55:
                    continue  # idle today
                try:
                    with uow.begin() as tx:
                        if action < 0.15:
                            amount = rng.randint(50, 500) * 100
                            L.create_transfer(tx, TR(
                                f"topup:{next(ids)}", "wallet.topup",
                                debit_account_id=platform["bank_settlement"].id,
                                credit_account_id=wallets[c].id, amount_minor=amount))
                            figures.topups_minor += amount
                        elif action < 0.45:
                            merchant = rng.randrange(merchants)
                            amount = int(rng.lognormvariate(8.5, 0.8))
                            use_credit = rng.random() < 0.5
                            pid = f"pay:{next(ids)}"
                            if use_credit:  # hold the limit now, capture later
                                L.create_transfer(tx, TR(
                                    pid, "credit.purchase_hold", kind="pending",
                                    debit_account_id=lines[c].id,
                                    credit_account_id=platform["credit_limit_control"].id,
                                    amount_minor=amount, timeout_seconds=3 * 86400))
                                open_holds.append((pid, c, amount))
                            else:
                                L.create_transfer(tx, TR(
                                    pid, "payment.balance", debit_account_id=wallets[c].id,
                                    credit_account_id=payables[merchant].id,
                                    amount_minor=amount))
                                figures.purchases_balance_minor += amount
                                if rng.random() < REFUND_SHARE:
                                    purchases.append((pid, c, merchant, amount, False))
                        elif action < 0.55:
                            owed = L.balance(tx.conn, receivables[c].id).balance_minor
                            available = L.balance(tx.conn, wallets[c].id).available_minor
                            amount = min(owed, available)
                            if amount > 0:  # repay the line from the wallet
                                L.create_transfers(tx, [
                                    TR(f"repay:{next(ids)}", "credit.repayment",
                                       debit_account_id=wallets[c].id,
                                       credit_account_id=receivables[c].id,
                                       amount_minor=amount),
                                    TR(f"restore:{next(ids)}", "credit.limit_restore",
                                       debit_account_id=platform["credit_limit_control"].id,
                                       credit_account_id=lines[c].id, amount_minor=amount),
                                ])
                                figures.repayments_minor += amount
                except InsufficientFundsError as exc:
                    if "line_available" in str(exc):
                        figures.refused_over_limit += 1
                    else:
                        figures.refused_insufficient += 1
            # Merchants capture most credit holds (partially at times) and cancel a few.
            # Evening: first the ledger expires holds whose timeout passed, then merchants
            # capture or cancel what is still held.
            clock.set(clock.now().replace(hour=20, minute=0))
            with uow.begin() as tx:
                figures.holds_expired += L.expire_holds(tx)
            with uow.connect() as conn:
                open_holds = [(p, c, a) for p, c, a in open_holds
                              if L.get_transfer(conn, p).hold_status == "pending"]
            remaining = []
            for pid, c, amount in open_holds:
                roll = rng.random()
                if roll < 0.1:
                    remaining.append((pid, c, amount))  # not captured yet; may expire
                    continue
                with uow.begin() as tx:
                    if roll < 0.15:
                        L.create_transfer(tx, TR(f"{pid}:void", "credit.purchase_hold",
                                                 kind="void", pending_id=pid))
                        figures.holds_released += 1
                        continue
                    captured = amount if roll < 0.9 else amount * rng.randint(50, 99) // 100
                    merchant = rng.randrange(merchants)
                    L.create_transfers(tx, [
                        TR(f"{pid}:post", "credit.purchase_hold", kind="post",
                           pending_id=pid, amount_minor=captured),
                        TR(f"{pid}:fund", "credit.purchase", debit_account_id=receivables[c].id,
                           credit_account_id=payables[merchant].id, amount_minor=captured),
                    ])
                    figures.purchases_credit_minor += captured
                    if rng.random() < REFUND_SHARE:
                        purchases.append((pid, c, merchant, captured, True))
            open_holds = remaining
            # About 3% of purchases come back as refunds the next day.
            for pid, c, merchant, amount, on_credit in purchases:
                with uow.begin() as tx:
                    L.create_transfer(tx, TR(
                        f"{pid}:refund", "payment.refund",
                        debit_account_id=payables[merchant].id,
                        credit_account_id=(receivables if on_credit else wallets)[c].id,
                        amount_minor=amount))
                    figures.refunds_minor += amount
            purchases = []
            # End of day: expire stale holds, then settle merchants net of a 0.6% fee.
            clock.set(clock.now().replace(hour=23, minute=30))
            with uow.begin() as tx:
                for m, payable in enumerate(payables):
                    owed = L.balance(tx.conn, payable.id).balance_minor
                    if owed <= 0:
                        continue
                    fee = Money(owed, CURRENCY).multiply(MERCHANT_DISCOUNT_RATE).amount_minor
                    L.create_transfers(tx, [
                        TR(f"settle:m{m}:d{day}", "merchant.settlement",
                           debit_account_id=payable.id,
                           credit_account_id=platform["bank_settlement"].id,
                           amount_minor=owed - fee),
                        *([TR(f"fee:m{m}:d{day}", "merchant.fee",
                              debit_account_id=payable.id,
                              credit_account_id=platform["merchant_fee_income"].id,
                              amount_minor=fee)] if fee else []),
                    ])
                    figures.settled_minor += owed - fee
            clock.set((clock.now() + dt.timedelta(days=1)).replace(hour=8, minute=0))
            bar.advance(task)

    with uow.connect() as conn:
        report = verify_ledger(conn)
        figures.ledger_ok = report.ok
        figures.transfers = report.transfers
        for name, account in (("bank_settlement", platform["bank_settlement"]),
                              ("merchant_fee_income", platform["merchant_fee_income"])):
            figures.balances[name] = L.balance(conn, account.id).balance_minor
        figures.balances["wallets_total"] = sum(
            L.balance(conn, w.id).balance_minor for w in wallets)
        figures.balances["credit_outstanding"] = sum(
            L.balance(conn, r.id).balance_minor for r in receivables)
        figures.balances["credit_available"] = sum(
            L.balance(conn, line.id).available_minor for line in lines)
    engine.dispose()
    return figures


def _print_summary(figures: DemoFigures, db_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"creditpay demo: {figures.customers} customers, {figures.merchants}"
                        f" merchants, {figures.days} business days")
    table.add_column("figure")
    table.add_column("value", justify="right")

    def money(minor: int) -> str:
        return Money(minor, CURRENCY).format("en")

    rows = [
        ("ledger transfers", f"{figures.transfers:,}"),
        ("wallet top-ups", money(figures.topups_minor)),
        ("purchases paid from balance", money(figures.purchases_balance_minor)),
        ("purchases paid on the pay-later line", money(figures.purchases_credit_minor)),
        ("credit holds released / expired", f"{figures.holds_released} /"
                                            f" {figures.holds_expired}"),
        ("repayments", money(figures.repayments_minor)),
        ("refunds", money(figures.refunds_minor)),
        ("settled to merchants (net of fees)", money(figures.settled_minor)),
        ("refused: insufficient balance / over limit",
         f"{figures.refused_insufficient} / {figures.refused_over_limit}"),
        ("wallets held for customers", money(figures.balances["wallets_total"])),
        ("pay-later credit outstanding", money(figures.balances["credit_outstanding"])),
        ("pay-later credit still available", money(figures.balances["credit_available"])),
        ("merchant fee income", money(figures.balances["merchant_fee_income"])),
        ("books balance (ledger verify)", "yes" if figures.ledger_ok else "NO"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"Database: {db_path}\nLook at it with: creditpay ledger accounts --db"
                  f" {db_path}   |   creditpay ledger verify --db {db_path}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        customers: Annotated[int, typer.Option(min=1, max=1_000_000,
                                               help="Consumers in the simulated economy.")]
        = 5000,
        merchants: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
        days: Annotated[int, typer.Option(min=1, max=3650, help="Business days.")] = 120,
        seed: Annotated[int, typer.Option(help="Same seed, same figures.")] = 42,
        db: Annotated[Path, typer.Option(help="SQLite file to (re)create.")]
        = Path("var/demo.db"),
        out: Annotated[Path, typer.Option(help="Folder for the report files.")]
        = Path("var/demo-report"),
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Run the simulated economy on SQLite and print the portfolio's figures."""
        db.parent.mkdir(parents=True, exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        figures = run_demo(db, customers=customers, merchants=merchants, days=days,
                           seed=seed, progress=not json_output)
        (out / "figures.json").write_text(json.dumps(figures.as_dict(), indent=2))
        if json_output:
            typer.echo(json.dumps(figures.as_dict()))
        else:
            _print_summary(figures, db)
            typer.echo(f"Figures written to {out / 'figures.json'}")
        if not figures.ledger_ok:
            raise typer.Exit(1)
