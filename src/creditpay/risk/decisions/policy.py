"""Credit policy documents: versioned JDM decision graphs evaluated by zen-engine.

A policy document is JSON::

    {"format": "creditpay.credit-policy", "format_version": 1,
     "kind": "application" | "limit_review", "policy_id": "...", "version": "2025.1",
     "currency": "CNY", "parameters": {...caps and thresholds...},
     "products": {code: {"min_age_years", "max_age_years"}},      (application only)
     "reasons": {CODE: {"en": "...", "zh": "..."}},                 consumer-facing texts
     "decision": {"nodes": [...], "edges": [...]}}                   GoRules JDM graph

The rules themselves (knock-outs, grade cut-offs, price and limit terms, outcome) live in the
JDM graph as decision tables and expressions, editable in the GoRules editor, and are run by
``zen.ZenEngine``; only a checked subset of JDM is accepted (input, output, decision table,
expression nodes: no function nodes, because arbitrary JavaScript cannot be audited as a
table). Every document is validated on load: structure, every cell compiled by zen, the graph
connected and acyclic, every reason code given a text, and the compiled policy probed over a
grid of scores so that no grade's price exceeds the price cap and no limit exceeds the
exposure cap. Errors name the node, rule and column at fault.

A policy is identified by ``(policy_id, version)`` and its SHA-256 content hash (canonical
JSON); decisions record both. Hot swap is a new activation row (:func:`activate_policy`);
replay loads the exact document by hash.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Connection, select

from creditpay.db.uow import Tx
from creditpay.errors import CapExceededError, NotFoundError, ValidationError

__all__ = [
    "FORMAT",
    "POLICY_KINDS",
    "LoadedPolicy",
    "activate_policy",
    "active_policy",
    "bundled_policy_path",
    "canonical_json",
    "load_policy_document",
    "load_policy_file",
    "policy_by_hash",
]

FORMAT = "creditpay.credit-policy"
POLICY_KINDS = ("application", "limit_review")
GRADES = ("A", "B", "C", "D", "E")
OUTCOMES = ("approve", "decline", "refer")
REVIEW_ACTIONS = ("increase", "decrease", "freeze", "keep")
_NODE_TYPES = {"inputNode", "outputNode", "decisionTableNode", "expressionNode"}
_HIT_POLICIES = {"first", "collect"}
_FEATURE_REFERENCE = re.compile(r"\bfeatures\.([A-Za-z_][A-Za-z0-9_]*)")
_CODE_LITERAL = re.compile(r"^'([A-Z][A-Z0-9_]*)'$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$")
_POLICY_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DOCUMENT_BYTES_MAX = 1_000_000

_PARAMETERS: dict[str, dict[str, type]] = {
    "application": {"exposure_cap_minor": int, "apr_cap_bps": int, "debt_to_income_max": float,
                    "lenders_in_use_max": int, "limit_min_minor": int, "limit_step_minor": int},
    "limit_review": {"exposure_cap_minor": int, "increase_max_minor": int,
                     "limit_step_minor": int},
}
_OUTPUTS = {"application": ("knockouts", "grade", "apr_bps", "limit_minor", "headroom_minor",
                            "outcome", "basis", "reason_code"),
            "limit_review": ("grade", "action", "factor_bps", "new_limit_minor", "reason_code")}


def canonical_json(value: Any) -> str:
    """The text hashed: sorted keys, no spaces, UTF-8 kept (hash is stable across platforms)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def bundled_policy_path(kind: str) -> Path:
    """The policy shipped with creditpay for ``kind`` (a starting point, versioned in git)."""
    name = {"application": "application_v1.json", "limit_review": "limit_review_v1.json"}[kind]
    return Path(__file__).parent / "policies" / name


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated, compiled policy. ``decision`` is the zen ``ZenDecision``."""

    document: Mapping[str, Any]
    content_hash: str
    decision: Any

    @functools.cached_property
    def feature_names(self) -> frozenset[str] | None:
        """The features the graph reads (``features.<name>``), or None when it may read the
        whole object: the decision passes zen only these (less to convert per evaluation)."""
        text = canonical_json(self.document["decision"])
        named = _FEATURE_REFERENCE.findall(text)
        if len(named) != text.count("features"):
            return None
        return frozenset(named)

    @property
    def kind(self) -> str:
        return str(self.document["kind"])

    @property
    def policy_id(self) -> str:
        return str(self.document["policy_id"])

    @property
    def version(self) -> str:
        return str(self.document["version"])

    @property
    def parameters(self) -> Mapping[str, Any]:
        parameters: Mapping[str, Any] = self.document["parameters"]
        return parameters

    @property
    def currency(self) -> str:
        return str(self.document["currency"])

    def product(self, product_code: str) -> Mapping[str, Any]:
        products = self.document.get("products", {})
        if product_code not in products:
            raise ValidationError(f"unknown product; this policy covers {sorted(products)}",
                                  field="product_code")
        product: Mapping[str, Any] = products[product_code]
        return product

    def reason_text(self, code: str) -> dict[str, str]:
        return dict(self.document["reasons"][code])

    def evaluate(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Run the JDM graph on ``context`` and check the caps on its result."""
        try:
            result = self.decision.evaluate(dict(context))["result"]
        except RuntimeError as exc:  # zen reports evaluation errors as RuntimeError(JSON)
            raise ValidationError(f"policy {self.policy_id} {self.version} failed to evaluate: "
                                  f"{str(exc).splitlines()[0]}", field="policy") from exc
        output = {key: result.get(key) for key in _OUTPUTS[self.kind]}
        _check_caps(self, output)
        return output


