"""The deep check (the deep_check setting): its queue and function when on, nothing when off,
and its own code asset, which fits Lambda's size limit and still has what the check loads.

Synthesized with deep_check=true as part of the alternative context (conftest.py), so it
costs no synthesis of its own; the default synthesis shows the setting off.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.bundling import (
    DEEP_CHECK_LOCK,
    DEEP_CHECK_TRIM,
    DEEP_CHECK_WHEEL_PLATFORMS,
    FACE_CASCADE,
    LAMBDA_UNZIPPED_LIMIT_BYTES,
    BundleTrim,
    asset_hash,
    deep_check_bundler,
    distribution_name,
    locked_versions,
)
from infra.settings import UPLOAD_PREFIX
from replica_pipeline.config import (
    DEEP_CHECK_EPHEMERAL_MB,
    DEEP_CHECK_MEMORY_MB,
    DEEP_CHECK_QUEUE_URL,
    DEEP_CHECK_TIMEOUT_SECONDS,
    INGEST_QUEUE_URL,
)
from tests.infra.cfn import Statement, function_role, role_statements
from tests.infra.conftest import ALTERNATIVE_CONTEXT, Synthesized
from tests.infra.test_code_asset import AARCH64
from tests.infra.test_powertools import link_runtime_modules, run_in_a_bare_interpreter
from tests.infra.test_stack import LOGS, NO_CONDITION, SQS_CONSUME, TABLE_WRITES, XRAY

HANDLER = "replica_pipeline.handlers.deep_check.handler"
INGEST_HANDLER = "replica_pipeline.handlers.ingest.handler"
DEEP_CHECK_OUTPUTS = {"DeepCheckQueueUrl", "DeepCheckDlqUrl"}
# What the check imports on Lambda: the handler, the pre-flight and the three libraries.
DEEP_CHECK_MODULES = (
    "replica_pipeline.handlers.deep_check",
    "replica_pipeline.services.deep_check",
    "replica_pipeline.preflight.check",
    "replica_pipeline.preflight.decoding",
    "replica_pipeline.preflight.faces",
    "replica_pipeline.preflight.pictures",
    "replica_pipeline.preflight.signals",
    "av",
    "numpy",
    "cv2",
)


def function_with_handler(synth: Synthesized, handler: str) -> str | None:
    found = [
        logical_id
        for logical_id, resource in synth.of_type("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == handler
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def deep_check_function(synth: Synthesized) -> dict[str, Any]:
    logical_id = function_with_handler(synth, HANDLER)
    assert logical_id is not None, "deep_check=true makes the deep-check function"
    properties: dict[str, Any] = synth.resources[logical_id]["Properties"]
    return properties


def variables(synth: Synthesized, handler: str) -> dict[str, Any]:
    logical_id = function_with_handler(synth, handler)
    assert logical_id is not None, handler
    found: dict[str, Any] = synth.resources[logical_id]["Properties"]["Environment"]["Variables"]
    return found


def role_of(synth: Synthesized, handler: str) -> set[Statement]:
    logical_id = function_with_handler(synth, handler)
    assert logical_id is not None, handler
    return role_statements(synth.resources, function_role(synth.resources, logical_id))


def allows(statements: set[Statement], action: str, resource: str) -> bool:
    return any(action in actions and resource in resources for actions, resources, _ in statements)


def deep_check_queue_ids(synth: Synthesized) -> tuple[str, str]:
    deep_check = synth.pipeline.deep_check
    assert deep_check is not None
    return synth.logical_id(deep_check.queue), synth.logical_id(deep_check.dead_letter_queue)


def deep_check_asset(synth: Synthesized) -> Path:
    key: str = deep_check_function(synth)["Code"]["S3Key"]
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


def unzipped_size(directory: Path) -> int:
    """What Lambda counts against its limit: the bytes of every file (as ``du -sb`` of files)."""
    return sum(path.lstat().st_size for path in directory.rglob("*") if not path.is_dir())


# --- off by default -----------------------------------------------------------------------


def test_by_default_there_is_no_deep_check_and_ingest_submits_directly(
    synth: Synthesized,
) -> None:
    assert synth.pipeline.deep_check is None
    assert function_with_handler(synth, HANDLER) is None
    assert DEEP_CHECK_QUEUE_URL not in variables(synth, INGEST_HANDLER)
    assert not DEEP_CHECK_OUTPUTS & set(synth.template.to_json()["Outputs"])
    assert "DeepCheckDeadLetters" not in synth.pipeline.operations.alarms


# --- the function, its queue and its wiring -------------------------------------------------


def test_the_deep_check_runs_arm64_with_two_vcpus_2_gb_of_tmp_and_15_minutes(
    synth_alternative: Synthesized,
) -> None:
    function = deep_check_function(synth_alternative)
    assert function["Handler"] == HANDLER
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["MemorySize"] == DEEP_CHECK_MEMORY_MB == 3538
    assert function["EphemeralStorage"] == {"Size": DEEP_CHECK_EPHEMERAL_MB} == {"Size": 2048}
    assert function["Timeout"] == DEEP_CHECK_TIMEOUT_SECONDS == 900
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert "Layers" not in function


def test_the_deep_check_has_a_code_asset_no_other_function_shares(
    synth_alternative: Synthesized,
) -> None:
    deep_check = json.dumps(deep_check_function(synth_alternative)["Code"])
    others = {
        json.dumps(resource["Properties"]["Code"])
        for resource in synth_alternative.of_type("AWS::Lambda::Function").values()
        if resource["Properties"].get("Handler") != HANDLER
    }
    assert len(others) > 1  # the shared asset, and CDK's own helpers'
    assert deep_check not in others


def test_the_deep_check_takes_one_submission_at_a_time_with_partial_failures(
    synth_alternative: Synthesized,
) -> None:
    queue, _ = deep_check_queue_ids(synth_alternative)
    mappings = synth_alternative.matching(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [queue, "Arn"]},
            "FunctionName": {"Ref": function_with_handler(synth_alternative, HANDLER)},
            "BatchSize": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    assert len(mappings) == 1


def test_the_deep_check_queue_outlasts_six_timeouts_and_redrives_to_its_dlq(
    synth_alternative: Synthesized,
) -> None:
    queue_id, dlq_id = deep_check_queue_ids(synth_alternative)
    queue = synth_alternative.resources[queue_id]["Properties"]
    assert queue["VisibilityTimeout"] == 6 * DEEP_CHECK_TIMEOUT_SECONDS <= 12 * 3600
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": ALTERNATIVE_CONTEXT["dlq_max_receive_count"],
    }
    dlq = synth_alternative.resources[dlq_id]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dlq["SqsManagedSseEnabled"] is True
    for logical_id in (queue_id, dlq_id):  # TLS only
        assert synth_alternative.matching(
            "AWS::SQS::QueuePolicy",
            {"Queues": [{"Ref": logical_id}]},
        ), logical_id


def test_ingest_sends_complete_submissions_to_the_deep_check_queue(
    synth_alternative: Synthesized,
) -> None:
    queue, _ = deep_check_queue_ids(synth_alternative)
    assert variables(synth_alternative, INGEST_HANDLER)[DEEP_CHECK_QUEUE_URL] == {"Ref": queue}
    assert allows(role_of(synth_alternative, INGEST_HANDLER), "sqs:SendMessage", f"{queue}.Arn")


def test_the_deep_check_puts_checked_submissions_back_on_the_ingest_queue(
    synth_alternative: Synthesized,
) -> None:
    ingest_queue = synth_alternative.logical_id(synth_alternative.pipeline.ingest.queue)
    environment = variables(synth_alternative, HANDLER)
    assert environment[INGEST_QUEUE_URL] == {"Ref": ingest_queue}
    assert DEEP_CHECK_QUEUE_URL not in environment
    # Everything else is the environment every function shares.
    shared = variables(synth_alternative, "replica_pipeline.handlers.reconciler.handler")
    assert {k: v for k, v in environment.items() if k != INGEST_QUEUE_URL} == shared


def test_the_deep_check_role_allows_exactly_what_the_check_needs(
    synth_alternative: Synthesized,
) -> None:
    synth = synth_alternative
    pipeline = synth.pipeline
    queue, _ = deep_check_queue_ids(synth)
    bucket = synth.logical_id(pipeline.uploads.bucket)
    key = pipeline.uploads.key
    assert key is not None  # bucket_kms=true in the alternative context
    table = synth.logical_id(pipeline.replicas.table)
    ingest_queue = synth.logical_id(pipeline.ingest.queue)
    # The status store publishes as ingest's does, to whichever bus the settings name.
    (put_events,) = [
        statement
        for statement in role_of(synth, INGEST_HANDLER)
        if statement[0] == ("events:PutEvents",)
    ]
    log_group = deep_check_function(synth)["LoggingConfig"]["LogGroup"]["Ref"]
    assert role_of(synth, HANDLER) == {
        (LOGS, (f"{log_group}.Arn",), NO_CONDITION),
        (XRAY, ("*",), NO_CONDITION),
        (SQS_CONSUME, (f"{queue}.Arn",), NO_CONDITION),
        (
            ("s3:GetObject", "s3:GetObjectVersion"),
            (f"{bucket}.Arn/{UPLOAD_PREFIX}*",),
            NO_CONDITION,
        ),
        (("kms:Decrypt",), (f"{synth.logical_id(key)}.Arn",), NO_CONDITION),
        (TABLE_WRITES, (f"{table}.Arn", f"{table}.Arn/index/*"), NO_CONDITION),
        put_events,
        (("sqs:SendMessage",), (f"{ingest_queue}.Arn",), NO_CONDITION),
    }


def test_the_deep_check_can_read_no_secret(synth_alternative: Synthesized) -> None:
    statements = role_of(synth_alternative, HANDLER)
    secrets = synth_alternative.pipeline.secrets
    for secret in secrets.all_secrets:
        reference = f"Ref:{synth_alternative.logical_id(secret)}"
        assert not any(reference in resources for _, resources, _ in statements), reference
    assert not any(
        action.startswith("secretsmanager:") for actions, _, _ in statements for action in actions
    )
    tavus_key = f"Ref:{synth_alternative.logical_id(secrets.tavus_api_key)}"
    assert allows(
        role_of(synth_alternative, INGEST_HANDLER), "secretsmanager:GetSecretValue", tavus_key
    )


def test_deep_check_dead_letters_raise_an_alarm_and_both_queues_are_outputs(
    synth_alternative: Synthesized,
) -> None:
    synth = synth_alternative
    queue, dlq = deep_check_queue_ids(synth)
    operations = synth.pipeline.operations
    alarm = synth.resources[synth.logical_id(operations.alarms["DeepCheckDeadLetters"])][
        "Properties"
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
    ]
    assert alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [{"Ref": synth.logical_id(operations.topic)}]
    assert {"DeepCheckErrors", "DeepCheckThrottles"} <= set(operations.alarms)
    outputs = synth.template.to_json()["Outputs"]
    assert outputs["DeepCheckQueueUrl"]["Value"] == {"Ref": queue}
    assert outputs["DeepCheckDlqUrl"]["Value"] == {"Ref": dlq}


# --- the asset ------------------------------------------------------------------------------


def test_the_deep_check_asset_fits_lambdas_250_mb_unzipped(
    synth_alternative: Synthesized,
) -> None:
    size = unzipped_size(deep_check_asset(synth_alternative))
    assert size < LAMBDA_UNZIPPED_LIMIT_BYTES == 250 * 1024 * 1024, f"{size:,} bytes"


def test_the_deep_check_asset_keeps_the_face_detector_and_drops_the_other_cascades(
    synth_alternative: Synthesized,
) -> None:
    asset = deep_check_asset(synth_alternative)
    assert (asset / FACE_CASCADE).is_file()
    assert [path.name for path in (asset / "cv2" / "data").glob("*.xml")] == [
        Path(FACE_CASCADE).name
    ]
    assert (asset / "replica_pipeline" / "handlers" / "deep_check.py").is_file()


def test_the_deep_check_asset_holds_the_locked_video_libraries_for_arm64(
    synth_alternative: Synthesized,
) -> None:
    asset = deep_check_asset(synth_alternative)
    locked = locked_versions(DEEP_CHECK_LOCK)
    installed = dict(
        path.name.removesuffix(".dist-info").split("-") for path in asset.glob("*.dist-info")
    )
    installed = {distribution_name(name): version for name, version in installed.items()}
    for name in ("av", "numpy", "opencv-python-headless", "aws-lambda-powertools"):
        assert installed[name] == locked[name], name
    # Left out: what only URL signing needs, and numpy's test suites.
    assert not set(DEEP_CHECK_TRIM.distributions) & set(installed)
    assert not (asset / "cryptography").exists()
    assert not list((asset / "numpy").rglob("tests"))
    for package in ("av", "cv2", "numpy"):
        compiled = list((asset / package).rglob("*.so"))
        assert compiled, package
        for library in compiled:
            header = library.read_bytes()[:20]
            assert int.from_bytes(header[18:20], "little") == AARCH64, library.name


def test_the_deep_check_bundle_installs_the_lock_for_glibc_2_28_arm64(tmp_path: Path) -> None:
    command = deep_check_bundler().pip_command(str(tmp_path))
    platforms = [command[i + 1] for i, word in enumerate(command) if word == "--platform"]
    assert platforms == list(DEEP_CHECK_WHEEL_PLATFORMS)
    assert "--require-hashes" in command
    assert "--no-deps" in command
    assert command[-2:] == ["--requirement", str(DEEP_CHECK_LOCK)]


def test_what_is_trimmed_is_part_of_the_asset_hash() -> None:
    trimmed = asset_hash(DEEP_CHECK_LOCK, trim=DEEP_CHECK_TRIM)
    assert trimmed != asset_hash(DEEP_CHECK_LOCK)
    less = BundleTrim(paths=DEEP_CHECK_TRIM.paths, keep=DEEP_CHECK_TRIM.keep)
    assert asset_hash(DEEP_CHECK_LOCK, trim=less) != trimmed
    assert asset_hash(DEEP_CHECK_LOCK, trim=DEEP_CHECK_TRIM) == trimmed


def test_a_trim_removes_whole_distributions_and_globs_but_keeps_what_it_must(
    tmp_path: Path,
) -> None:
    # Given a pip --target directory with two distributions and some data
    (tmp_path / "signing").mkdir()
    (tmp_path / "signing" / "__init__.py").write_text("")
    (tmp_path / "_signing_backend.so").write_bytes(b"\x7fELF")
    dist_info = tmp_path / "signing-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "RECORD").write_text(
        "signing/__init__.py,sha256=x,0\n_signing_backend.so,sha256=y,4\n"
        "signing-1.0.dist-info/RECORD,,\n../../bin/sign,sha256=z,1\n"
    )
    (tmp_path / "video" / "data").mkdir(parents=True)
    for name in ("face.xml", "cat.xml", "eye.xml"):
        (tmp_path / "video" / "data" / name).write_text("<cascade/>")
    (tmp_path / "video" / "tests").mkdir()
    (tmp_path / "video" / "tests" / "test_video.py").write_text("")
    trim = BundleTrim(
        distributions=("signing",),
        paths=("video/data/*.xml", "video/**/tests"),
        keep=("video/data/face.xml",),
    )

    # When it is trimmed
    trim.apply(tmp_path)

    # Then only the kept file and the untouched rest remain
    remaining = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    assert remaining == ["video", "video/data", "video/data/face.xml"]
    with pytest.raises(FileNotFoundError, match=r"ghost\.xml"):
        BundleTrim(keep=("video/data/ghost.xml",)).apply(tmp_path)


@pytest.fixture(scope="module")
def deep_check_bundle_here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The deep-check bundle built from the same lock and trimmed the same way, with wheels
    for this machine (the Lambda one's compiled files cannot load here). About 330 MB, so it
    is removed afterwards."""
    directory = tmp_path_factory.mktemp("deep-check-bundle")
    asset = directory / "asset"
    assert deep_check_bundler(for_lambda=False).try_bundle(str(asset))
    link_runtime_modules(directory / "runtime")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


