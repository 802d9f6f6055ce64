"""The optional local-LLM adapter (``CREDITPAY_ASSISTANT_LLM_URL``, off by default).

When set, the template answer is sent with the retrieved passages to an OpenAI-compatible
chat endpoint (llama.cpp's server, ollama: ``POST {url}/v1/chat/completions``), which may
only rephrase it. The intent, figures and actions always come from the deterministic
path: a rephrasing that drops or changes any figure of the template (an amount, a date, a
number) is discarded and the template answer is used, as it is on any error or timeout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from creditpay.assistant.retrieval import Passage

__all__ = ["LlmRephraser", "figures_of", "TIMEOUT_S", "ANSWER_CHARS_MAX"]

TIMEOUT_S = 5.0
ANSWER_CHARS_MAX = 2_000
_FIGURE = re.compile(r"\d[\d,.]*")
_log = structlog.get_logger("creditpay.assistant")

_SYSTEM = ("You are the customer-service assistant of a consumer-credit app. Rephrase the "
           "ANSWER below so it reads naturally, in the same language ({language}). Keep every "
           "number, amount and date exactly as written. Add no fact that is not in the ANSWER "
           "or the PASSAGES. Reply with the rephrased answer only.")


def figures_of(text: str) -> list[str]:
    """The figures (numbers, amounts, dates' digits) of ``text``, in order."""
    return [f.rstrip(".,") for f in _FIGURE.findall(text)]


@dataclass(frozen=True)
class LlmRephraser:
    url: str  # base URL, e.g. http://127.0.0.1:8080
    model: str = "local"
    timeout_s: float = TIMEOUT_S

    def rephrase(self, answer: str, passages: Sequence[Passage], language: str) -> str:
        """``answer`` rephrased by the model, or ``answer`` itself when the model fails,
        times out, or changes a figure."""
        import httpx

        context = "\n\n".join(f"[{p.doc} · {p.heading}]\n{p.excerpt}" for p in passages)
        body = {"model": self.model, "temperature": 0, "stream": False, "messages": [
            {"role": "system", "content": _SYSTEM.format(language=language)},
            {"role": "user", "content": f"PASSAGES:\n{context}\n\nANSWER:\n{answer}"}]}
        try:
            response = httpx.post(self.url.rstrip("/") + "/v1/chat/completions", json=body,
                                  timeout=self.timeout_s)
            response.raise_for_status()
            text = str(response.json()["choices"][0]["message"]["content"]).strip()
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            _log.warning("assistant.llm_failed", error=type(exc).__name__)
            return answer
        if not text or len(text) > ANSWER_CHARS_MAX or \
                sorted(figures_of(text)) != sorted(figures_of(answer)):
            _log.warning("assistant.llm_discarded", reason="figures_changed")
            return answer
        return text