def _check_caps(policy: LoadedPolicy, output: Mapping[str, Any]) -> None:
    """The invariant guard: a policy can never grant above the caps, whatever its tables say."""
    params = policy.parameters
    if policy.kind == "application":
        limit = output["limit_minor"]
        if not isinstance(limit, int) or limit < 0 or limit > params["exposure_cap_minor"]:
            raise CapExceededError(f"policy produced limit {limit!r} outside [0, exposure cap]",
                                   field="limit_minor", cap="exposure_cap_minor")
        if output["outcome"] == "approve" and limit > output["headroom_minor"]:
            raise CapExceededError("policy approved above the exposure headroom",
                                   field="limit_minor", cap="exposure_cap_minor")
        apr = output["apr_bps"]
        if apr is not None and (not isinstance(apr, int) or not 0 <= apr <= params["apr_cap_bps"]):
            raise CapExceededError(f"policy priced at {apr!r} bps above the price cap",
                                   field="apr_bps", cap="apr_cap_bps")
    else:
        new_limit = output["new_limit_minor"]
        if not isinstance(new_limit, int) or not 0 <= new_limit <= params["exposure_cap_minor"]:
            raise CapExceededError(f"policy produced limit {new_limit!r} outside the cap",
                                   field="new_limit_minor", cap="exposure_cap_minor")


# -- validation ----------------------------------------------------------------------------


def _fail(detail: str, field: str) -> NoReturn:
    raise ValidationError(detail, field=field)


def _validate_header(doc: Any) -> None:
    if not isinstance(doc, dict):
        _fail("policy document must be a JSON object", "policy")
    if doc.get("format") != FORMAT:
        _fail(f"format must be {FORMAT!r}", "format")
    if doc.get("format_version") != 1:
        _fail("format_version must be 1", "format_version")
    kind = doc.get("kind")
    if kind not in POLICY_KINDS:
        _fail(f"kind must be one of {POLICY_KINDS}", "kind")
    if not isinstance(doc.get("policy_id"), str) or not _POLICY_ID.match(doc["policy_id"]):
        _fail("policy_id must be lower-case letters, digits, '.', '_' or '-'", "policy_id")
    if not isinstance(doc.get("version"), str) or not _VERSION.match(doc["version"]):
        _fail("version must be 1-32 letters, digits, '.', '_' or '-'", "version")
    if doc.get("currency") != "CNY":
        _fail("currency must be 'CNY' (the caps are CNY amounts)", "currency")
    params = doc.get("parameters")
    if not isinstance(params, dict):
        _fail("parameters must be an object", "parameters")
    expected = _PARAMETERS[kind]
    for name, kind_type in expected.items():
        value = params.get(name)
        ok = (isinstance(value, int) and not isinstance(value, bool) and value > 0
              if kind_type is int else
              isinstance(value, int | float) and not isinstance(value, bool) and value > 0)
        if not ok:
            _fail(f"must be a positive {kind_type.__name__}", f"parameters.{name}")
    extra = sorted(set(params) - set(expected))
    if extra:
        _fail("unknown parameter", f"parameters.{extra[0]}")
    if kind == "application" and not params["apr_cap_bps"] <= 10_000:
        _fail("price cap above 100 %", "parameters.apr_cap_bps")
    if kind == "application":
        products = doc.get("products")
        if not isinstance(products, dict) or not products:
            _fail("products must map product codes to age ranges", "products")
        for code, spec in products.items():
            where = f"products.{code}"
            if not isinstance(spec, dict) or set(spec) != {"min_age_years", "max_age_years"}:
                _fail("needs exactly min_age_years and max_age_years", where)
            low, high = spec["min_age_years"], spec["max_age_years"]
            if not (isinstance(low, int) and isinstance(high, int) and 18 <= low <= high <= 100):
                _fail("ages must be whole years with 18 <= min <= max <= 100", where)
    reasons = doc.get("reasons")
    if not isinstance(reasons, dict) or not reasons:
        _fail("reasons must map codes to texts", "reasons")
    for code, text in reasons.items():
        if not (isinstance(text, dict) and all(isinstance(text.get(k), str) and text[k].strip()
                                               for k in ("en", "zh"))):
            _fail("needs non-empty 'en' and 'zh' texts", f"reasons.{code}")


