"""BM25 retrieval (the ``rank_bm25`` package) over the packaged corpus
(``data/corpus/*.md``, regenerated from docs/ and the product, consent and key-facts texts
by ``scripts/assistant_corpus.py``).

A passage is one section of a corpus file (the text under one ``#``/``##``/``###``
heading, up to the next heading); it is named by its file (``docs/servicing.md`` for an
extract of a doc) and heading, as an answer's ``sources`` list it. Chinese text is cut into
words by the classifier's jieba tokenizer, English into lower-case words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

__all__ = ["Passage", "Retriever", "load_passages", "PASSAGE_CHARS_MAX"]

PASSAGE_CHARS_MAX = 1_200  # what is shown of a passage (to an LLM)
_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*$")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*|[\u3400-\u9fff\uf900-\ufaff]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_STOP = frozenset("a an the is are was be to of in on for and or my me i you it this that "
                  "what how do does can with at by as from your".split())


@dataclass(frozen=True)
class Passage:
    doc: str  # docs/servicing.md, products, consents, key-facts
    heading: str
    text: str  # the whole section (indexed); ``excerpt`` is what is shown

    @property
    def excerpt(self) -> str:
        return self.text[:PASSAGE_CHARS_MAX]

    @property
    def source(self) -> dict[str, str]:
        return {"doc": self.doc, "heading": self.heading}


def _doc_name(file_name: str) -> str:
    stem = file_name.removesuffix(".md")
    return f"docs/{stem.removeprefix('docs-')}.md" if stem.startswith("docs-") else stem


def _sections(text: str) -> list[tuple[str, str]]:
    """``(heading, body)`` of each section of a Markdown text (headings inside fenced code
    are body text)."""
    sections: list[tuple[str, str]] = []
    heading, lines, in_code = "", list[str](), False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        found = None if in_code else _HEADING.match(line)
        if found is None:
            lines.append(line)
            continue
        if heading and "\n".join(lines).strip():
            sections.append((heading, "\n".join(lines).strip()))
        heading, lines = found.group(2), []
    if heading and "\n".join(lines).strip():
        sections.append((heading, "\n".join(lines).strip()))
    return sections


def load_passages() -> list[Passage]:
    """Every passage of the packaged corpus, in file and heading order."""
    folder = resources.files("creditpay.assistant").joinpath("data/corpus")
    return [Passage(_doc_name(entry.name), heading, body)
            for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".md")
            for heading, body in _sections(entry.read_text("utf-8"))]


class Retriever:
    """BM25 over ``passages`` (default: the packaged corpus); ``cut`` splits Chinese text
    into words (the classifier's jieba tokenizer)."""

    def __init__(self, cut: Callable[[str], list[str]],
                 passages: Sequence[Passage] | None = None) -> None:
        from rank_bm25 import BM25Okapi

        self._cut = cut
        self.passages = list(passages) if passages is not None else load_passages()
        self._bm25 = BM25Okapi([self.tokens(f"{p.heading}\n{p.text}") for p in self.passages])

    def tokens(self, text: str) -> list[str]:
        out: list[str] = []
        for word in _WORD.findall(text.lower()):
            if _CJK.match(word):
                out.extend(w for w in self._cut(word) if w.strip())
            elif word not in _STOP:
                out.append(word)
        return out

    def search(self, query: str, k: int = 2) -> list[Passage]:
        """The ``k`` best passages for ``query`` (fewer when fewer match at all)."""
        terms = self.tokens(query)
        if not terms or k <= 0:
            return []
        scores = self._bm25.get_scores(terms)
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
        return [self.passages[i] for i in ranked if scores[i] > 0]
