"""Retrieval over the packaged corpus (fresh against docs/, sources named by doc and
heading), the refusal rules and transcript masking, and the answer templates' shape."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jieba
import pytest

from creditpay.assistant.answers import Templates, dispute_reason
from creditpay.assistant.retrieval import Retriever, load_passages
from creditpay.assistant.safety import mask_transcript, refusal_reason
from creditpay.benchmarks.assistant import INJECTIONS

ROOT = Path(__file__).resolve().parents[2]


def test_corpus_is_fresh_against_docs():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "assistant_corpus.py"),
                           "--check"], capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr


def test_search_names_doc_and_heading():
    passages = load_passages()
    docs = {p.doc for p in passages}
    assert {"docs/servicing.md", "docs/consumer-protection.md", "products", "consents",
            "key-facts"} <= docs
    retriever = Retriever(jieba.Tokenizer().lcut, passages)
    [best, *_] = retriever.search("minimum payment allocation delinquency")
    assert best.source == {"doc": "docs/servicing.md",
                           "heading": "Revolving lines: minimum payment, allocation and "
                                      "delinquency"}
    assert retriever.search("自动扣款")[0].doc == "consents"
    assert retriever.search("") == []


@pytest.mark.parametrize("template", INJECTIONS)
def test_injections_are_refused(template):
    assert refusal_reason(template.format(other_customer="cus_0b1c2d3e4f",
                                          other_line="line_9a8b7c")) is not None


@pytest.mark.parametrize("text", [
    "how much is my bill", "我的额度还剩多少", "someone else logged into my account",
    "别人登录了我的账号", "my phone 13812345678 gets no codes, what is my bill"])
def test_honest_questions_pass(text):
    assert refusal_reason(text) is None


def test_masking():
    masked = mask_transcript("I'm li@example.com, card 4242 4242 4242 4242, my name is "
                             "Li Lei; 我叫张三丰，手机+86 13812345678")
    for clear in ("li@example.com", "4242 4242 4242 4242", "Li Lei", "张三丰",
                  "13812345678"):
        assert clear not in masked
    assert "**** **** **** 4242" in masked and "张**" in masked


def test_templates_and_dispute_reasons():
    with pytest.raises(ValueError, match="placeholders"):
        Templates("version: 1\ntemplates:\n  x: {en: '{a}', zh-CN: '{b}'}\nlabels: {}\n")
    fx = Templates().text("fx_charge", "en", currency="CNY", markup="1.00%", lock_minutes=30)
    assert "1.00%" in fx and "30 minutes" in fx
    assert [dispute_reason(t) for t in ("charged twice", "商品是假货", "这笔不是我付的",
                                        "never arrived")] == [
        "duplicate", "not_as_described", "unauthorised", "not_received"]