def _compile(expression: str, *, unary: bool, where: str) -> None:
    import zen

    try:
        (zen.compile_unary_expression if unary else zen.compile_expression)(expression)
    except RuntimeError as exc:
        message = str(exc).splitlines()[0]
        try:
            message = json.loads(message).get("source", message)
        except json.JSONDecodeError:
            pass
        _fail(f"expression {expression!r} does not compile: {message}", where)


def _validate_graph(doc: Mapping[str, Any]) -> None:
    graph = doc.get("decision")
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list) \
            or not isinstance(graph.get("edges"), list):
        _fail("decision must be a JDM graph with nodes and edges", "decision")
    nodes: dict[str, dict[str, Any]] = {}
    for i, node in enumerate(graph["nodes"]):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            _fail("node needs a string id", f"decision.nodes[{i}]")
        node_id = node["id"]
        where = f"decision.nodes[{node_id}]"
        if node_id in nodes:
            _fail("duplicate node id", where)
        if node.get("type") not in _NODE_TYPES:
            _fail(f"node type {node.get('type')!r} not allowed; use {sorted(_NODE_TYPES)}",
                  f"{where}.type")
        nodes[node_id] = node
        if node["type"] == "decisionTableNode":
            _validate_table(node, where, doc["reasons"])
        elif node["type"] == "expressionNode":
            expressions = (node.get("content") or {}).get("expressions")
            if not isinstance(expressions, list) or not expressions:
                _fail("expression node needs expressions", f"{where}.content.expressions")
            for expression in expressions:
                key = expression.get("key") if isinstance(expression, dict) else None
                if not isinstance(key, str) or not key:
                    _fail("expression needs a key", f"{where}.content.expressions")
                value = expression.get("value")
                if not isinstance(value, str):
                    _fail("expression value must be text", f"{where}.{key}")
                _compile(value, unary=False, where=f"{where}.{key}")
    inputs = [n for n in nodes.values() if n["type"] == "inputNode"]
    outputs = [n for n in nodes.values() if n["type"] == "outputNode"]
    if len(inputs) != 1 or len(outputs) != 1:
        _fail("the graph needs exactly one input node and one output node", "decision.nodes")
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for i, edge in enumerate(graph["edges"]):
        where = f"decision.edges[{edge.get('id', i) if isinstance(edge, dict) else i}]"
        if not isinstance(edge, dict):
            _fail("edge must be an object", where)
        for end in ("sourceId", "targetId"):
            if edge.get(end) not in nodes:
                _fail(f"{end} {edge.get(end)!r} is not a node", f"{where}.{end}")
        successors[edge["sourceId"]].append(edge["targetId"])
    # Every node must lie on a path from the input to the output, and there is no cycle.
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node_id: str) -> None:
        state[node_id] = 1
        for nxt in successors[node_id]:
            if state.get(nxt) == 1:
                _fail("the graph has a cycle", f"decision.nodes[{nxt}]")
            if nxt not in state:
                visit(nxt)
        state[node_id] = 2
        order.append(node_id)

    visit(inputs[0]["id"])
    unreachable = sorted(set(nodes) - set(state))
    if unreachable:
        _fail("node is not reachable from the input", f"decision.nodes[{unreachable[0]}]")
    reaches_output = {outputs[0]["id"]}
    for node_id in order:  # post-order: successors first
        if any(s in reaches_output for s in successors[node_id]):
            reaches_output.add(node_id)
    dead = sorted(set(nodes) - reaches_output)
    if dead:
        _fail("node does not lead to the output", f"decision.nodes[{dead[0]}]")


