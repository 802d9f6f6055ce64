"""``creditpay assistant ask`` (issue #20) and ``creditpay bench assistant``.

``ask`` answers one question as the customer ``--customer`` would be answered in the app
(the assistant only ever reads that customer's data), printing ``{"intent", "answer",
"language", "sources", "actions"}`` with ``--json``, else a readable panel. The database
must exist (it is never created here); the turn is stored (masked) like any other, so the
command writes. Exit 2 with one ``error:`` line for a missing database, an unknown
customer, or a bad question.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from creditpay.cli.common import DbOption, fail, open_services

if TYPE_CHECKING:
    from creditpay.assistant.service import Answer
    from creditpay.bootstrap import Services

__all__ = ["register", "assistant_app"]

assistant_app = typer.Typer(help="The customer-service assistant: ask as a customer.",
                            no_args_is_help=True)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``assistant ask`` and ``bench assistant``."""
    app.add_typer(assistant_app, name="assistant")
    bench_app.command("assistant")(bench_assistant)


@assistant_app.command("ask")
def ask(
    text: Annotated[str, typer.Argument(help="The question (zh-CN or en).")],
    customer: Annotated[str, typer.Option("--customer", help="The customer id to answer.")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    conversation: Annotated[str | None, typer.Option(
        "--conversation", help="Continue this conversation of the customer.")] = None,
) -> None:
    """Ask the assistant as customer CUSTOMER_ID; prints the intent, the answer, its sources
    and the proposed actions (never performed here)."""
    from creditpay.errors import DomainError

    with open_services(db, read_only=True) as built:
        try:
            answer = _ask(built, customer, conversation, text)
        except DomainError as exc:
            raise fail(str(exc)) from None
    out = answer.as_dict()
    if as_json:
        typer.echo(json.dumps({k: out[k] for k in ("intent", "answer", "language", "sources",
                                                   "actions")}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.panel import Panel

    console = Console()
    console.print(Panel(out["answer"], title=f"{out['intent']} · {out['language']}",
                        subtitle=out["conversation_id"]))
    for source in out["sources"]:
        console.print(f"  source: {source['doc']} · {source['heading']}")
    for item in out["actions"]:
        console.print(f"  proposed: [bold]{item['label']}[/bold]  {item['method']} "
                      f"{item['path']} {json.dumps(item['body'], ensure_ascii=False)}")


def _ask(built: Services, customer: str, conversation: str | None, text: str) -> Answer:
    """One answer for an existing customer (NotFoundError naming customer otherwise)."""
    from creditpay.errors import NotFoundError
    from creditpay.parties.queries import customer_record

    with built.uow.connect() as conn:
        found = customer_record(conn, customer)
    if found is None:
        raise NotFoundError(f"no customer {customer!r}", field="customer")
    return built.assistant.respond(built.uow, customer, conversation, text, locale=found.locale)


def bench_assistant(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    labelled: Annotated[Path | None, typer.Option(
        "--labelled", help="The labelled set (default: tests/assistant/labelled.yaml).")] = None,
    store: Annotated[str, typer.Option(
        "--store", help="sqlite (a temporary file) or postgresql (a throwaway server).")
    ] = "sqlite",
) -> None:
    """The assistant on its labelled set: intent accuracy per language (target >= 0.95),
    answers leaking another consumer's data (target 0), p50/p99 per answer (target p99 <=
    200 ms) against the bare classifier's predict and one indexed SELECT."""
    from creditpay.benchmarks.assistant import run
    from creditpay.cli.common import settings_for

    if store not in ("sqlite", "postgresql"):
        raise fail("--store must be sqlite or postgresql")
    from creditpay.benchmarks.assistant import DEFAULT_LABELLED

    if not (labelled or DEFAULT_LABELLED).is_file():
        raise fail(f"--labelled: no labelled set at {labelled or DEFAULT_LABELLED} (a source "
                   "tree has tests/assistant/labelled.yaml)")
    settings_for(None)  # this process's logging: stderr, so stdout is the JSON alone
    run(json_output=as_json, labelled=labelled, store=store)
