"""The simulated economy's after-care actors (issue #20): consumers who ask the assistant,
dispute a purchase, or ask for hardship help when their income drops; merchants who answer
disputes and an operator who decides them and the referred hardship requests.

Every actor goes through the service functions the API and the apps call:

* questions: :meth:`creditpay.assistant.service.Assistant.ask` (``POST
  /v1/me/assistant/messages``), in **one separate process** that trains the classifier once,
  while the economy sets up (the training costs seconds), and answers on the other core
  while the run goes on (each answer reads the book as it stands when it is answered, the
  same business day; the counts are collected at the end). A database in memory cannot be
  shared with another process: there the assistant runs in this process (trained on first
  use, once);
* disputes: :class:`creditpay.payments.disputes.Disputes` (``open_dispute``, the merchant's
  ``respond``, the operator's ``decide``). A dispute above the four-eyes threshold would be
  a proposal for a second operator: the consumers here dispute only below it;
* hardship: :func:`creditpay.protection.hardship.show_hardship_options` and
  :func:`~creditpay.protection.hardship.request_hardship` (the consumer reads the key facts
  and accepts one option by its hash), :func:`creditpay.credit.hardship.resolve_request`
  (the operator's decision on a referred request).

Each actor draws from its own random stream (seeded by the run's seed and the day), so the
rest of the economy's draws are those of a run without them; what they do (a refund, a
paused plan, a new schedule) changes the book as it would on the platform. A consumer whose
income drops (the unemployment shock, or a personal drop drawn here: job loss, illness, a
fall in income) pays less reliably from then on and asks for help once.

Figures (``figures.json``): ``disputes`` (opened, by outcome, days paused), ``hardship``
(requests, approved, referred, declined, by option, refusals by rule) and ``assistant``
(questions, by intent, handoffs and the tickets they opened). Amounts are minor units.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from creditpay.sim import behaviour as B

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from creditpay.db.uow import Tx
    from creditpay.sim.economy import Agent, Economy

__all__ = ["Aftercare", "AssistantWorker", "QUESTIONS", "ASSISTANT_DAILY_SHARE",
           "DISPUTE_DAILY_SHARE", "INCOME_DROP_DAILY_SHARE"]

# A consumer asks the assistant one question on a given day with this chance.
ASSISTANT_DAILY_SHARE = 0.006
# What they ask, by language: the topics of the assistant's intents, paraphrased, some with
# typos, and the fixed phrase that hands the conversation to a person.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "zh-CN": ("我这个月账单多少钱", "这期要还多少", "还款日是哪天", "最低还款是多少",
              "怎么还款", "怎么开通自动扣款", "我的额度还有多少", "退款到账了吗",
              "这笔消费我没收到货，怎么申诉", "我失业了还不上钱怎么办", "我的账户被盗刷了",
              "境外消费的汇率手续费怎么算", "账单可以分期吗", "我的信用分怎么提高",
              "转人工", "今天天气怎么样"),
    "en": ("how much is my bill", "whats my bill this month", "when is my due date",
           "what is the minimum payment", "how do I repay", "turn on auto debit please",
           "how much credit do I have left", "where is my refund", "I want to dispute a "
           "charge, the parcel never came", "I lost my job and cannot pay", "someone used "
           "my account, freeze it", "what fee do you charge abroad",
           "can I split my bill into installments", "how do I improve my credit score",
           "Talk to a person", "tell me a joke"),
}
ZH_SHARE = 0.7  # of questions asked in Chinese
# A consumer with a captured payment disputes their latest one on a given day with this
# chance; the merchant answers after two days (accepting some), the operator decides the
# contested ones two days later.
DISPUTE_DAILY_SHARE = 0.002
DISPUTE_REASONS = ("not_received", "not_as_described", "duplicate", "unauthorised")
MERCHANT_ANSWER_AFTER_DAYS = 2
MERCHANT_ACCEPT_SHARE = 0.35
OPERATOR_DECIDE_AFTER_DAYS = 2
CONSUMER_WINS_SHARE = 0.5
EVIDENCE = "Delivered to the address on the order; courier's proof of delivery on file."
# A consumer who uses credit has their income drop on a given day with this chance.
INCOME_DROP_DAILY_SHARE = 0.0015
HARDSHIP_RETRY_DAYS = 5  # a request refused for now (a bill due today) is tried again
OPERATOR_APPROVES_SHARE = 0.75  # of referred hardship requests


@dataclass
class AftercareTally:
    questions: int = 0
    by_intent: Counter[str] = field(default_factory=Counter)
    handoffs: int = 0
    tickets: int = 0
    assistant_refused: Counter[str] = field(default_factory=Counter)
    disputes_opened: int = 0
    disputes_by_reason: Counter[str] = field(default_factory=Counter)
    disputes_by_outcome: Counter[str] = field(default_factory=Counter)
    disputes_paused: int = 0
    paused_days: int = 0
    disputes_skipped_four_eyes: int = 0
    income_drops: int = 0
    hardship_requests: int = 0
    hardship_decisions: Counter[str] = field(default_factory=Counter)
    hardship_by_option: Counter[str] = field(default_factory=Counter)
    hardship_by_account: Counter[str] = field(default_factory=Counter)
    hardship_not_offered: Counter[str] = field(default_factory=Counter)


# ---------------------------------------------------------------- the assistant's process
def _serve(pipe: Connection, database_url: str, start: str, durability: str) -> None:
    """The assistant's process: train once, then answer each question in its own
    transaction at the business time it was asked, until told to stop (None). Its log
    lines (one per answer) are not the run's output: they go nowhere."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # its log (stdout); errors still show
    from creditpay.assistant.service import Assistant
    from creditpay.clock import SimulatedClock
    from creditpay.credit.products import load_catalogue
    from creditpay.db.engine import make_engine
    from creditpay.db.uow import UnitOfWork
    from creditpay.errors import DomainError

    assistant = Assistant(catalogue=load_catalogue()).warm()
    engine = make_engine(database_url, pool_size=1, durability=durability)
    clock = SimulatedClock(start)
    uow = UnitOfWork(engine, clock)
    try:
        while True:
            message = pipe.recv()
            if message is None:
                break
            customer_id, conversation_id, text, now = message
            clock.set(max(clock.now(), dt.datetime.fromisoformat(now)))
            try:
                def ask(tx: Tx, c: str = customer_id, v: str | None = conversation_id,
                        q: str = text) -> Any:
                    return assistant.ask(tx, c, v, q)

                answer = uow.run(ask)
                pipe.send({"conversation_id": answer.conversation_id,
                           "intent": answer.intent, "ticket_id": answer.ticket_id})
            except DomainError as exc:
                pipe.send({"error": getattr(exc, "type_slug", type(exc).__name__)})
            except Exception as exc:  # noqa: BLE001 - e.g. the database busy too long:
                # counted as that question's error; the process goes on with the next.
                pipe.send({"error": type(exc).__name__})
    finally:
        engine.dispose()
        pipe.close()