def _validate_table(node: Mapping[str, Any], where: str, reasons: Mapping[str, Any]) -> None:
    content = node.get("content")
    if not isinstance(content, dict):
        _fail("decision table needs content", f"{where}.content")
    if content.get("hitPolicy") not in _HIT_POLICIES:
        _fail(f"hitPolicy must be one of {sorted(_HIT_POLICIES)}", f"{where}.hitPolicy")
    columns = {}
    for side in ("inputs", "outputs"):
        specs = content.get(side)
        if not isinstance(specs, list) or (side == "outputs" and not specs):
            _fail(f"{side} must be a list of columns", f"{where}.{side}")
        for spec in specs:
            if not (isinstance(spec, dict) and isinstance(spec.get("id"), str)
                    and isinstance(spec.get("field"), str) and spec["field"]):
                _fail("column needs an id and a field", f"{where}.{side}")
            if spec["id"] in columns:
                _fail(f"duplicate column id {spec['id']!r}", f"{where}.{side}")
            columns[spec["id"]] = (side, spec["field"])
            if side == "inputs":
                _compile(spec["field"], unary=False, where=f"{where}.inputs.{spec['field']}")
    rules = content.get("rules")
    if not isinstance(rules, list) or not rules:
        _fail("decision table needs rules", f"{where}.rules")
    for i, rule in enumerate(rules):
        rule_id = rule.get("_id", i) if isinstance(rule, dict) else i
        if not isinstance(rule, dict):
            _fail("rule must be an object", f"{where}.rules[{rule_id}]")
        for column_id, (side, field) in columns.items():
            cell = rule.get(column_id, "")
            cell_where = f"{where}.rules[{rule_id}].{field}"
            if not isinstance(cell, str):
                _fail("cell must be text", cell_where)
            if side == "inputs":
                if cell.strip():
                    _compile(cell, unary=True, where=cell_where)
                continue
            if not cell.strip():
                _fail("output cell is empty", cell_where)
            _compile(cell, unary=False, where=cell_where)
            literal = _CODE_LITERAL.match(cell.strip())
            if literal and field in ("code", "reason_code") and literal.group(1) not in reasons:
                _fail(f"reason code {literal.group(1)} has no text in 'reasons'", cell_where)


def _probe(policy: LoadedPolicy) -> None:
    """Evaluate over a grid of scores: every output present, within range and caps."""
    params = policy.parameters
    if policy.kind == "application":
        product = next(iter(policy.document["products"].values()))
        features = {"age_years": 35, "kyc_verified": True, "monthly_income_minor": 2_000_000,
                    "bureau_lenders_in_use": 1, "debt_to_income": 0.1,
                    "existing_exposure_minor": 0, "platform_tenure_months": 12}
        contexts = [{"features": features, "product": product, "params": params,
                     "internal": {"blacklisted": False}, "score": float(score)}
                    for score in range(300, 901, 5)]
    else:
        contexts = [{"features": {"dpd_current": dpd, "dpd_max_6m": dpd, "months_on_book": 12,
                                  "utilisation": 0.8, "current_limit_minor": 1_000_000,
                                  "other_exposure_minor": 0},
                     "params": params, "score": float(score)}
                    for score in range(300, 901, 10) for dpd in (0, 45)]
    for context in contexts:
        try:
            output = policy.evaluate(context)
        except CapExceededError as exc:
            raise ValidationError(f"at score {context['score']}: {exc.detail}",
                                  field=f"decision.{exc.field}") from exc
        for key, value in output.items():
            if value is None and key not in ("apr_bps", "reason_code"):
                _fail(f"the graph does not output {key!r} (score {context['score']})",
                      f"decision.outputs.{key}")
        if output["grade"] not in GRADES:
            _fail(f"grade {output['grade']!r} is not one of {GRADES}", "decision.outputs.grade")
        code = output["reason_code"]
        if code is not None and code not in policy.document["reasons"]:
            _fail(f"reason code {code!r} has no text", "decision.outputs.reason_code")
        if policy.kind == "application":
            if output["outcome"] not in OUTCOMES:
                _fail(f"outcome {output['outcome']!r} not in {OUTCOMES}",
                      "decision.outputs.outcome")
            if output["outcome"] == "approve" and output["apr_bps"] is None:
                _fail("an approval needs a price", "decision.outputs.apr_bps")
        elif output["action"] not in REVIEW_ACTIONS:
            _fail(f"action {output['action']!r} not in {REVIEW_ACTIONS}", "decision.outputs.action")


