"""Update the web app's catalogs from the templates and code, then compile them.

    PYTHONPATH=src python scripts/web_catalogs.py

1. ``pybabel extract`` (babel.cfg) writes locale/messages.pot;
2. ``pybabel update`` merges it into each locale's messages.po (new messages come in
   untranslated, gone ones are kept commented out);
3. ``pybabel compile`` writes each messages.mo (committed: the package ships them, and
   tests/web/test_catalogs.py fails when a .mo is older than its .po).

Translate the new messages in locale/zh_CN/LC_MESSAGES/messages.po between steps 2 and 3
(or rerun the script afterwards). The msgids are English: en needs no msgstr.
"""

from __future__ import annotations

import subprocess  # nosec B404 - Babel's own command line
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "src" / "creditpay" / "web" / "locale"
PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]


def main() -> None:
    pot = LOCALE / "messages.pot"
    subprocess.run([*PYBABEL, "extract", "-F", str(ROOT / "babel.cfg"), "-k", "N_",  # nosec B603
                    "--no-location", "--sort-output", "--omit-header", "-o", str(pot),
                    str(ROOT)], check=True, cwd=ROOT)
    for locale in ("zh_CN", "en"):
        po = LOCALE / locale / "LC_MESSAGES" / "messages.po"
        command = "update" if po.exists() else "init"
        subprocess.run([*PYBABEL, command, "-i", str(pot), "-d", str(LOCALE),  # nosec B603
                        "-l", locale, "--no-wrap"], check=True)
    subprocess.run([*PYBABEL, "compile", "-d", str(LOCALE)], check=True)  # nosec B603


if __name__ == "__main__":
    main()