# Run in the trimmed bundle: import what the check imports, load the face detector, encode
# and decode a short clip, and report what got imported.
SMOKE_TEST = """
import importlib, io, json, sys
sys.path[:0] = {paths!r}
for name in {modules!r}:
    importlib.import_module(name)
import av, cv2, numpy
detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
grey = numpy.full((240, 320), 128, dtype=numpy.uint8)
faces = detector.detectMultiScale(grey)
buffer = io.BytesIO()
with av.open(buffer, "w", format="mp4") as container:
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    for index in range(10):
        picture = numpy.full((64, 64, 3), index * 20, dtype=numpy.uint8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
    container.mux(stream.encode(None))
buffer.seek(0)
with av.open(buffer) as container:
    decoded = sum(1 for _ in container.decode(video=0))
print(json.dumps({{
    "detector_loaded": not detector.empty(),
    "faces_in_grey": len(faces),
    "decoded": decoded,
    "modules": sorted(sys.modules),
    "cv2": cv2.__file__,
}}))
"""


def test_the_trimmed_bundle_imports_the_check_finds_its_face_model_and_decodes_video(
    deep_check_bundle_here: Path,
) -> None:
    # Given the trimmed bundle and boto3 as the Lambda runtime provides it
    asset, runtime = deep_check_bundle_here / "asset", deep_check_bundle_here / "runtime"
    script = SMOKE_TEST.format(paths=[str(asset), str(runtime)], modules=list(DEEP_CHECK_MODULES))

    # When a fresh interpreter with no site-packages runs the check's imports and libraries
    result = run_in_a_bare_interpreter(script)

    # Then everything loads from the bundle, and nothing it trimmed was wanted
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["detector_loaded"] is True
    assert report["faces_in_grey"] == 0
    assert report["decoded"] == 10
    assert Path(report["cv2"]).is_relative_to(asset)
    trimmed = {name.replace("-", "_") for name in DEEP_CHECK_TRIM.distributions}
    assert not trimmed & {module.partition(".")[0] for module in report["modules"]}
