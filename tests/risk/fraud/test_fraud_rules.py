import json
import threading

import pytest

from creditpay.errors import ValidationError
from creditpay.risk.fraud.features import FeatureConfig, feature_names
from creditpay.risk.fraud.rules import RuleBook, RuleSet, load_rules

NAMES = feature_names(FeatureConfig())
DOC = {
    "version": "r1",
    "blocklists": {"device": ["bad-device"]},
    "rules": [
        {"name": "big_new_device", "action": "challenge",
         "when": {"all": [{"field": "amount_minor", "op": ">", "value": 500_000},
                          {"field": "new_device", "op": "==", "value": True}]}},
        {"name": "burst", "action": "decline", "scenarios": ["online"],
         "when": {"any": [{"field": "card_count_1m", "op": ">=", "value": 5},
                          {"field": "currency", "op": "not_in", "value": ["CNY", "USD"]}]}},
    ],
}
IDS = {"customer": "c", "device": "d", "card": None, "merchant": "m", "terminal": None}


def _features(**values):
    base = dict.fromkeys(NAMES, float("nan"))
    base.update(values)
    return base


def test_combination_and_scenario_scope():
    rules = RuleSet.from_dict(DOC, NAMES)
    fields = {"amount_minor": 600_000, "currency": "CNY", "scenario": "offline_qr"}
    hits, action = rules.evaluate(IDS, fields, _features(new_device=1.0, card_count_1m=9.0))
    assert hits == ("big_new_device",) and action == "challenge"  # burst is online-only
    hits, action = rules.evaluate(IDS, dict(fields, scenario="online"),
                                  _features(new_device=1.0, card_count_1m=9.0))
    assert hits == ("big_new_device", "burst") and action == "decline"
    hits, action = rules.evaluate(IDS, dict(fields, amount_minor=500_000),
                                  _features(new_device=1.0, card_count_1m=1.0))
    assert hits == () and action is None
    # A missing feature never satisfies a condition.
    hits, _ = rules.evaluate(IDS, fields, _features())
    assert hits == ()


def test_blocklist_declines_and_is_named():
    rules = RuleSet.from_dict(DOC, NAMES)
    hits, action = rules.evaluate(dict(IDS, device="bad-device"),
                                  {"amount_minor": 1, "currency": "CNY", "scenario": "p2p"},
                                  _features())
    assert hits == ("blocklist:device",) and action == "decline"


@pytest.mark.parametrize("mutate, field, words", [
    (lambda d: d["rules"][0]["when"]["all"][0].update(field="amount"),
     "rules[0].when.all[0].field", "big_new_device"),
    (lambda d: d["rules"][1].update(action="block"), "rules[1].action", "burst"),
    (lambda d: d["rules"][0]["when"]["all"][1].update(op="~"), "rules[0].when.all[1].op", "op"),
    (lambda d: d["rules"][1]["when"]["any"][1].update(op=">"), "rules[1].when.any[1].op",
     "text"),
    (lambda d: d["rules"][0]["when"]["all"][0].update(value="big"),
     "rules[0].when.all[0].value", "number"),
    (lambda d: d["rules"].append(dict(d["rules"][0])), "rules[2].name", "twice"),
    (lambda d: d["blocklists"].update(phone=["x"]), "blocklists.phone", "phone"),
    (lambda d: d.pop("version"), "version", "version"),
    (lambda d: d["rules"][1].update(scenarios=["moon"]), "rules[1].scenarios", "scenarios"),
])
def test_invalid_documents_name_rule_and_field(mutate, field, words):
    doc = json.loads(json.dumps(DOC))
    mutate(doc)
    with pytest.raises(ValidationError) as err:
        RuleSet.from_dict(doc, NAMES)
    assert err.value.field == field
    assert words in err.value.detail


def test_load_from_json_and_yaml(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(DOC))
    yaml_text = "version: y1\nrules:\n  - name: n\n    action: review\n    when: {field: amount_minor, op: '>', value: 5}\n"
    (tmp_path / "r.yaml").write_text(yaml_text)
    assert load_rules(tmp_path / "r.json", NAMES).version == "r1"
    assert load_rules(tmp_path / "r.yaml", NAMES).rules[0].name == "n"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValidationError):
        load_rules(tmp_path / "bad.json", NAMES)


def test_hot_swap_is_atomic_per_reader():
    book = RuleBook(RuleSet.from_dict(DOC, NAMES))
    other = RuleSet.from_dict(dict(DOC, version="r2"), NAMES)
    seen = set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            current = book.current
            seen.add(current.version)
            assert current.version in ("r1", "r2")

    thread = threading.Thread(target=reader)
    thread.start()
    for _ in range(200):
        book.swap(other)
        book.swap(RuleSet.from_dict(DOC, NAMES))
    stop.set()
    thread.join()
    assert book.swap(other).version == "r1"
    assert book.current.version == "r2"
    with pytest.raises(ValidationError):
        book.swap(DOC)  # type: ignore[arg-type]
