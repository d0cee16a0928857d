"""The CLI finds its stack: the local one from an option, the environment or the folder
it runs in; a deployed one from CDK's outputs file or its CloudFormation outputs."""

from __future__ import annotations

import json
import os
import subprocess
from importlib.metadata import version
from pathlib import Path

import boto3
import pytest

from replica_pipeline_local.cli.main import build_parser, main
from replica_pipeline_local.cli.stack_files import LOCAL_STATE_ENV, OUTPUTS_FILE_ENV
from replica_pipeline_local.cli.targets import TargetError, resolve_target

ROOT = Path(__file__).resolve().parents[2]

# The output keys the CDK stack declares (tests/infra checks the stack declares them).
OUTPUTS = {
    "UploadsBucketName": "replica-uploads-123",
    "UploadPrefix": "uploads/",
    "ReplicasTableName": "replicas-abc",
    "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/",
    "IngestQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/ingest",
    "IngestDlqUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/ingest-dlq",
}


def deploy_fake_stack(name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_a_deployed_stack_is_found_by_name(aws: str, tmp_path: Path) -> None:
    deploy_fake_stack("ReplicaPipeline-prod", OUTPUTS)

    target = resolve_target("ReplicaPipeline-prod", environ=NO_ENVIRONMENT, cwd=tmp_path)

    assert (target.bucket, target.table, target.upload_prefix) == (
        "replica-uploads-123",
        "replicas-abc",
        "uploads/",
    )
    assert target.api_url == OUTPUTS["ApiUrl"]
    assert (target.queue_url, target.dlq_url) == (
        OUTPUTS["IngestQueueUrl"],
        OUTPUTS["IngestDlqUrl"],
    )
    assert not target.is_local


def test_a_stack_that_is_not_ours_says_so(aws: str, tmp_path: Path) -> None:
    deploy_fake_stack("SomethingElse", {"Foo": "bar"})

    with pytest.raises(TargetError, match="is it a replica-pipeline stack"):
        resolve_target("SomethingElse", environ=NO_ENVIRONMENT, cwd=tmp_path)


def test_no_stack_at_all_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="make up"):
        resolve_target(None, local_state=tmp_path, environ=NO_ENVIRONMENT, cwd=tmp_path)


# -- working outside the repository: where the CLI finds a stack -------------

NO_ENVIRONMENT: dict[str, str] = {}


def write_local_stack(state_dir: Path, bucket: str) -> Path:
    """A local stack's description, as `make up` writes it (only the bucket differs)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    description = {
        "aws_endpoint_url": "http://127.0.0.1:1",
        "region": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
        "bucket": bucket,
        "upload_prefix": "uploads/",
        "table": "replicas",
        "api_url": "http://127.0.0.1:2",
        "queue_url": "http://127.0.0.1:1/queue/ingest",
        "dlq_url": "http://127.0.0.1:1/queue/ingest-dlq",
    }
    (state_dir / "stack.json").write_text(json.dumps(description))
    return state_dir


@pytest.fixture
def three_local_stacks(tmp_path: Path) -> dict[str, Path]:
    """A stack named by option, one by environment, one in a project folder's .local/."""
    project = tmp_path / "project"
    write_local_stack(project / ".local", "from-cwd")
    (project / "videos" / "today").mkdir(parents=True)
    return {
        "option": write_local_stack(tmp_path / "option-state", "from-option"),
        "env": write_local_stack(tmp_path / "env-state", "from-env"),
        "cwd": project / "videos" / "today",
    }


def test_the_option_wins_over_the_environment_and_the_folder(
    three_local_stacks: dict[str, Path],
) -> None:
    target = resolve_target(
        "local",
        local_state=three_local_stacks["option"],
        environ={LOCAL_STATE_ENV: str(three_local_stacks["env"])},
        cwd=three_local_stacks["cwd"],
    )

    assert target.bucket == "from-option"
    assert target.is_local


def test_the_environment_wins_over_the_folder(three_local_stacks: dict[str, Path]) -> None:
    target = resolve_target(
        None,
        environ={LOCAL_STATE_ENV: str(three_local_stacks["env"])},
        cwd=three_local_stacks["cwd"],
    )

    assert target.bucket == "from-env"