# Pure memo (kept): keyed by the document's content hash and text, so a hit is that very
# policy; which policy is in force is read from the database, never from this cache.
@functools.lru_cache(maxsize=32)
def _compiled(content_hash: str, text: str) -> LoadedPolicy:
    import zen

    document = json.loads(text)
    try:
        decision = zen.ZenEngine().create_decision(canonical_json(document["decision"]))
    except RuntimeError as exc:
        raise ValidationError(f"zen rejected the graph: {str(exc).splitlines()[0]}",
                              field="decision") from exc
    policy = LoadedPolicy(document, content_hash, decision)
    _probe(policy)
    return policy


def load_policy_document(document: Any) -> LoadedPolicy:
    """Validate and compile a policy document (a parsed JSON object)."""
    _validate_header(document)
    _validate_graph(document)
    text = canonical_json(document)
    if len(text.encode()) > _DOCUMENT_BYTES_MAX:
        _fail(f"policy larger than {_DOCUMENT_BYTES_MAX} bytes", "policy")
    content_hash = hashlib.sha256(text.encode()).hexdigest()
    return _compiled(content_hash, text)


def load_policy_file(path: str | Path) -> LoadedPolicy:
    """Read, validate and compile a policy file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValidationError(f"{str(path)!r} not found", field="policy") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path.name} is not JSON: {exc}", field="policy") from exc
    return load_policy_document(document)


# -- storage -------------------------------------------------------------------------------


def activate_policy(tx: Tx, policy: LoadedPolicy | Mapping[str, Any], *, actor: str
                    ) -> LoadedPolicy:
    """Store the document (once per content) and make it the one in force for its kind.

    Takes effect for every decision whose transaction starts after this one commits: no
    restart, and each decision records the hash it used. Re-activating an older hash rolls
    the policy back.
    """
    from creditpay.risk.decisions.tables import credit_policies, credit_policy_activations

    if not isinstance(policy, LoadedPolicy):
        policy = load_policy_document(copy.deepcopy(dict(policy)))
    if not isinstance(actor, str) or not actor.strip():
        raise ValidationError("actor must be named", field="actor")
    existing = tx.conn.execute(
        select(credit_policies.c.content_hash).where(
            credit_policies.c.policy_id == policy.policy_id,
            credit_policies.c.version == policy.version)).scalar_one_or_none()
    if existing is not None and existing != policy.content_hash:
        raise ValidationError(
            f"{policy.policy_id} version {policy.version} already exists with other content;"
            " give the changed policy a new version", field="version")
    if existing is None:
        tx.conn.execute(credit_policies.insert().values(
            content_hash=policy.content_hash, policy_kind=policy.kind,
            policy_id=policy.policy_id, version=policy.version,
            document=dict(policy.document), stored_at=tx.now))
    tx.conn.execute(credit_policy_activations.insert().values(
        policy_kind=policy.kind, content_hash=policy.content_hash, activated_at=tx.now,
        actor=actor))
    tx.emit("risk.policy.activated", "credit_policy", policy.content_hash,
            {"kind": policy.kind, "policy_id": policy.policy_id, "version": policy.version,
             "actor": actor})
    return policy


def active_policy(conn: Connection, kind: str) -> LoadedPolicy:
    """The policy in force for ``kind`` (NotFoundError when none was activated)."""
    from creditpay.risk.decisions.tables import credit_policy_activations

    content_hash = conn.execute(
        select(credit_policy_activations.c.content_hash)
        .where(credit_policy_activations.c.policy_kind == kind)
        .order_by(credit_policy_activations.c.id.desc()).limit(1)).scalar_one_or_none()
    if content_hash is None:
        raise NotFoundError(f"no {kind} policy is active; activate one first",
                            field="policy")
    return policy_by_hash(conn, content_hash)


_verified: dict[str, LoadedPolicy] = {}
_VERIFIED_MAX = 64


def policy_by_hash(conn: Connection, content_hash: str, *, verify: bool = False
                   ) -> LoadedPolicy:
    """A stored policy, validated and checked against its hash (tampering is refused).

    Policies are content-addressed, so one verified in this process is reused from memory
    (one indexed read per decision instead of a re-validation); ``verify=True`` (replay,
    audit) always re-reads and re-checks the stored document.
    """
    from creditpay.risk.decisions.tables import credit_policies

    if not verify and content_hash in _verified:
        return _verified[content_hash]
    document = conn.execute(select(credit_policies.c.document).where(
        credit_policies.c.content_hash == content_hash)).scalar_one_or_none()
    if document is None:
        raise NotFoundError(f"policy {content_hash} not found", field="policy_hash")
    policy = load_policy_document(document)
    if policy.content_hash != content_hash:
        raise ValidationError("stored policy does not match its hash (modified?)",
                              field="policy_hash")
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[content_hash] = policy
    return policy
