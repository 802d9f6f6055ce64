"""No process-global cache of configuration: every functools cache at module level in the
package is a reviewed pure memo (a function of its arguments only, or keyed by content), so
a new one must be reviewed here. The product catalogue and the caps are not among them:
they are loaded by the bootstrap and passed in (tests/credit/test_catalogue_isolation.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import creditpay

PACKAGE = Path(creditpay.__file__).parent

# (module path, function): why the memo may stay.
PURE_MEMOS = {
    ("money.py", "_known_currencies"): "ISO 4217 code list from Babel (code data)",
    ("formatting.py", "_formatted"): "pure function of amount, currency and locale",
    ("formatting.py", "_currency_pattern"): "pure function of locale and exponent",
    ("formatting.py", "_layout"): "pure function of locale, currency and exponent (Babel's CLDR data)",
    ("ledger/service.py", "_driver_sql"): "SQL text per dialect",
    ("risk/decisions/service.py", "_header_statement"): "a statement from table metadata",
    ("risk/decisions/service.py", "_history_insert"): "a statement per dialect",
    ("risk/decisions/policy.py", "_compiled"): "keyed by the policy's content hash",
    ("api/common.py", "_adapter"): "one validator per response model class",
    ("web/assets.py", "asset_version"): "digest of a packaged asset file (code data)",
    ("web/i18n.py", "translations"): "compiled gettext catalog shipped in the package",
    ("i18n.py", "_catalog"): "compiled gettext catalog shipped in the package",
    ("db/schema.py", "head_revisions"): "the packaged migrations' heads (code data)",
    ("risk/fraud/state_store.py", "_select_sql"): "SQL text per dialect and row count",
    ("risk/fraud/state_store.py", "_locked_and_unlocked_sql"): "SQL text per row counts",
    ("risk/fraud/state_store.py", "_update_sql"): "SQL text per paramstyle",
    ("risk/fraud/state_store.py", "_insert_empty_sql"): "SQL text per paramstyle",
    ("risk/fraud/state_store.py", "_updated_at_bind"): "a column type's conversion per "
                                                        "dialect object",
    ("risk/fraud/records.py", "_binds"): "the columns' conversions per dialect object",
    ("ledger/service.py", "_readers"): "the columns' conversions per dialect object",
    ("ledger/service.py", "_writers"): "the columns' conversions per dialect object",
    ("ledger/service.py", "_driver_reads"): "SQL text per paramstyle",
    ("payments/fraud.py", "_summary_positions"): "pure function of the model's feature "
                                                  "names and the rules' fields",
    ("platform/audit.py", "_key_checks"): "pure function of a payload key's text",
    ("protection/disclosure.py", "_fixed_texts"): "pure function of the language and the "
                                                  "product terms' values it is keyed by",
    ("protection/disclosure.py", "_layout"): "pure function of which figures a document "
                                             "has and the lengths of its lists",
    ("protection/disclosure.py", "_skeleton"): "the packaged template's fixed texts per "
                                               "language and layout (follow-up, as _template)",
    ("protection/disclosure.py", "_skeleton_safe"): "whether the packaged template per "
                                                    "language is plain (follow-up)",
    ("protection/disclosure.py", "_specialised_source"): "the packaged template per language "
                                                         "(follow-up, as _template)",
    ("protection/disclosure.py", "_environment"): "the Jinja environment loading the "
                                                  "packaged templates (follow-up)",
    # Configuration still memoised, packaged with the code (not per process): left for a
    # follow-up that threads them like the catalogue (collections strategies, consent
    # texts, the key-facts template).
    ("credit/collections.py", "default_strategy"): "packaged strategies (follow-up)",
    ("protection/consent.py", "_load_texts"): "packaged consent texts (follow-up)",
    ("protection/disclosure.py", "_template"): "packaged template (follow-up)",
    ("protection/hardship.py", "_template"): "the packaged hardship key-facts template",
}
CACHE_NAMES = {"lru_cache", "cache"}


def _cached_functions() -> set[tuple[str, str]]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only (methods' cached_property are per object)
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = target.attr if isinstance(target, ast.Attribute) else \
                    getattr(target, "id", None)
                if name in CACHE_NAMES:
                    found.add((path.relative_to(PACKAGE).as_posix(), node.name))
    return found


def test_every_module_level_cache_is_a_reviewed_memo():
    assert _cached_functions() <= set(PURE_MEMOS), _cached_functions() - set(PURE_MEMOS)


def test_catalogue_and_caps_are_not_cached_globals():
    from creditpay.credit import caps, products

    assert not hasattr(products, "default_catalogue")
    assert not hasattr(caps, "default_caps")
    assert products.load_catalogue() is not products.load_catalogue()
