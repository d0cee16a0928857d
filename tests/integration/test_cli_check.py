"""`replicas check`, the check `replicas submit` runs first, and `replicas console`."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from replica_pipeline.preflight.report import PICTURE_CHECKS
from tests.clips import make_clip
from tests.integration.edges import Edges

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = str(ROOT / ".venv" / "bin" / "replicas")
SAMPLE = ROOT / "samples" / "sample.mp4"


@pytest.fixture(scope="module")
def silence_first(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1080p H.264, 70 s, silent for 35 s and then talking: the pipeline's header check
    accepts it, Tavus's recording rule does not."""
    folder = tmp_path_factory.mktemp("cli-clips")
    return make_clip(
        folder / "silence-first.mp4", width=1920, height=1080, seconds=70, speech=[(35, 70)], fps=25
    )


def replicas(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REPLICAS, *arguments], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_check_passes_the_sample_and_reports_every_finding() -> None:
    result = replicas("--json", "check", str(SAMPLE))

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["passed"] is True
    [report] = answer["reports"]
    checks = {finding["check"]: finding["verdict"] for finding in report["findings"]}
    assert set(checks) >= {
        "container",
        "video_codec",
        "resolution",
        "frame_rate",
        "duration",
        "file_size",
        "loudness",
        "talk_then_silence",
        "speech_at_start",
        *PICTURE_CHECKS,
    }
    assert set(checks.values()) == {"pass"}
    assert len(report["loudness"]) == 120


def test_check_fails_a_recording_that_starts_silent(silence_first: Path) -> None:
    result = replicas("check", str(silence_first))

    assert result.returncode == 1
    assert "FAIL  talk_then_silence" in result.stdout
    assert "FAIL  speech_at_start" in result.stdout


def test_check_fails_a_second_person_with_when_and_the_tavus_error(
    two_people_clip: Path,
) -> None:
    # Header and sound as Tavus asks; a second person in view for the whole recording
    # (a key frame every 2 s, as phones write them: the moments are 2 s apart).
    crowded = two_people_clip

    result = replicas("--json", "check", str(crowded))

    assert result.returncode == 1, result.stderr
    [report] = json.loads(result.stdout)["reports"]
    failed = {f["check"]: f for f in report["findings"] if f["verdict"] == "fail"}
    assert set(failed) == {"second_face"}
    assert failed["second_face"]["prevents"] == "second_person"
    assert failed["second_face"]["at_seconds"] == [0.0, 2.0, 4.0, 6.0, 8.0]
    text = replicas("check", str(crowded)).stdout
    assert "FAIL  second_face" in text
    assert "[Tavus: second_person]" in text


def test_check_of_a_missing_file_is_a_usage_error() -> None:
    result = replicas("check", "no-such-video.mp4")

    assert result.returncode == 2
    assert "file not found: no-such-video.mp4" in result.stderr


def test_submit_refuses_what_fails_the_check_and_uploads_nothing(
    edges: Edges, stack: dict[str, str], silence_first: Path
) -> None:
    key_name = f"{edges.run}-refused"

    refused = replicas(
        "--state-dir", stack["state_dir"], "submit", str(silence_first), "--key-name", key_name
    )

    assert refused.returncode == 1
    assert "the pre-flight check failed, so nothing was uploaded" in refused.stderr
    assert "talk_then_silence" in refused.stderr
    listing = edges.s3.list_objects_v2(Bucket=stack["bucket"], Prefix=f"uploads/{key_name}")
    assert listing.get("KeyCount", 0) == 0

    forced = replicas(
        "--state-dir",
        stack["state_dir"],
        "--json",
        "submit",
        str(silence_first),
        "--key-name",
        key_name,
        "--force",
    )

    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["keys"] == [f"uploads/{key_name}.mp4"]


def test_the_console_command_serves_the_page_and_proxies_the_api(stack: dict[str, str]) -> None:
    command = [REPLICAS, "--state-dir", stack["state_dir"], "console", "--no-open"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT) as console:
        try:
            assert console.stdout is not None
            line = console.stdout.readline()
            url = line.split(" is at ", 1)[1].split()[0]
            assert url.startswith("http://127.0.0.1:")
            page = requests.get(url, timeout=10)
            listing = requests.get(
                f"{url}/api/replicas", headers={"X-Replicas-Console": "1"}, timeout=30
            )
            assert page.status_code == 200
            assert "text/html" in page.headers["Content-Type"]
            assert listing.status_code == 200
            assert "items" in listing.json()
        finally:
            console.send_signal(signal.SIGINT)
            assert console.wait(timeout=10) == 0
