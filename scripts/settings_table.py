"""Regenerate the README's table of settings from ``creditpay.config.Settings``.

    PYTHONPATH=src .venv/bin/python scripts/settings_table.py          # rewrite README.md
    PYTHONPATH=src .venv/bin/python scripts/settings_table.py --check  # exit 1 if stale

tests/core/test_config.py runs the check, so the table cannot drift from the class.
"""

from __future__ import annotations

import sys
from pathlib import Path

from creditpay.config import README_TABLE_END, README_TABLE_START, settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def rendered(text: str) -> str:
    """``text`` (the README) with the block between the markers replaced by the table."""
    start = text.index(README_TABLE_START) + len(README_TABLE_START)
    end = text.index(README_TABLE_END)
    return text[:start] + "\n" + settings_table() + text[end:]


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    fresh = rendered(text)
    if "--check" in argv:
        if fresh != text:
            print("README.md settings table is stale: run scripts/settings_table.py",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
