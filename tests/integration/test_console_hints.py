"""The console shows what to do beside Tavus's message, in a real browser on the local stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from local.console_server import ConsoleServer
from local.targets import load_target
from local.tavus_training_errors import TRAINING_ERRORS
from tests.integration.edges import Edges
from tests.integration.test_console import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, row
from tests.integration.test_local_pipeline import submit

pytestmark = pytest.mark.integration

HINT = "What to do: Record at 25 fps or more, or run replicas prepare on the file"


@pytest.fixture(scope="module")
def console(stack: dict[str, str]) -> Iterator[ConsoleServer]:
    with ConsoleServer(load_target("local", Path(stack["state_dir"]))) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    problems: list[str] = []
    # A Content-Security-Policy violation or a script error shows up here.
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    context.close()
    assert problems == [], problems


def test_a_failed_item_shows_what_to_do_beside_tavus_message(
    page: Page, console: ConsoleServer, edges: Edges
) -> None:
    edges.inject_faults(fail_training="video_fps")
    sid = submit(edges, "too-few-frames")
    assert edges.wait_for(sid)["status"] == "error"

    page.goto(console.url)
    failed = row(page, f"{edges.run}-too-few-frames")

    expect(failed.locator(".reason")).to_have_text(TRAINING_ERRORS["video_fps"])
    expect(failed.locator(".hint")).to_have_text(HINT)
    expect(failed.locator(".hint code")).to_have_text("replicas prepare")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    failed.screenshot(path=str(ARTIFACTS / "console-error-hint.png"))

    failed.get_by_role("link").click()

    expect(page.locator("#detail-reason")).to_have_text(TRAINING_ERRORS["video_fps"])
    expect(page.locator("#detail-hint")).to_have_text(HINT)


def test_an_item_without_advice_shows_no_hint_line(
    page: Page, console: ConsoleServer, edges: Edges
) -> None:
    edges.inject_faults(fail_training="Something went wrong")
    sid = submit(edges, "no-advice")
    assert edges.wait_for(sid)["status"] == "error"

    page.goto(console.url)
    failed = row(page, f"{edges.run}-no-advice")

    expect(failed.locator(".reason")).to_have_text("Something went wrong")
    expect(failed.locator(".hint")).to_be_hidden()
