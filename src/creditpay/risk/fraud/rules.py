"""Fraud rules as versioned data: block lists and condition rules, validated on load.

Document (JSON, or YAML with the same shape)::

    {
      "version": "rules-2024-06-01.1",
      "blocklists": {"device": ["d-123"], "card": [], "customer": [], "merchant": [],
                     "terminal": []},
      "rules": [
        {"name": "big_on_new_device", "action": "challenge",
         "when": {"all": [{"field": "amount_minor", "op": ">", "value": 500000},
                          {"field": "new_device", "op": "==", "value": true}]}},
        {"name": "card_testing", "action": "decline", "scenarios": ["online"],
         "when": {"field": "card_count_1m", "op": ">=", "value": 5}}
      ]
    }

A condition is ``{"field", "op", "value"}`` or a group ``{"all": [...]}`` / ``{"any": [...]}``
(nested up to :data:`MAX_DEPTH`). Fields are event fields (``amount_minor``, ``currency``,
``scenario``) or feature names; booleans compare against 0/1 flags; a missing feature (NaN)
makes its condition false. Actions: ``challenge`` < ``review`` < ``decline``. Block-list hits
decline and are named ``blocklist:<kind>``. :class:`RuleBook` holds the active
:class:`RuleSet`; ``swap`` replaces it atomically (one reference assignment), and each
screening reads the reference once, so it sees exactly one version.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creditpay.errors import ValidationError
from creditpay.risk.fraud.features import ENTITY_KINDS

__all__ = ["RuleSet", "RuleBook", "Rule", "ACTIONS", "MAX_DEPTH", "MAX_RULES", "load_rules"]

ACTIONS: tuple[str, ...] = ("challenge", "review", "decline")
MAX_DEPTH = 4
MAX_RULES = 1_000
MAX_BLOCKLIST_ENTRIES = 10_000_000
EVENT_FIELDS: dict[str, type] = {"amount_minor": int, "currency": str, "scenario": str}
_NUMERIC_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}
_SET_OPS = ("in", "not_in")

# A compiled condition: (event fields, feature values by name) -> bool
Predicate = Callable[[Mapping[str, Any], Mapping[str, float]], bool]


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    scenarios: frozenset[str] | None
    predicate: Predicate
    source: dict[str, Any]


@dataclass(frozen=True)
class RuleSet:
    """An immutable, validated rule document."""

    version: str
    blocklists: Mapping[str, frozenset[str]]
    rules: tuple[Rule, ...]
    fields_used: frozenset[str]

    def evaluate(self, entity_ids: Mapping[str, str | None], event_fields: Mapping[str, Any],
                 features: Mapping[str, float]) -> tuple[tuple[str, ...], str | None]:
        """Names of the rules hit (block lists first) and the most severe action."""
        hits: list[str] = []
        worst = -1
        for kind, blocked in self.blocklists.items():
            entity = entity_ids.get(kind)
            if entity is not None and entity in blocked:
                hits.append(f"blocklist:{kind}")
                worst = len(ACTIONS) - 1
        scenario = event_fields.get("scenario")
        for rule in self.rules:
            if rule.scenarios is not None and scenario not in rule.scenarios:
                continue
            if rule.predicate(event_fields, features):
                hits.append(rule.name)
                worst = max(worst, ACTIONS.index(rule.action))
        return tuple(hits), (ACTIONS[worst] if worst >= 0 else None)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any],
                  feature_names: Sequence[str]) -> RuleSet:
        """Validate and compile; errors name the rule and the field at fault."""
        if not isinstance(document, Mapping):
            raise ValidationError("rules document must be an object", field="rules")
        unknown = set(document) - {"version", "blocklists", "rules", "description"}
        if unknown:
            raise ValidationError(f"unknown top-level keys {sorted(unknown)}",
                                  field=sorted(unknown)[0])
        version = document.get("version")
        if not isinstance(version, str) or not version.strip():
            raise ValidationError("rules need a non-empty string version", field="version")
        blocklists = _blocklists(document.get("blocklists", {}))
        raw_rules = document.get("rules", [])
        if not isinstance(raw_rules, list):
            raise ValidationError("rules must be a list", field="rules")
        if len(raw_rules) > MAX_RULES:
            raise ValidationError(f"at most {MAX_RULES} rules", field="rules")
        known_features = frozenset(feature_names)
        rules: list[Rule] = []
        names: set[str] = set()
        used: set[str] = set()
        for i, raw in enumerate(raw_rules):
            rule = _compile_rule(raw, i, known_features, used)
            if rule.name in names:
                raise ValidationError(f"rule '{rule.name}' is defined twice",
                                      field=f"rules[{i}].name")
            names.add(rule.name)
            rules.append(rule)
        return cls(version=version, blocklists=blocklists, rules=tuple(rules),
                   fields_used=frozenset(used))


def _blocklists(raw: Any) -> dict[str, frozenset[str]]:
    if not isinstance(raw, Mapping):
        raise ValidationError("blocklists must be an object", field="blocklists")
    result: dict[str, frozenset[str]] = {}
    for kind, entries in raw.items():
        where = f"blocklists.{kind}"
        if kind not in ENTITY_KINDS:
            raise ValidationError(f"unknown block-list kind '{kind}' (one of {ENTITY_KINDS})",
                                  field=where)
        if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
            raise ValidationError(f"{where} must be a list of non-empty strings", field=where)
        if len(entries) > MAX_BLOCKLIST_ENTRIES:
            raise ValidationError(f"{where} exceeds {MAX_BLOCKLIST_ENTRIES} entries",
                                  field=where)
        if entries:
            result[kind] = frozenset(entries)
    return result


def _compile_rule(raw: Any, index: int, known_features: frozenset[str],
                  used: set[str]) -> Rule:
    where = f"rules[{index}]"
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{where} must be an object", field=where)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{where} needs a non-empty string name", field=f"{where}.name")
    label = f"rule '{name}'"
    unknown = set(raw) - {"name", "action", "when", "scenarios", "description"}
    if unknown:
        raise ValidationError(f"{label}: unknown keys {sorted(unknown)}", field=f"{where}")
    action = raw.get("action")
    if action not in ACTIONS:
        raise ValidationError(f"{label}: action must be one of {ACTIONS}",
                              field=f"{where}.action")
    scenarios = raw.get("scenarios")
    if scenarios is not None:
        from creditpay.risk.fraud.model import SCENARIOS

        if (not isinstance(scenarios, list) or not scenarios
                or not all(s in SCENARIOS for s in scenarios)):
            raise ValidationError(f"{label}: scenarios must be a non-empty list from "
                                  f"{SCENARIOS}", field=f"{where}.scenarios")
    if "when" not in raw:
        raise ValidationError(f"{label}: missing condition 'when'", field=f"{where}.when")
    predicate = _compile_condition(raw["when"], f"{where}.when", label, known_features, used, 1)
    return Rule(name=name, action=action,
                scenarios=frozenset(scenarios) if scenarios is not None else None,
                predicate=predicate, source=dict(raw))


def _compile_condition(raw: Any, where: str, label: str, known_features: frozenset[str],
                       used: set[str], depth: int) -> Predicate:
    if depth > MAX_DEPTH:
        raise ValidationError(f"{label}: conditions nest deeper than {MAX_DEPTH}", field=where)
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{label}: condition must be an object", field=where)
    for group in ("all", "any"):
        if group in raw:
            if set(raw) != {group}:
                raise ValidationError(f"{label}: a '{group}' group takes no other keys",
                                      field=where)
            items = raw[group]
            if not isinstance(items, list) or not items:
                raise ValidationError(f"{label}: '{group}' needs a non-empty list",
                                      field=f"{where}.{group}")
            parts = tuple(_compile_condition(item, f"{where}.{group}[{i}]", label,
                                             known_features, used, depth + 1)
                          for i, item in enumerate(items))
            if group == "all":
                return lambda ev, ft: all(p(ev, ft) for p in parts)
            return lambda ev, ft: any(p(ev, ft) for p in parts)
    if set(raw) != {"field", "op", "value"}:
        raise ValidationError(f"{label}: a condition has exactly field, op and value "
                              "(or is an 'all'/'any' group)", field=where)
    field_name, op, value = raw["field"], raw["op"], raw["value"]
    if field_name in EVENT_FIELDS:
        kind = EVENT_FIELDS[field_name]
    elif field_name in known_features:
        kind = float
    else:
        raise ValidationError(f"{label}: unknown field '{field_name}'", field=f"{where}.field")
    used.add(field_name)
    if op in _SET_OPS:
        if not isinstance(value, list) or not value:
            raise ValidationError(f"{label}: '{op}' needs a non-empty list value",
                                  field=f"{where}.value")
        checked = frozenset(_check_value(v, kind, label, f"{where}.value") for v in value)
        negate = op == "not_in"
        return _field_getter(field_name, kind, lambda x: (x in checked) != negate)
    if op not in _NUMERIC_OPS:
        raise ValidationError(f"{label}: unknown op '{op}'", field=f"{where}.op")
    if kind is str and op not in ("==", "!="):
        raise ValidationError(f"{label}: '{field_name}' is text; use ==, !=, in, not_in",
                              field=f"{where}.op")
    target = _check_value(value, kind, label, f"{where}.value")
    compare = _NUMERIC_OPS[op]
    return _field_getter(field_name, kind, lambda x: compare(x, target))


def _check_value(value: Any, kind: type, label: str, where: str) -> Any:
    if kind is str:
        if not isinstance(value, str):
            raise ValidationError(f"{label}: value must be a string", field=where)
        return value
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        raise ValidationError(f"{label}: value must be a number or boolean", field=where)
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValidationError(f"{label}: value must be an integer (minor units)", field=where)
    return value


def _field_getter(name: str, kind: type, test: Callable[[Any], bool]) -> Predicate:
    if name in EVENT_FIELDS:
        return lambda ev, ft: test(ev[name])

    def feature_test(ev: Mapping[str, Any], ft: Mapping[str, float]) -> bool:
        x = ft[name]
        return not math.isnan(x) and test(x)

    return feature_test


def load_rules(path: str | Path, feature_names: Sequence[str]) -> RuleSet:
    """Load a rules document from a ``.json`` or ``.yaml``/``.yml`` file."""
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    if file.suffix in (".yaml", ".yml"):
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError(f"cannot parse {file.name}: {exc}", field="rules") from exc
    else:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"cannot parse {file.name}: {exc}", field="rules") from exc
    return RuleSet.from_dict(document, feature_names)


class RuleBook:
    """Holder of the active rule set; ``swap`` is atomic (a single reference assignment)."""

    def __init__(self, ruleset: RuleSet) -> None:
        self._ruleset = ruleset

    @property
    def current(self) -> RuleSet:
        return self._ruleset

    def swap(self, ruleset: RuleSet) -> RuleSet:
        """Make ``ruleset`` active; returns the previous one (for rollback)."""
        if not isinstance(ruleset, RuleSet):
            raise ValidationError("swap needs a validated RuleSet", field="ruleset")
        previous, self._ruleset = self._ruleset, ruleset
        return previous


EMPTY_RULES: Mapping[str, Any] = {"version": "rules-empty", "blocklists": {}, "rules": []}