class AssistantWorker:
    """The assistant in its own process (trained once while the economy sets up), asked
    without waiting: the run goes on while it answers on the other core, and
    :meth:`answers` collects what it has answered (all of it with ``wait``). For a database
    in memory, which another process cannot open, it runs in this process (trained on
    first use). An answer is the conversation id, intent and ticket (a dict), or
    ``{"error": slug}`` for a refused question."""

    def __init__(self, economy: Economy) -> None:
        self.economy = economy
        url = economy.config.database_url
        self.process: Any = None
        self.pipe: Any = None
        self.pending = 0
        self.done: list[dict[str, Any]] = []
        if url.startswith("sqlite") and (url in ("sqlite://", "sqlite:///:memory:")
                                         or "mode=memory" in url):
            return
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        durability = economy.config.durability if url.startswith("sqlite") else "full"
        self.process = context.Process(
            target=_serve, args=(child, url, economy.clock.now().isoformat(), durability),
            name="creditpay-sim-assistant", daemon=True)
        self.process.start()
        child.close()

    def ask(self, customer_id: str, conversation_id: str | None, text: str) -> None:
        economy = self.economy
        if self.process is None:
            from creditpay.errors import DomainError

            try:
                answer = economy.uow.run(lambda tx: economy.services.assistant.ask(
                    tx, customer_id, conversation_id, text))
            except DomainError as exc:
                self.done.append({"error": getattr(exc, "type_slug", type(exc).__name__)})
                return
            self.done.append({"conversation_id": answer.conversation_id,
                              "intent": answer.intent, "ticket_id": answer.ticket_id})
            return
        self._receive(wait=False)  # never let its answers fill the pipe
        try:
            self.pipe.send((customer_id, conversation_id, text,
                            economy.clock.now().isoformat()))
        except (BrokenPipeError, OSError):  # the process ended (its error is on stderr)
            self.done.append({"error": "assistant_process_ended"})
            return
        self.pending += 1

    def answers(self, *, wait: bool = False) -> list[dict[str, Any]]:
        """The answers received since the last call (with ``wait``: every one asked)."""
        self._receive(wait=wait)
        done, self.done = self.done, []
        return done

    def _receive(self, *, wait: bool) -> None:
        while self.pending and (wait or self.pipe.poll()):
            try:
                self.done.append(self.pipe.recv())
            except EOFError:  # the process died (its error is on stderr): count the rest
                self.done.extend({"error": "assistant_process_ended"}
                                 for _ in range(self.pending))
                self.pending = 0
                break
            self.pending -= 1

    def close(self) -> None:
        if self.process is None:
            return
        try:
            self._receive(wait=True)
            self.pipe.send(None)
        except (BrokenPipeError, EOFError, OSError):
            pass
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        self.pipe.close()
        self.process = None


