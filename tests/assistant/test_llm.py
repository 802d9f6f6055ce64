"""The optional LLM adapter against a tiny real HTTP server started here that speaks the
OpenAI-compatible chat API (as llama.cpp's server and ollama do): a rephrasing that keeps
every figure is used; one that changes a figure, an error or a dead server leaves the
template answer. The intent and actions never come from it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from creditpay.assistant.llm import LlmRephraser
from creditpay.assistant.retrieval import Passage
from creditpay.assistant.service import Assistant


@pytest.fixture
def chat_server() -> Iterator[tuple[str, list[dict[str, Any]], Callable[[str], None]]]:
    seen: list[dict[str, Any]] = []
    reply = {"text": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "body": body})
            if reply["text"] == "<500>":
                self.send_response(500)
                self.end_headers()
                return
            data = json.dumps({"id": "x", "object": "chat.completion", "choices": [
                {"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": reply["text"]}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (f"http://127.0.0.1:{server.server_address[1]}", seen,
               lambda text: reply.__setitem__("text", text))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


PASSAGES = [Passage("docs/servicing.md", "Paying off", "Repay early at no cost.")]
ANSWER = "Your latest bill is CN¥314.00, due on Mar 10, 2025."


def test_rephrasing_must_keep_every_figure(chat_server):
    url, seen, set_reply = chat_server
    llm = LlmRephraser(url, model="tiny")
    set_reply("Due Mar 10, 2025: your bill of CN¥314.00.")
    assert llm.rephrase(ANSWER, PASSAGES, "en") == "Due Mar 10, 2025: your bill of CN¥314.00."
    request = seen[-1]
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "tiny"
    assert "Repay early at no cost." in request["body"]["messages"][1]["content"]
    set_reply("Your bill is CN¥999.00, due on Mar 10, 2025.")  # a changed figure
    assert llm.rephrase(ANSWER, PASSAGES, "en") == ANSWER
    set_reply("<500>")
    assert llm.rephrase(ANSWER, PASSAGES, "en") == ANSWER
    dead = LlmRephraser("http://127.0.0.1:9", timeout_s=0.5)
    assert dead.rephrase(ANSWER, PASSAGES, "en") == ANSWER


def test_the_assistant_uses_it_for_wording_only(world, chat_server):
    url, seen, set_reply = chat_server
    assistant = Assistant(catalogue=world.rt.catalogue, llm=LlmRephraser(url))
    plain = world.ask("a", "fees for paying abroad")
    # The rewording keeps every figure of the answer (the packaged markups and lock).
    set_reply("Good news: abroad you pay in CNY at the mid-market rate plus 0.50%–1.50%, "
              "locked for 30 minutes; a refund comes back at the same rate.")
    # respond(): the reads, then the model's call holding no transaction, then the write.
    answer = assistant.respond(world.rt.uow, world.people["a"]["customer_id"], None,
                               "fees for paying abroad")
    assert seen and answer.answer.startswith("Good news")
    assert (answer.intent, answer.actions, answer.sources) == (
        plain.intent, plain.actions, plain.sources)
    from creditpay.assistant.service import conversation_turns

    with world.rt.uow.connect() as conn:
        [turn] = conversation_turns(conn, world.people["a"]["customer_id"],
                                    answer.conversation_id)
    assert turn.answer == answer.answer  # what the consumer saw is what is kept
