"""The assistant's use case: :meth:`Assistant.ask`, one consumer question answered in the
caller's one transaction.

Structurally the assistant can only read the asking consumer's data: ``ask`` takes the
authenticated customer id, every read is keyed by it (:class:`creditpay.assistant.answers
.ConsumerReads`), and no identifier in the question's text is ever used to look anything
up. A conversation id belongs to one customer: another customer's is NotFoundError naming
``conversation_id`` (404), as if it did not exist.

Each turn is stored with its question masked (:func:`creditpay.assistant.safety
.mask_transcript`), logged (structlog, ``assistant.answered``) and audited
(``assistant.answered`` on the conversation) with its intent and sources. A handoff opens
a support ticket (:func:`creditpay.protection.complaints.open_complaint`, category
``service_quality``, subject the conversation) once per conversation. Nothing here moves
money: actions are proposals the consumer confirms on the routes they name.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, select, update

from creditpay.assistant import answers as A
from creditpay.assistant.classifier import CONFIDENCE_MIN, IntentClassifier, detect_language
from creditpay.assistant.intents import INTENTS, KEYWORDS
from creditpay.assistant.llm import LlmRephraser
from creditpay.assistant.retrieval import Passage, Retriever
from creditpay.assistant.safety import is_handoff_accept, mask_transcript, refusal_reason
from creditpay.assistant.tables import assistant_conversations, assistant_turns
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import NotFoundError, ValidationError
from creditpay.platform import audit
from creditpay.platform.validators import check_reference

__all__ = ["Assistant", "Answer", "Prepared", "Turn", "conversation_turns", "customer_conversations",
           "MESSAGE_CHARS_MAX", "SOURCES_MAX", "HANDOFF_SUBJECT"]

MESSAGE_CHARS_MAX = 2_000
SOURCES_MAX = 2
CONVERSATIONS_LISTED_MAX = 20
TURNS_LISTED_MAX = 200
HANDOFF_SUBJECT = "assistant_conversation"  # the complaint's subject_type
_CONVERSATION_ID_CHARS_MAX = 40
_log = structlog.get_logger("creditpay.assistant")


@dataclass(frozen=True)
class Answer:
    conversation_id: str
    intent: str
    answer: str
    language: str
    sources: tuple[dict[str, str], ...]
    actions: tuple[dict[str, Any], ...]
    confidence: float  # the classifier's, 0..1 (1.0 for a refusal or the fixed handoff phrase)
    ticket_id: str | None = None  # the support ticket a handoff opened

    def as_dict(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "intent": self.intent,
                "answer": self.answer, "language": self.language,
                "sources": [dict(s) for s in self.sources],
                "actions": [dict(a) for a in self.actions]}


@dataclass
class Assistant:
    """The trained classifier and the BM25 index of one process (built on first use, once,
    behind a lock) and what answers need: the process's catalogue (from
    :class:`creditpay.bootstrap.Services`) and the optional LLM. It needs no key: every
    read it makes is of figures, never of encrypted personal data."""

    catalogue: Any
    llm: LlmRephraser | None = None
    fx_config: Any = None  # the process's FX configuration (None: the packaged one)
    examples: Sequence[tuple[str, str]] | None = None  # default: the packaged examples
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _built: tuple[IntentClassifier, Retriever, A.Templates] | None = field(default=None,
                                                                            repr=False)

    def __post_init__(self) -> None:
        if self.fx_config is None:
            # Read once for the assistant's life, not at each FX answer.
            from creditpay.fx.config import load_fx_config

            self.fx_config = load_fx_config()

    def _models(self) -> tuple[IntentClassifier, Retriever, A.Templates]:
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    classifier = IntentClassifier(self.examples)
                    self._built = (classifier, Retriever(classifier.cut), A.Templates())
                built = self._built
        return built

    @property
    def classifier(self) -> IntentClassifier:
        return self._models()[0]

    @property
    def retriever(self) -> Retriever:
        return self._models()[1]

    def warm(self) -> Assistant:
        """Train and index now (a serving process does it before its first question)."""
        self._models()
        return self

    def ask(self, tx: Tx, customer_id: str, conversation_id: str | None, text: str, *,
            locale: str | None = None) -> Answer:
        """Answer ``text`` for the authenticated ``customer_id`` in conversation
        ``conversation_id`` (None: a new one), in the question's language (``locale``, the
        consumer's, when the text has no letters), all in ``tx``. ValidationError naming
        ``message`` for an empty or too long question, NotFoundError naming
        ``conversation_id`` for one that is not this customer's; either changes nothing.
        With an LLM configured, :meth:`respond` keeps its call outside the transaction."""
        prepared = self.prepare(tx.conn, customer_id, conversation_id, text, today=tx.today,
                                now=tx.now, locale=locale)
        return self.finish(tx, prepared, self.rephrase(prepared))

    def respond(self, uow: UnitOfWork, customer_id: str, conversation_id: str | None,
                text: str, *, locale: str | None = None) -> Answer:
        """:meth:`ask` in three steps: the reads, the optional LLM (holding no transaction:
        SQLite has one writer), then one write transaction."""
        with uow.connect() as conn:
            prepared = self.prepare(conn, customer_id, conversation_id, text,
                                    today=uow.clock.today(), now=uow.clock.now(),
                                    locale=locale)
        wording = self.rephrase(prepared)
        return uow.run(lambda tx: self.finish(tx, prepared, wording))

    def prepare(self, conn: Connection, customer_id: str, conversation_id: str | None,
                text: str, *, today: dt.date, now: dt.datetime,
                locale: str | None = None) -> Prepared:
        """Everything an answer needs, read (nothing written): the checks, the language,
        the refusal or intent, the draft with its proposals and the passages."""
        check_reference(customer_id, "customer_id")
        message = _checked_message(text)
        classifier, retriever, templates = self._models()
        conversation = _own_conversation(conn, customer_id, conversation_id, lock=False)
        cid = conversation["id"] if conversation else "asc_" + secrets.token_hex(16)
        language = detect_language(message, locale or "zh-CN")
        refusal = refusal_reason(message)
        unsure = False
        if refusal is not None:
            intent, confidence = "out_of_scope", 1.0
        elif is_handoff_accept(message):
            intent, confidence = "handoff_human", 1.0
        else:
            prediction = classifier.predict(message)
            intent, confidence = prediction.intent, prediction.confidence
            if confidence < CONFIDENCE_MIN:
                intent, unsure = "handoff_human", True
        assert intent in INTENTS
        if refusal is not None:
            draft = A.Draft(templates.text("refused", language))
        elif unsure:
            draft = A.handoff_offer(language, templates, cid)
        else:
            reads = A.ConsumerReads(conn, customer_id, today, now, self.catalogue,
                                       self.fx_config)
            draft = A.draft(intent, language, reads, templates, conversation_id=cid,
                            text=message)
        passages: tuple[Passage, ...] = ()
        if refusal is None and intent not in ("out_of_scope", "handoff_human"):
            passages = tuple(retriever.search(f"{message} {KEYWORDS[intent]}", SOURCES_MAX))
        return Prepared(customer_id, cid, conversation is None, message, language, intent,
                        confidence, refusal, unsure, draft, passages)

    def rephrase(self, prepared: Prepared) -> str:
        """The answer's words: the template's, or the LLM's rephrasing of them."""
        text = prepared.draft.text
        if self.llm is not None and prepared.passages and text:
            return self.llm.rephrase(text, prepared.passages, prepared.language)
        return text

    def finish(self, tx: Tx, prepared: Prepared, answer_text: str) -> Answer:
        """Store the turn (question masked), open the handoff ticket, audit and log."""
        p = prepared
        templates = self._models()[2]
        conversation = None if p.new else _own_conversation(
            tx.conn, p.customer_id, p.conversation_id, lock=True)
        cid = p.conversation_id
        number = (conversation["turns"] if conversation else 0) + 1
        if conversation is None:
            tx.conn.execute(assistant_conversations.insert().values(
                id=cid, customer_id=p.customer_id, language=p.language, started_at=tx.now,
                last_at=tx.now, turns=1, handoff_complaint_id=None))
        else:
            tx.conn.execute(update(assistant_conversations).where(
                assistant_conversations.c.id == cid).values(last_at=tx.now, turns=number))
        ticket_id: str | None = None
        if p.draft.ticket_needed:
            ticket_id = (conversation or {}).get("handoff_complaint_id") or \
                _open_ticket(tx, p.customer_id, cid)
            answer_text = templates.text("handoff_opened", p.language, ticket=ticket_id)
        sources = tuple(x.source for x in p.passages)
        permille = round(p.confidence * 1000)
        tx.conn.execute(assistant_turns.insert().values(
            conversation_id=cid, number=number, asked_at=tx.now,
            question=mask_transcript(p.message), language=p.language, intent=p.intent,
            confidence_permille=permille, refusal=p.refusal, answer=answer_text,
            sources=[dict(s) for s in sources], actions=[dict(a) for a in p.draft.actions]))
        source_ids = [f"{s['doc']}#{s['heading']}" for s in sources]
        audit.append(tx, "customer", p.customer_id, "assistant.answered", HANDOFF_SUBJECT, cid, {
            "turn": number, "intent": p.intent, "language": p.language, "sources": source_ids,
            "confidence_permille": permille, "refusal": p.refusal, "unsure": p.unsure,
            "actions": [a["kind"] for a in p.draft.actions], "ticket_id": ticket_id})
        _log.info("assistant.answered", customer_id=p.customer_id, conversation_id=cid,
                  turn=number, intent=p.intent, language=p.language, sources=source_ids,
                  refusal=p.refusal, unsure=p.unsure, confidence=round(p.confidence, 3))
        return Answer(cid, p.intent, answer_text, p.language, sources, p.draft.actions,
                      p.confidence, ticket_id)