# ---------------------------------------------------------------- the actors
@dataclass
class _OpenDispute:
    dispute_id: str
    merchant: Any  # the merchant's Principal
    opened_day: int
    paused: bool
    answered_day: int | None = None


class Aftercare:
    """The after-care actors of one run (:class:`creditpay.sim.economy.Economy` calls
    :meth:`run_day` once a business day, :meth:`figures` at the end, :meth:`close`)."""

    def __init__(self, economy: Economy) -> None:
        self.economy = economy
        self.tally = AftercareTally()
        self.worker = AssistantWorker(economy)
        self.disputes: list[_OpenDispute] = []
        self.referred: list[tuple[str, int]] = []  # (request id, day)
        self.needs_help: dict[int, tuple[str, int]] = {}  # consumer index: (reason, until)
        self.asked_for_help: set[int] = set()

    def close(self) -> None:
        self.worker.close()

    def run_day(self) -> None:
        e = self.economy
        seed, day = e.config.seed, e.day

        def rng(actor: str) -> random.Random:
            return random.Random(f"{seed}:aftercare:{actor}:{day}")

        e._timed("aftercare.assistant", lambda: self._count_answers(wait=True,
                                                                    acknowledge=True))
        e._timed("aftercare.hardship", lambda: self._decide_hardship(rng("decide")))
        e._timed("aftercare.disputes", lambda: self._answer_and_decide_disputes(
            rng("answer")))
        e._timed("aftercare.disputes", lambda: self._open_disputes(rng("dispute")))
        e._timed("aftercare.hardship", lambda: self._income_drops(rng("income")))
        e._timed("aftercare.hardship", self._ask_for_help)
        e._timed("aftercare.assistant", lambda: self._questions(rng("ask")))

    # ------------------------------------------------------------ the assistant
    def _questions(self, rng: random.Random) -> None:
        """Today's questions, asked at 23:00 without waiting (collected tomorrow)."""
        self.economy._at(23)
        for agent in self.economy.agents:
            if rng.random() >= ASSISTANT_DAILY_SHARE:
                continue
            language = "zh-CN" if rng.random() < ZH_SHARE else "en"
            self.worker.ask(agent.customer_id, None, rng.choice(QUESTIONS[language]))

    def _count_answers(self, *, wait: bool = False, acknowledge: bool = False) -> None:
        """Count the answers received (with ``wait``: all of yesterday's, which the
        assistant's process had a business day to answer). A handoff's ticket is a
        complaint: with ``acknowledge``, staff acknowledge it now (within the day the
        complaints policy gives) and resolve it with the others
        (:meth:`creditpay.sim.economy.Economy._handle_complaints`)."""
        from creditpay.protection.complaints import acknowledge_complaint

        e = self.economy
        t = self.tally
        for answer in self.worker.answers(wait=wait):
            ticket = answer.get("ticket_id")
            if acknowledge and ticket:
                def ack(tx: Tx, c: str = str(ticket)) -> Any:
                    return acknowledge_complaint(tx, c, e.operator.id)

                e._attempt("complaint", ack)
                e.complaints_open.append((str(ticket), e.day))
            if "error" in answer:
                t.assistant_refused[str(answer["error"])] += 1
                continue
            t.questions += 1
            t.by_intent[str(answer["intent"])] += 1
            if answer["intent"] == "handoff_human":
                t.handoffs += 1
            if answer.get("ticket_id"):
                t.tickets += 1

    # ------------------------------------------------------------ disputes
    def _merchants(self) -> dict[str, Any]:
        return {p.id: p for p in self.economy.merchant_principals}

    def _open_disputes(self, rng: random.Random) -> None:
        e = self.economy
        disputes = e.payments.disputes
        merchants = self._merchants()
        four_eyes = e.services.four_eyes
        t = self.tally
        for agent in e.agents:
            if rng.random() >= DISPUTE_DAILY_SHARE:
                continue
            with e.uow.connect() as conn:
                payments = disputes.disputable_payments(conn, agent.principal, limit=5)
            candidates = [p for p in payments if p["open_dispute_id"] is None
                          and p["disputable_minor"] > 0 and p["merchant_id"] in merchants]
            if not candidates:
                continue
            payment = rng.choice(candidates)
            if four_eyes.controls_amount(payment["disputable_minor"]):
                t.disputes_skipped_four_eyes += 1
                continue
            reason = rng.choice(DISPUTE_REASONS)

            def open_one(tx: Tx, a: Agent = agent, p: dict[str, Any] = payment,
                         r: str = reason) -> Any:
                return disputes.open_dispute(tx, a.principal,
                                             payment_intent_id=p["payment_intent_id"],
                                             reason=r, amount_minor=None, description=None)

            view = e._attempt("dispute", open_one)
            if view is None:
                continue
            t.disputes_opened += 1
            t.disputes_by_reason[reason] += 1
            t.disputes_paused += bool(view["credit_paused"])
            self.disputes.append(_OpenDispute(view["dispute_id"],
                                              merchants[payment["merchant_id"]], e.day,
                                              bool(view["credit_paused"])))

    def _answer_and_decide_disputes(self, rng: random.Random) -> None:
        e = self.economy
        disputes = e.payments.disputes
        still_open = []
        for d in self.disputes:
            view: Any = None
            if d.answered_day is None and e.day - d.opened_day >= MERCHANT_ANSWER_AFTER_DAYS:
                accept = rng.random() < MERCHANT_ACCEPT_SHARE

                def answer(tx: Tx, d: _OpenDispute = d, accept: bool = accept) -> Any:
                    return disputes.respond(
                        tx, d.merchant, d.dispute_id,
                        action="accept" if accept else "contest",
                        evidence=None if accept else EVIDENCE)

                view = e._attempt("dispute_answer", answer)
                d.answered_day = e.day
            elif d.answered_day is not None and \
                    e.day - d.answered_day >= OPERATOR_DECIDE_AFTER_DAYS:
                outcome = "consumer" if rng.random() < CONSUMER_WINS_SHARE else "merchant"

                def decide(tx: Tx, d: _OpenDispute = d, outcome: str = outcome) -> Any:
                    return disputes.decide(tx, e.operator.id, d.dispute_id, outcome=outcome)

                view = e._attempt("dispute_decision", decide)
            if view is None:
                view = self._status(d.dispute_id)
            if view["status"] in ("open", "under_review"):
                still_open.append(d)
                continue
            self.tally.disputes_by_outcome[str(view["status"])] += 1
            if d.paused:
                self.tally.paused_days += e.day - d.opened_day
        self.disputes = still_open

    def _status(self, dispute_id: str) -> dict[str, Any]:
        e = self.economy
        with e.uow.connect() as conn:
            return dict(e.payments.disputes.get(conn, e.operator, dispute_id))

    # ------------------------------------------------------------ hardship
    def _income_drops(self, rng: random.Random) -> None:
        """Consumers who use credit and whose income drops today (a job lost, an illness,
        a fall in income); those hit by the unemployment shock too. Each asks for help
        once."""
        t = self.tally
        for agent in self.economy.agents:
            index = agent.consumer.index
            if index in self.asked_for_help or index in self.needs_help:
                continue
            if agent.out_of_work and agent.has_credit:
                self.needs_help[index] = ("job_loss", self.economy.day + HARDSHIP_RETRY_DAYS)
                continue
            if not agent.has_credit or rng.random() >= INCOME_DROP_DAILY_SHARE:
                continue
            c = agent.consumer
            reason = "job_loss" if c.employment_type == "salaried" else rng.choice(
                ("illness", "income_drop"))
            agent.consumer = B.lose_work(c)
            agent.out_of_work = True
            t.income_drops += 1
            self.needs_help[index] = (reason, self.economy.day + HARDSHIP_RETRY_DAYS)

    def _help_account(self, agent: Agent) -> str | None:
        """The account a consumer asks help with: their plan or loan with the most
        principal, else their line when it is owed something."""
        from creditpay.credit.service import list_accounts

        with self.economy.uow.connect() as conn:
            accounts = [a for a in list_accounts(conn, agent.customer_id)
                        if a.status == "active" and a.principal_minor > 0]
        financed = [a for a in accounts if a.kind in ("plan", "loan")]
        lines = [a for a in accounts if a.kind == "line"]
        chosen = max(financed, key=lambda a: (a.principal_minor, a.account_id), default=None)
        if chosen is None and lines:
            chosen = lines[0]
        return None if chosen is None else str(chosen.account_id)

    def _ask_for_help(self) -> None:
        from creditpay.errors import DomainError, StateError
        from creditpay.protection.hardship import request_hardship, show_hardship_options

        e = self.economy
        t = self.tally
        by_index = {a.consumer.index: a for a in e.agents}
        for index, (reason, until) in sorted(self.needs_help.items()):
            agent = by_index[index]
            account_id = self._help_account(agent)
            if account_id is None:
                del self.needs_help[index]
                self.asked_for_help.add(index)
                continue
            try:
                with e.uow.connect() as conn:
                    shown = show_hardship_options(
                        conn, customer_id=agent.customer_id, account_id=account_id,
                        reason=reason, language="zh-CN", today=e.clock.today(),
                        catalogue=e.services.catalogue)
            except StateError as exc:
                rule = str(exc.extra.get("rule", "hardship"))
                if rule != "hardship.billed" or e.day >= until:
                    t.hardship_not_offered[rule] += 1
                    del self.needs_help[index]
                    self.asked_for_help.add(index)
                continue  # a bill due today: ask again tomorrow
            except DomainError as exc:
                t.hardship_not_offered[getattr(exc, "type_slug", "refused")] += 1
                del self.needs_help[index]
                self.asked_for_help.add(index)
                continue
            del self.needs_help[index]
            self.asked_for_help.add(index)
            # The most affordable: the smallest new installment (a holiday before a longer
            # term when equal).
            option = min(shown.options, key=lambda o: (o.figures["installment_minor"],
                                                       o.figures["kind"] != "payment_holiday"))
            request_id = f"sim-hr-{e.day}-{index}"

            def request(tx: Tx, a: Agent = agent, o: Any = option, i: str = request_id,
                        account: str = account_id, r: str = reason) -> Any:
                return request_hardship(
                    tx, request_id=i, customer_id=a.customer_id, account_id=account,
                    reason=r, option_id=o.figures["option_id"],
                    key_facts_hash=o.key_facts_sha256, catalogue=e.services.catalogue)

            result = e._attempt("hardship", request)
            if result is None:
                continue
            t.hardship_requests += 1
            t.hardship_decisions[result.status] += 1
            t.hardship_by_option[result.option_kind] += 1
            t.hardship_by_account["line" if option.figures.get("line") else "plan_or_loan"] += 1
            if result.status == "referred":
                self.referred.append((result.request_id, e.day))

    def _decide_hardship(self, rng: random.Random) -> None:
        """The operator decides yesterday's referred requests (approve most; one whose
        figures changed since is declined, so the consumer can choose again)."""
        from creditpay.credit.hardship import resolve_request
        from creditpay.errors import StateError

        e = self.economy
        waiting = []
        for request_id, day in self.referred:
            if e.day <= day:
                waiting.append((request_id, day))
                continue
            decision = "approve" if rng.random() < OPERATOR_APPROVES_SHARE else "decline"

            def resolve(tx: Tx, i: str = request_id, d: str = decision) -> Any:
                return resolve_request(tx, request_id=i, decision=d,
                                       operator_id=e.operator.id, note=None,
                                       catalogue=e.services.catalogue)

            try:
                result = e.uow.run(resolve)
            except StateError:  # the account changed since: declined, to choose again
                def decline(tx: Tx, i: str = request_id) -> Any:
                    return resolve(tx, i, "decline")

                result = e.uow.run(decline)
            self.tally.hardship_decisions[f"operator_{result.status}"] += 1
        self.referred = waiting

    # ------------------------------------------------------------ figures
    def figures(self) -> dict[str, Any]:
        self._count_answers(wait=True)
        t = self.tally
        decisions = t.hardship_decisions
        return {
            "disputes": {
                "opened": t.disputes_opened,
                "by_reason": dict(sorted(t.disputes_by_reason.items())),
                "by_outcome": dict(sorted(t.disputes_by_outcome.items())),
                "open_at_end": len(self.disputes),
                "plans_paused": t.disputes_paused, "paused_days": t.paused_days,
                "not_opened_above_four_eyes": t.disputes_skipped_four_eyes},
            "hardship": {
                "income_drops": t.income_drops, "requests": t.hardship_requests,
                "approved": decisions["approved"] + decisions["operator_approved"],
                "approved_at_once": decisions["approved"],
                "referred": decisions["referred"],
                "operator_approved": decisions["operator_approved"],
                "operator_declined": decisions["operator_declined"],
                "awaiting_operator": len(self.referred),
                "by_option": dict(sorted(t.hardship_by_option.items())),
                "by_account": dict(sorted(t.hardship_by_account.items())),
                "not_offered": dict(sorted(t.hardship_not_offered.items()))},
            "assistant": {
                "questions": t.questions, "by_intent": dict(sorted(t.by_intent.items())),
                "handoffs": t.handoffs, "tickets_opened": t.tickets,
                "refused": dict(sorted(t.assistant_refused.items()))},
        }
