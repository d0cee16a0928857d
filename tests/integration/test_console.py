"""`replicas console` in a real browser (Debian's Chromium via Playwright) on the local stack.

What a person sees: every submission with its status in words and colour, progress, age and
reason; the filter and search; the detail view with keys, history and thumbnail video; the
retry button on a failed item and what to do beside Tavus's message; the help a new user
gets. The first screen is saved to
``tests/artifacts/`` and its weight is measured.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from replica_pipeline_local.cli.console_server import ConsoleServer
from replica_pipeline_local.cli.targets import resolve_target
from replica_pipeline_local.stack.tavus_training_errors import TRAINING_ERRORS
from tests.integration.edges import DATA, Edges, submit

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The page itself (HTML, script, style, icon) on first load; the API's data comes on top.
PAGE_WEIGHT_BUDGET_BYTES = 100 * 1024
TRAINING_FAILURE = "Tavus could not find a face in the training video"

if CHROMIUM is None:
    pytest.skip(
        "the console tests drive the system Chromium, which is not installed: "
        "apt-get install chromium",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright  # noqa: E402


@dataclass(frozen=True)
class Drops:
    """One submission in each status a person must be able to tell apart."""

    run: str
    completed: dict[str, Any]
    training: dict[str, Any]
    failed: dict[str, Any]
    rejected: dict[str, Any]


@pytest.fixture(scope="module")
def drops(stack: dict[str, str]) -> Iterator[Drops]:
    edges = Edges(stack)
    try:
        # Faults are read when Tavus is asked to create a replica, so each drop keeps its own.
        # Slow training: Get Replica says 25 % after 15 s (Tavus calls back only at the end,
        # so the reconciler brings it, within 2 s), done after 60 s (after these tests).
        edges.inject_faults(training_seconds=60)
        training = submit(edges, "training")
        edges.wait_for(training, {"training"})
        edges.inject_faults(fail_training=TRAINING_FAILURE)
        failed = edges.wait_for(submit(edges, "failing"))
        edges.reset_faults()
        # one after the other, so "newest first" has one right answer
        completed = edges.wait_for(submit(edges, "finished"))
        edges.upload(edges.key("twenty-seconds.mp4"), DATA / "short-20s.mp4")
        drops = Drops(
            run=edges.run,
            completed=completed,
            failed=failed,
            rejected=edges.wait_for_key(f"{edges.run}-twenty-seconds"),
            training=wait_for_progress(edges, training),
        )
        assert drops.failed["status"] == "error"
        assert drops.rejected["status"] == "rejected"
        assert drops.completed["status"] == "completed"
        yield drops
    finally:
        edges.reset_faults()


def wait_for_progress(edges: Edges, submission_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        _, item = edges.api(f"/replicas/{submission_id}")
        if item["status"] == "training" and (item.get("training_progress") or 0) > 0:
            return dict(item)
        time.sleep(0.25)
    raise AssertionError(f"{submission_id} shows no training progress: {item}")


@pytest.fixture(scope="module")
def console(stack: dict[str, str]) -> Iterator[ConsoleServer]:
    with ConsoleServer(resolve_target("local", local_state=Path(stack["state_dir"]))) as server:
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


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    # Playwright's wait_for_function evaluates a string, which the page's policy forbids.
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def row(page: Page, name: str) -> Locator:
    return page.locator("li.replica").filter(has=page.get_by_role("link", name=name, exact=True))


def search(page: Page, text: str) -> None:
    page.get_by_label("Search by name").fill(text)


def test_the_list_shows_each_submission_in_words_with_progress_and_reasons(
    page: Page, console: ConsoleServer, drops: Drops
) -> None:
    # given four drops, one in each state (the drops fixture)
    # when the console opens
    page.goto(console.url)
    run = drops.run

    # then each row says its state in words, with progress or the reason
    finished = row(page, f"{run}-finished")
    expect(finished.locator(".badge")).to_have_text("Completed")
    expect(finished.locator("progress")).to_have_attribute("value", "100")
    expect(finished.locator(".percent")).to_have_text("100%")
    expect(finished.locator("time")).to_have_text(re.compile(r"just now|\d+ s ago|\d+ min ago"))

    training = row(page, f"{run}-training")
    expect(training.locator(".badge")).to_have_text("Training")
    progress = drops.training["training_progress"]
    expect(training.locator(".percent")).to_have_text(re.compile(r"(25|50|75)%"))
    assert int(training.locator("progress").get_attribute("value") or 0) >= progress

    failing = row(page, f"{run}-failing")
    expect(failing.locator(".badge")).to_have_text("Error")
    expect(failing.locator(".reason")).to_have_text(TRAINING_FAILURE)
    expect(failing.get_by_role("button", name=f"Retry {run}-failing")).to_be_visible()

    too_short = row(page, f"{run}-twenty-seconds")
    expect(too_short.locator(".badge")).to_have_text("Rejected")
    expect(too_short.locator(".reason")).to_have_text(re.compile(r"^video is 20 s long"))
    expect(too_short.get_by_role("button")).to_have_count(0)
    expect(too_short.locator("progress")).to_be_hidden()

    # newest first: the four in the order they were dropped, last one on top
    search(page, run)
    names = page.locator("li.replica a.name").all_inner_texts()
    assert names == [
        f"{run}-twenty-seconds",
        f"{run}-finished",
        f"{run}-failing",
        f"{run}-training",
    ]
    expect(page.locator("#summary")).to_have_text(f"4 submissions matching “{run}”")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-list.png"), full_page=True)
    # readable on a phone: nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "console-list-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_status_filter_and_the_search_narrow_the_list(
    page: Page, console: ConsoleServer, drops: Drops
) -> None:
    page.goto(console.url)
    run = drops.run
    expect(row(page, f"{run}-finished")).to_be_visible()

    page.get_by_label("Status").select_option("rejected")

    expect(row(page, f"{run}-twenty-seconds")).to_be_visible()
    expect(row(page, f"{run}-finished")).to_have_count(0)
    statuses = page.locator("li.replica").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert set(statuses) == {"rejected"}

    page.get_by_label("Status").select_option("")
    search(page, f"{run}-FIN")

    expect(page.locator("li.replica")).to_have_count(1)
    expect(row(page, f"{run}-finished")).to_be_visible()

    search(page, f"{run}-nothing-by-this-name")

    expect(page.locator("li.replica")).to_have_count(0)
    expect(page.locator("#summary")).to_have_text("No submissions match.")
    expect(page.locator("#empty")).to_be_hidden()  # the first-video help is for an empty stack


def test_the_detail_view_shows_keys_history_and_thumbnail_by_keyboard(
    page: Page, console: ConsoleServer, drops: Drops, stack: dict[str, str]
) -> None:
    page.goto(console.url)
    item = drops.completed
    search(page, item["name"])
    link = page.get_by_role("link", name=item["name"], exact=True)
    link.focus()

    page.keyboard.press("Enter")

    heading = page.get_by_role("heading", level=2, name=item["name"])
    expect(heading).to_be_focused()
    facts = page.locator("#detail-facts")
    expect(facts).to_contain_text(f"s3://{stack['bucket']}/{item['training_key']}")
    expect(facts).to_contain_text(item["replica_id"])
    expect(facts).to_contain_text(item["submission_id"])
    history = page.locator("#detail-history li .badge")
    expect(history).to_have_text(["Submitting", "Training", "Completed"])
    # the thumbnail plays through the console server (the policy allows no other origin)
    video = page.locator("#detail-thumbnail video")
    expect(video).to_be_visible()
    assert wait_until(lambda: video.evaluate("video => video.readyState") >= 1), "no video"

    page.get_by_role("link", name="← All submissions").press("Enter")

    expect(page.get_by_role("link", name=item["name"], exact=True)).to_be_focused()


def test_retry_turns_an_error_into_a_new_attempt_that_completes(
    page: Page, console: ConsoleServer, edges: Edges
) -> None:
    edges.inject_faults(fail_training=TRAINING_FAILURE)
    sid = submit(edges, "retry-me")
    assert edges.wait_for(sid)["status"] == "error"
    edges.reset_faults()
    page.goto(f"{console.url}#/replica/{sid}")
    badge = page.locator("#detail-badge")
    expect(badge).to_have_text("Error")
    expect(page.locator("#detail-reason")).to_have_text(TRAINING_FAILURE)

    page.get_by_role("button", name="Retry").click()

    expect(badge).to_have_text("Completed", timeout=60_000)
    expect(page.get_by_role("button", name="Retry")).to_be_hidden()
    item = edges.wait_for(sid)
    assert (item["status"], item["attempts"]) == ("completed", 2)
    statuses = [entry["status"] for entry in item["history"] if entry.get("status")]
    assert statuses[-2:] == ["training", "completed"]
    assert "error" in statuses


def test_the_page_is_light_and_loads_nothing_from_elsewhere(
    page: Page, console: ConsoleServer, drops: Drops
) -> None:
    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response))

    page.goto(console.url, wait_until="networkidle")
    first_load = list(responses)

    assert all(response.url.startswith(console.url) for response in first_load)
    weights = {
        response.url.removeprefix(console.url): len(response.body()) for response in first_load
    }
    page_bytes = sum(size for path, size in weights.items() if not path.startswith("api/"))
    api_bytes = sum(size for path, size in weights.items() if path.startswith("api/"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "console-weight.json").write_text(
        json.dumps({"page_bytes": page_bytes, "api_bytes": api_bytes, "files": weights}, indent=2)
    )
    print(f"console first load: {page_bytes} bytes of page, {api_bytes} bytes of API data")
    assert page_bytes < PAGE_WEIGHT_BUDGET_BYTES


def set_hidden(page: Page, hidden: bool) -> None:
    """What switching to another tab (and back) tells the page."""
    page.evaluate(
        """hidden => {
            Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
            Object.defineProperty(document, "visibilityState", {
                configurable: true, get: () => (hidden ? "hidden" : "visible"),
            });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_updates_come_without_reload_and_slow_down_while_the_tab_is_hidden(
    page: Page, console: ConsoleServer
) -> None:
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if is_poll(request.url) else None)
    page.clock.install()
    page.goto(console.url)
    freshness = page.locator("#freshness")
    expect(freshness).to_contain_text("Live")
    first_load = freshness.inner_text()

    with page.expect_response(lambda response: is_poll(response.url)):
        page.clock.run_for(3_500)  # visible: a poll every 3 s
    # the poll has landed ("updated" at a later time), so the next one is scheduled
    expect(freshness).not_to_have_text(first_load)
    set_hidden(page, True)
    before = len(polls)
    page.clock.run_for(20_000)
    page.wait_for_timeout(300)  # let any request the timers made reach us

    assert len(polls) == before, "the hidden page kept polling at the visible pace"
    with page.expect_request(lambda request: is_poll(request.url)):
        page.clock.run_for(11_000)  # hidden: every 30 s
    with page.expect_request(lambda request: is_poll(request.url)):
        set_hidden(page, False)  # back in view: fresh data at once


def is_poll(url: str) -> bool:
    return "/api/replicas?" in url


def test_an_empty_stack_tells_a_new_user_how_to_drop_a_first_video(
    page: Page, console: ConsoleServer, stack: dict[str, str]
) -> None:
    # the shared stack is never empty, so the browser is given an empty list
    page.route(
        re.compile(r".*/api/replicas\?.*"),
        lambda route: route.fulfill(json={"items": [], "next": None}),
    )

    page.goto(console.url)

    empty = page.locator("#empty")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("replicas submit my-video.mp4")
    expect(empty).to_contain_text(f"s3 cp my-video.mp4 s3://{stack['bucket']}/uploads/")
    expect(empty).to_contain_text("make run")


# -- what to do, beside Tavus's message ---------------------------------------

HINT = "What to do: Record at 25 fps or more, or run replicas prepare on the file"


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
