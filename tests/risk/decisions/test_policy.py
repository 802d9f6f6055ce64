"""Policy documents: validated on load with errors naming the node and field; versioned."""

from __future__ import annotations

import copy
import json

import pytest

from creditpay.errors import ValidationError
from creditpay.risk.decisions.policy import (
    bundled_policy_path,
    load_policy_document,
    load_policy_file,
)


def _doc(kind="application"):
    return json.loads(bundled_policy_path(kind).read_text(encoding="utf-8"))


def _node(doc, node_id):
    return next(n for n in doc["decision"]["nodes"] if n["id"] == node_id)


def test_bundled_policies_load_and_hash_is_content_based():
    application = load_policy_file(bundled_policy_path("application"))
    review = load_policy_file(bundled_policy_path("limit_review"))
    assert application.kind == "application" and review.kind == "limit_review"
    assert load_policy_document(_doc()).content_hash == application.content_hash
    reordered = dict(reversed(list(_doc().items())))  # key order is not content
    assert load_policy_document(reordered).content_hash == application.content_hash
    changed = _doc()
    changed["parameters"]["dti_cap_unused"] = 1
    changed["parameters"].pop("dti_cap_unused")
    changed["description"] += "."
    assert load_policy_document(changed).content_hash != application.content_hash


def _broken(mutate, kind="application"):
    doc = _doc(kind)
    mutate(doc)
    with pytest.raises(ValidationError) as error:
        load_policy_document(doc)
    return error.value


def test_a_cell_that_does_not_compile_names_node_rule_and_column():
    def mutate(doc):
        _node(doc, "knockouts")["content"]["rules"][0]["age"] = "<<< 18"
    error = _broken(mutate)
    assert error.field == "decision.nodes[knockouts].rules[r1].features.age_years"
    assert "does not compile" in error.detail


def test_an_unknown_reason_code_is_refused():
    def mutate(doc):
        _node(doc, "knockouts")["content"]["rules"][1]["code"] = "'KO_SHOE_SIZE'"
    assert "KO_SHOE_SIZE" in _broken(mutate).detail


def test_a_function_node_is_refused():
    def mutate(doc):
        _node(doc, "capacity")["type"] = "functionNode"
    assert _broken(mutate).field == "decision.nodes[capacity].type"


def test_a_price_above_the_cap_is_caught_on_load():
    def mutate(doc):
        _node(doc, "terms")["content"]["rules"][3]["apr"] = "3000"
    error = _broken(mutate)
    assert error.field == "decision.apr_bps" and "price cap" in error.detail


def test_a_missing_parameter_and_a_dangling_edge_are_named():
    assert _broken(lambda d: d["parameters"].pop("apr_cap_bps")).field == \
        "parameters.apr_cap_bps"

    def dangle(doc):
        doc["decision"]["edges"][2]["targetId"] = "nowhere"
    assert _broken(dangle).field == "decision.edges[e3].targetId"


def test_a_node_cut_off_from_the_output_is_refused():
    def cut(doc):
        doc["decision"]["edges"] = [e for e in doc["decision"]["edges"] if e["id"] != "e7"]
    assert _broken(cut).field == "decision.nodes[output]"  # no longer reachable

    def orphan(doc):
        doc["decision"]["nodes"].append({
            "id": "orphan", "type": "expressionNode", "name": "orphan",
            "content": {"expressions": [{"id": "o", "key": "x", "value": "1"}]}})
        doc["decision"]["edges"].append({"id": "e99", "sourceId": "input",
                                         "targetId": "orphan"})
    error = _broken(orphan)
    assert error.field == "decision.nodes[orphan]" and "output" in error.detail


def test_products_need_a_sane_age_range():
    def mutate(doc):
        doc["products"]["cash_loan"] = {"min_age_years": 30, "max_age_years": 20}
    assert _broken(mutate).field == "products.cash_loan"


def test_an_unknown_product_is_refused_by_name():
    policy = load_policy_file(bundled_policy_path("application"))
    with pytest.raises(ValidationError) as error:
        policy.product("mortgage")
    assert error.value.field == "product_code"


def test_limit_review_policy_is_validated_too():
    def mutate(doc):
        _node(doc, "action")["content"]["rules"][0]["a"] = "'explode'"
    assert _broken(mutate, "limit_review").field == "decision.outputs.action"


def test_documents_are_not_mutated_by_loading():
    doc = _doc()
    before = copy.deepcopy(doc)
    load_policy_document(doc)
    assert doc == before
