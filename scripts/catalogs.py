"""Update the domains' gettext catalogs (domain ``creditpay``) from the code, then compile.

    PYTHONPATH=src python scripts/catalogs.py

1. ``pybabel extract`` (babel-creditpay.cfg, the keywords of ``creditpay.i18n.KEYWORDS``)
   writes src/creditpay/locale/creditpay.pot;
2. ``pybabel update`` merges it into each locale's creditpay.po (new messages come in
   untranslated, gone ones are kept commented out);
3. ``pybabel compile`` writes each creditpay.mo (committed: the package ships them, and
   tests/core/test_catalogs.py fails when a .mo is not its .po compiled).

Translate the new messages in locale/zh_CN/LC_MESSAGES/creditpay.po between steps 2 and 3
(or rerun the script afterwards). The msgids are English: en needs no msgstr. The web app's
catalogs (domain ``messages``) are scripts/web_catalogs.py's.
"""

from __future__ import annotations

import subprocess  # nosec B404 - Babel's own command line
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from creditpay.i18n import DOMAIN, KEYWORDS, LOCALE_DIR  # noqa: E402 - after the path

PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]


def keyword_options() -> list[str]:
    """``-k`` options of pybabel extract for :data:`creditpay.i18n.KEYWORDS`."""
    options: list[str] = []
    for name, spec in KEYWORDS.items():
        if spec is None:
            options += ["-k", name]
        else:
            parts = [f"{arg[0]}{arg[1]}" if isinstance(arg, tuple) else str(arg)
                     for arg in spec]
            options += ["-k", f"{name}:{','.join(parts)}"]
    return options


def main() -> None:
    pot = LOCALE_DIR / f"{DOMAIN}.pot"
    pot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([*PYBABEL, "extract", "-F", str(ROOT / "babel-creditpay.cfg"),  # nosec B603
                    *keyword_options(), "--project", "creditpay", "--no-location", "--sort-output",
                    "--omit-header",
                    "-o", str(pot), str(ROOT)], check=True, cwd=ROOT)
    for locale in ("zh_CN", "en"):
        po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        command = "update" if po.exists() else "init"
        subprocess.run([*PYBABEL, command, "-D", DOMAIN, "-i", str(pot),  # nosec B603
                        "-d", str(LOCALE_DIR), "-l", locale, "--no-wrap"], check=True)
    subprocess.run([*PYBABEL, "compile", "-D", DOMAIN, "-d", str(LOCALE_DIR)],  # nosec B603
                   check=True)


if __name__ == "__main__":
    main()