def test_without_option_or_environment_the_nearest_dot_local_is_used(
    three_local_stacks: dict[str, Path],
) -> None:
    # Run from a subfolder of the project, as git finds .git from one.
    target = resolve_target(None, environ=NO_ENVIRONMENT, cwd=three_local_stacks["cwd"])

    assert target.bucket == "from-cwd"


def test_the_option_may_name_stack_json_itself(tmp_path: Path) -> None:
    state = write_local_stack(tmp_path / "state", "named-file")

    target = resolve_target(
        "local", local_state=state / "stack.json", environ=NO_ENVIRONMENT, cwd=tmp_path
    )

    assert target.bucket == "named-file"


def test_a_named_folder_without_a_stack_is_an_error_not_a_fallback(
    three_local_stacks: dict[str, Path], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    with pytest.raises(TargetError, match=f"no local stack in {empty} .\\${LOCAL_STATE_ENV}"):
        resolve_target(
            "local", environ={LOCAL_STATE_ENV: str(empty)}, cwd=three_local_stacks["cwd"]
        )


def test_no_local_stack_anywhere_names_every_place_it_looked(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as raised:
        resolve_target("local", environ=NO_ENVIRONMENT, cwd=tmp_path)

    message = str(raised.value)
    for place in ("--local-state DIR", LOCAL_STATE_ENV, ".local/stack.json", str(tmp_path)):
        assert place in message


def test_the_cli_reports_a_missing_stack_in_one_line_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LOCAL_STATE_ENV, str(tmp_path / "nowhere"))

    code = main(["--stack", "local", "list"])

    assert code == 1
    assert f"${LOCAL_STATE_ENV}" in capsys.readouterr().err


def test_the_old_state_dir_option_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOCAL_STATE_ENV, raising=False)
    state = write_local_stack(tmp_path / "state", "old-name")

    args = build_parser().parse_args(["--state-dir", str(state), "list"])

    assert args.local_state == state


# -- deployed stacks from `cdk deploy --outputs-file` ------------------------