@dataclass(frozen=True)
class Prepared:
    """An answer worked out from reads only (:meth:`Assistant.prepare`), not yet stored."""

    customer_id: str
    conversation_id: str
    new: bool  # a conversation this turn starts
    message: str
    language: str
    intent: str
    confidence: float
    refusal: str | None
    unsure: bool
    draft: A.Draft
    passages: tuple[Passage, ...]


def _checked_message(text: object) -> str:
    if not isinstance(text, str):
        raise ValidationError("must be text", field="message")
    message = text.strip()
    if not message:
        raise ValidationError("must not be empty", field="message")
    if len(message) > MESSAGE_CHARS_MAX:
        raise ValidationError(f"must be at most {MESSAGE_CHARS_MAX} characters",
                              field="message")
    return message


def _own_conversation(conn: Connection, customer_id: str, conversation_id: str | None, *,
                      lock: bool) -> dict[str, Any] | None:
    """The customer's conversation ``conversation_id`` (``lock``: locked on PostgreSQL,
    its turns are numbered one after the other), None for a new one; anyone else's is
    NotFoundError."""
    if conversation_id is None:
        return None
    if not isinstance(conversation_id, str) or \
            not 1 <= len(conversation_id) <= _CONVERSATION_ID_CHARS_MAX:
        raise ValidationError(f"must be an id of at most {_CONVERSATION_ID_CHARS_MAX} "
                              "characters", field="conversation_id")
    c = assistant_conversations.c
    query = select(assistant_conversations).where(c.id == conversation_id,
                                                  c.customer_id == customer_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFoundError(f"no conversation {conversation_id!r}", field="conversation_id")
    return dict(row)


def _open_ticket(tx: Tx, customer_id: str, conversation_id: str) -> str:
    from creditpay.protection.complaints import Category, open_complaint

    complaint = open_complaint(
        tx, customer_id=customer_id, subject_type=HANDOFF_SUBJECT, subject_id=conversation_id,
        category=Category.SERVICE_QUALITY, channel="app",
        request_id=f"handoff:{conversation_id}")
    tx.conn.execute(update(assistant_conversations).where(
        assistant_conversations.c.id == conversation_id).values(
        handoff_complaint_id=complaint.id))
    return complaint.id


@dataclass(frozen=True)
class Turn:
    number: int
    asked_at: Any
    question: str  # masked
    language: str
    intent: str
    answer: str
    sources: tuple[dict[str, str], ...]
    actions: tuple[dict[str, Any], ...]
    refusal: str | None


def conversation_turns(conn: Connection, customer_id: str, conversation_id: str
                       ) -> list[Turn]:
    """The turns of the customer's conversation, oldest first (questions masked); another
    customer's conversation is NotFoundError naming ``conversation_id``. Staff reading a
    handed-off conversation pass the complaint's customer id."""
    c, t = assistant_conversations.c, assistant_turns.c
    found = conn.execute(select(c.id).where(c.id == conversation_id,
                                            c.customer_id == customer_id)).first()
    if found is None:
        raise NotFoundError(f"no conversation {conversation_id!r}", field="conversation_id")
    rows = conn.execute(select(assistant_turns).where(t.conversation_id == conversation_id)
                        .order_by(t.number).limit(TURNS_LISTED_MAX)).mappings().all()
    return [Turn(r["number"], r["asked_at"], r["question"], r["language"], r["intent"],
                 r["answer"], tuple(r["sources"]), tuple(r["actions"]), r["refusal"])
            for r in rows]


def customer_conversations(conn: Connection, customer_id: str, *,
                           limit: int = CONVERSATIONS_LISTED_MAX) -> list[dict[str, Any]]:
    """The customer's conversations, latest first: id, language, turns, times, ticket."""
    c = assistant_conversations.c
    rows = conn.execute(select(assistant_conversations).where(c.customer_id == customer_id)
                        .order_by(c.last_at.desc()).limit(limit)).mappings().all()
    return [dict(r) for r in rows]
