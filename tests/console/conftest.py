"""Fixtures of the console tests: Debian's chromium driven by Playwright against a real server, and the
screenshots each test leaves in artifacts/console/ to be looked at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from chromium import ARGS, CHROMIUM
from conftest import Telephonist, running

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module-scoped: Playwright's sync API runs an event loop in this thread while it is open, and the
    # tests after these ones call asyncio.run().
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def tel(tmp_path: Path) -> Iterator[Telephonist]:
    # A tenth of real time: a <Pause length="20"> lasts 2 s, long enough to watch a call live.
    with running(tmp_path, time_scale=0.1) as t:
        yield t


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(10_000)
    yield p
    context.close()


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, tel: Telephonist, sid: str | None = None, token: str | None = None) -> None:
    if not page.url.endswith("/console/signin"):
        page.goto(tel.base_url + "/console")
    page.fill("input[name=AccountSid]", sid or tel.account_sid)
    page.fill("input[name=AuthToken]", token or tel.auth_token)
    page.click("button[type=submit]")


@contextmanager
def signed_in(tel: Telephonist, sid: str | None = None, token: str | None = None) -> Iterator[httpx.Client]:
    """A browser-like client signed in to the console (cookies kept, redirects not followed)."""
    with httpx.Client(base_url=tel.base_url, timeout=10) as c:
        form = c.get("/console/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        credentials = {"AccountSid": sid or tel.account_sid, "AuthToken": token or tel.auth_token}
        r = c.post("/console/signin", data={"csrf": csrf.group(1)} | credentials)
        assert r.status_code == 303, r.text
        yield c
