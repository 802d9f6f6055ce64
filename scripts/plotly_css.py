"""Write the stylesheet that plotly.js would otherwise inject as an inline <style>.

    PYTHONPATH=src python scripts/plotly_css.py

plotly.js adds its base rules (modebar, hover labels, cursors) to a ``<style
id="plotly.js-style-global">`` it creates, which the console's CSP (``style-src 'self'``,
no 'unsafe-inline') refuses. plotly.js skips that when the page already holds an element
of that id with the class ``no-inline-styles``: the dashboard links this file under that
id instead. The rules are read from the vendored bundle itself, run in Debian's Chromium
without a CSP, so they are exactly the bundle's; tests/web/test_console_dashboard.py checks
the committed file still matches the bundle (rerun this after updating the bundle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

VENDOR = (Path(__file__).resolve().parent.parent / "src" / "creditpay" / "web" / "static"
          / "vendor" / "plotly")
BUNDLE = VENDOR / "plotly-cartesian.min.js"
CSS = VENDOR / "plotly.css"
CHROMIUM = "/usr/bin/chromium"
HEADER = ("/* plotly.js's own base rules, read from plotly-cartesian.min.js by "
          "scripts/plotly_css.py. */\n")


def injected_rules(browser: Any, bundle: Path = BUNDLE) -> list[str]:
    """The CSS rules ``bundle`` injects on its first plot, in source order, read in a page
    of the Playwright ``browser`` that has no CSP."""
    page = browser.new_page()
    try:
        page.set_content("<html><head></head><body><div id='g'></div></body></html>")
        page.add_script_tag(content=bundle.read_text(encoding="utf-8"))
        page.evaluate("Plotly.newPlot('g', [{type: 'bar', x: [1], y: [1]}])")
        rules: list[str] = page.evaluate(
            "[...document.getElementById('plotly.js-style-global').sheet.cssRules]"
            ".map(r => r.cssText)")
    finally:
        page.close()
    # plotly.js inserts each rule at index 0: reversed, they are in the order it adds them.
    return list(reversed(rules))


def stylesheet(rules: list[str]) -> str:
    return HEADER + "\n".join(rules) + "\n"


def main() -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--headless", "--no-sandbox"])
        try:
            CSS.write_text(stylesheet(injected_rules(browser)), encoding="utf-8")
        finally:
            browser.close()
    print(f"wrote {CSS}")


if __name__ == "__main__":
    main()
