"""The intent classifier on the labelled set (a test that can fail: >= 0.95 per language,
an unsure answer counted wrong), the language rule, and the training and labelled sets
kept apart."""

from __future__ import annotations

import pytest
import yaml

from creditpay.assistant.classifier import (
    CONFIDENCE_MIN,
    IntentClassifier,
    detect_language,
    load_examples,
)
from creditpay.assistant.intents import INTENTS
from creditpay.assistant.safety import refusal_reason
from creditpay.benchmarks.assistant import DEFAULT_LABELLED, labelled_questions


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return IntentClassifier()


def test_labelled_accuracy_per_language(classifier):
    questions = labelled_questions()
    predictions = classifier.predict_many([q for q, _, _ in questions])
    right = {"en": 0, "zh-CN": 0}
    total = {"en": 0, "zh-CN": 0}
    for (text, intent, language), found in zip(questions, predictions, strict=True):
        total[language] += 1
        right[language] += (refusal_reason(text) is None and found.intent == intent
                            and found.confidence >= CONFIDENCE_MIN)
    accuracy = {language: right[language] / total[language] for language in total}
    assert total == {"en": 300, "zh-CN": 300}
    assert min(accuracy.values()) >= 0.95, accuracy


def test_sets_cover_every_intent_and_do_not_overlap():
    examples = load_examples()
    labelled = yaml.safe_load(DEFAULT_LABELLED.read_text("utf-8"))
    assert set(labelled) == set(INTENTS) == {intent for _, intent in examples}
    normalise = IntentClassifier.normalise
    taught = {normalise(text) for text, _ in examples}
    assert not [q for q, _, _ in labelled_questions() if normalise(q) in taught]
    with pytest.raises(ValueError, match="unknown intent"):
        load_examples("bill_total:\n  en: [a]\n  zh: [b]\n")


@pytest.mark.parametrize(("text", "language"), [
    ("how much is my bill", "en"), ("我这个月账单多少钱", "zh-CN"), ("我的bill多少", "zh-CN"),
    ("my 花呗 bill please", "en"), ("12345", "en")])
def test_language_by_cjk_share(text, language):
    assert detect_language(text, fallback="en") == language


def test_unsure_below_the_threshold(classifier):
    assert classifier.predict("asdf").confidence < CONFIDENCE_MIN
    assert classifier.predict("what is my credit limit").confidence >= CONFIDENCE_MIN
