"""Real headless Chromium (Debian's, installed by tests/deps.sh) driven by Playwright, for the console's tests.

No browser is downloaded: Playwright's driver talks to /usr/bin/chromium. Each page collects its console errors and
uncaught exceptions (a CSP violation is a console error), and `axe` runs axe-core (tests/helpers/vendor, see its
LICENSES) inside the page through the DevTools protocol, which the page's CSP does not govern.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.helpers.support import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
ARTIFACTS = Path(os.environ.get("OPSLEDGER_TEST_ARTIFACTS", ROOT / ".artifacts")) / "console"
PHONE = {"width": 390, "height": 844}


@contextmanager
def chromium() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "chromium is not installed: run tests/deps.sh (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    page: Page
    errors: list[str] = field(default_factory=list)

    def goto(self, url: str) -> None:
        answer = self.page.goto(url, wait_until="load")
        assert answer is not None and answer.status < 400, f"{url}: {answer.status if answer else 'no answer'}"

    def axe_violations(self, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
        self.page.evaluate(AXE)
        result = self.page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                                    ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
                                    " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
        return [v for v in result if v["impact"] in impacts]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def watch(page: Page) -> Watched:
    page.set_default_timeout(90_000)  # the machine is shared: a busy moment is not a failure
    watched = Watched(page)
    page.on("console", lambda m: watched.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(f"page error: {e}"))
    return watched


def signed_in(browser: Browser, base_url: str, username: str, password: str, *,
              phone: bool = False) -> tuple[BrowserContext, Watched]:
    """A fresh context signed in through the login form, as a person would."""
    context = browser.new_context(base_url=base_url, viewport=PHONE if phone else None, is_mobile=phone,
                                  has_touch=phone)
    page = watch(context.new_page())
    page.goto("/login")
    page.page.fill("input[name=username]", username)
    page.page.fill("input[name=password]", password)
    page.page.click("button[type=submit]")
    page.page.wait_for_url(lambda url: "/login" not in url)
    return context, page