def write_outputs_file(path: Path, stacks: dict[str, dict[str, str]]) -> Path:
    """What `cdk deploy --outputs-file` writes: stack name -> output id -> value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stacks, indent=2))
    return path


def test_a_stack_in_the_outputs_file_is_read_without_cloudformation(
    aws: str, tmp_path: Path
) -> None:
    # moto has no stack at all: asking CloudFormation would fail.
    outputs = write_outputs_file(tmp_path / "out.json", {"ReplicaPipeline-prod": OUTPUTS})

    target = resolve_target(
        "ReplicaPipeline-prod", outputs_file=outputs, environ=NO_ENVIRONMENT, cwd=tmp_path
    )

    assert (target.bucket, target.table, target.upload_prefix) == (
        "replica-uploads-123",
        "replicas-abc",
        "uploads/",
    )
    assert (target.api_url, target.queue_url, target.dlq_url) == (
        OUTPUTS["ApiUrl"],
        OUTPUTS["IngestQueueUrl"],
        OUTPUTS["IngestDlqUrl"],
    )
    # The stack's region, read from its URLs, not the user's configured us-east-1.
    assert target.region == "eu-west-1"
    assert not target.is_local


def test_the_outputs_file_is_found_from_the_environment_and_from_the_folder(
    tmp_path: Path,
) -> None:
    from_env = write_outputs_file(tmp_path / "elsewhere.json", {"Env": OUTPUTS})
    project = tmp_path / "project"
    write_outputs_file(project / "cdk-outputs.json", {"Cwd": OUTPUTS})
    (project / "sub").mkdir()

    by_env = resolve_target("Env", environ={OUTPUTS_FILE_ENV: str(from_env)}, cwd=project / "sub")
    by_cwd = resolve_target("Cwd", environ=NO_ENVIRONMENT, cwd=project / "sub")

    assert (by_env.name, by_cwd.name) == ("Env", "Cwd")


def test_a_region_output_wins_over_the_urls(tmp_path: Path) -> None:
    outputs = write_outputs_file(
        tmp_path / "cdk-outputs.json", {"Prod": {**OUTPUTS, "Region": "ap-south-1"}}
    )

    target = resolve_target("Prod", outputs_file=outputs, environ=NO_ENVIRONMENT, cwd=tmp_path)

    assert target.region == "ap-south-1"


def test_outputs_are_matched_by_their_exact_ids(tmp_path: Path) -> None:
    # Another output ending in BucketName (say, of the access logs) must not be taken.
    outputs = write_outputs_file(
        tmp_path / "cdk-outputs.json",
        {"Prod": {"AccessLogsBucketName": "logs-bucket", **OUTPUTS}},
    )

    target = resolve_target("Prod", outputs_file=outputs, environ=NO_ENVIRONMENT, cwd=tmp_path)

    assert target.bucket == "replica-uploads-123"


def test_a_stack_missing_from_a_found_outputs_file_is_read_from_cloudformation(
    aws: str, tmp_path: Path
) -> None:
    deploy_fake_stack("ReplicaPipeline-prod", OUTPUTS)
    write_outputs_file(tmp_path / "cdk-outputs.json", {"ReplicaPipeline-dev": OUTPUTS})

    target = resolve_target("ReplicaPipeline-prod", environ=NO_ENVIRONMENT, cwd=tmp_path)

    assert target.name == "ReplicaPipeline-prod"
    assert target.bucket == "replica-uploads-123"


def test_a_stack_missing_from_a_named_outputs_file_says_which_stacks_it_has(
    tmp_path: Path,
) -> None:
    outputs = write_outputs_file(tmp_path / "out.json", {"ReplicaPipeline-dev": OUTPUTS})

    with pytest.raises(TargetError, match="has no stack 'Prod'; it has: ReplicaPipeline-dev"):
        resolve_target("Prod", outputs_file=outputs, environ=NO_ENVIRONMENT, cwd=tmp_path)


def test_with_no_stack_at_all_the_error_names_the_deployed_stacks_it_knows(
    tmp_path: Path,
) -> None:
    write_outputs_file(tmp_path / "cdk-outputs.json", {"ReplicaPipeline-dev": OUTPUTS})

    with pytest.raises(TargetError, match=r"--stack NAME .* names ReplicaPipeline-dev"):
        resolve_target(None, environ=NO_ENVIRONMENT, cwd=tmp_path)


# -- --version and shell completion -------------------------------------------


def test_version_prints_the_installed_distribution_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"replicas {version('replica-pipeline')}"


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_completion_prints_a_script_that_knows_the_commands(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["completion", shell])

    script = capsys.readouterr().out
    assert code == 0
    for word in ("replicas", "submit", "--local-state", "--outputs-file"):
        assert word in script, word


def test_the_bash_completion_script_loads_in_bash(capsys: pytest.CaptureFixture[str]) -> None:
    main(["completion", "bash"])
    script = capsys.readouterr().out

    loaded = subprocess.run(
        ["bash", "--norc", "-c", 'eval "$SCRIPT" && complete -p replicas'],
        env={"SCRIPT": script, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
    )

    assert loaded.returncode == 0, loaded.stderr
    assert "replicas" in loaded.stdout


def test_the_cli_names_the_modules_of_its_extra_to_explain_a_missing_one() -> None:
    # A `pipx install .` without [cli] lacks these; the CLI then says to add the extra.
    import tomllib

    from replica_pipeline_local.cli.main import CLI_EXTRA_MODULES

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    # The cli extra includes others of ours (replica-pipeline[deep-check]): expand them.
    requirements, distributions = list(extras["cli"]), set()
    while requirements:
        name = requirements.pop().split("==")[0]
        if name.startswith("replica-pipeline["):
            requirements += extras[name.removeprefix("replica-pipeline[").rstrip("]")]
        else:
            distributions.add(name)

    import_names = {"opencv-python-headless": "cv2"}  # the rest import by their own name
    assert {import_names.get(name, name) for name in distributions} == CLI_EXTRA_MODULES
