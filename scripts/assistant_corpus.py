"""Regenerate the assistant's retrieval corpus (``src/creditpay/assistant/data/corpus``).

docs/ is not inside the installed package, so the passages the assistant cites are shipped
as an extract: the consumer-relevant docs (``DOCS``), the product catalogue's texts and
fees (``credit/products/*.yaml``), the consent texts (``protection/templates/
consent_texts.yaml``) and the key-facts document's texts (``protection.disclosure``, both
languages). A wheel install then answers with the same sources as a source tree.

    PYTHONPATH=src .venv/bin/python scripts/assistant_corpus.py          # rewrite the corpus
    PYTHONPATH=src .venv/bin/python scripts/assistant_corpus.py --check  # exit 1 if stale

tests/assistant/test_retrieval.py runs the check, so the extract cannot drift from docs/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "creditpay"
CORPUS = PACKAGE / "assistant" / "data" / "corpus"
# The docs a consumer's question can be answered from (the rest are for engineers/staff).
DOCS = ("consumer-protection.md", "servicing.md", "credit-math.md", "bureau-reporting.md",
        "fx.md", "cross_border.md", "disputes.md", "hardship.md")
KEY_FACTS_KEYS = ("intro", "apr", "apr_note", "no_other_fees", "choice_text", "footer",
                  "down_payment_note")


def _products() -> str:
    parts = ["# Products and fees", ""]
    for path in sorted((PACKAGE / "credit" / "products").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        about = " ".join(line.lstrip("# ").strip() for line in text.splitlines()
                         if line.startswith("#"))
        name = data.get("name") or {}
        parts.append(f"## {name.get('en', data['code'])} ({name.get('zh-CN', '')}) "
                     f"{data['code']} v{data['version']}")
        parts.append("")
        if about:
            parts.append(about)
        facts = [f"{key}: {data[key]}" for key in (
            "kind", "currency", "style", "statement_day", "due_days_after_statement",
            "grace_days", "late_fee_minor", "penalty_annual_rate", "annual_rate",
            "minimum_payment_rate", "amount_min_minor", "amount_max_minor") if key in data]
        for option in data.get("bill_installment_options") or ():
            facts.append(f"bill installments: {option['periods']} periods, fee "
                         f"{option['fee_rate_per_period']} per period")
        parts.append("; ".join(facts))
        parts.append("")
    return "\n".join(parts)


def _consents() -> str:
    data = yaml.safe_load((PACKAGE / "protection" / "templates" / "consent_texts.yaml")
                          .read_text(encoding="utf-8"))
    parts = ["# Consent texts", ""]
    for purpose, doc in data["purposes"].items():
        version = doc["current_version"]
        texts = doc["versions"][version]
        parts += [f"## {purpose} (version {version})", "", texts["en"], "", texts["zh-CN"], ""]
    return "\n".join(parts)


def _key_facts() -> str:
    from creditpay.i18n import translate
    from creditpay.protection import disclosure

    labels = disclosure._LABELS  # the document's own texts (msgids), read, not copied
    parts = ["# Key facts statement", ""]
    for key in KEY_FACTS_KEYS:
        message = labels[key]
        parts += [f"## {translate(labels['title'], 'en', context='key facts')}: {key}", "",
                  message, "", translate(message, "zh-CN", context="key facts"), ""]
    return "\n".join(parts)


def corpus() -> dict[str, str]:
    """File name -> text of every corpus file, as the package ships them."""
    files = {f"docs-{name}": (ROOT / "docs" / name).read_text(encoding="utf-8")
             for name in DOCS}
    files["products.md"] = _products()
    files["consents.md"] = _consents()
    files["key-facts.md"] = _key_facts()
    return files


def main(argv: list[str]) -> int:
    fresh = corpus()
    present = {p.name: p.read_text(encoding="utf-8") for p in CORPUS.glob("*.md")}
    if "--check" in argv:
        if present != fresh:
            print("the assistant's corpus is stale: run scripts/assistant_corpus.py",
                  file=sys.stderr)
            return 1
        return 0
    CORPUS.mkdir(parents=True, exist_ok=True)
    for name in set(present) - set(fresh):
        (CORPUS / name).unlink()
    for name, text in fresh.items():
        (CORPUS / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
