"""The local stack's defaults from cdk.json: the same settings the CDK app deploys with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replica_pipeline_local.stack.lifecycle import (
    StackOptionError,
    cdk_deep_check,
    cdk_ingest_concurrency,
)


def cdk_json(tmp_path: Path, **context: object) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"app": "python app.py", "context": context}))
    return path


def test_the_repository_cdk_json_gives_the_stack_its_defaults() -> None:
    assert cdk_ingest_concurrency() >= 2
    assert cdk_deep_check() is False


def test_deep_check_is_off_when_cdk_json_does_not_name_it(tmp_path: Path) -> None:
    assert cdk_deep_check(cdk_json(tmp_path, ingest_max_concurrency=5)) is False
    assert cdk_deep_check(cdk_json(tmp_path, deep_check=True)) is True


def test_a_deep_check_that_is_not_true_or_false_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackOptionError, match="must be true or false, not 'yes'"):
        cdk_deep_check(cdk_json(tmp_path, deep_check="yes"))


def test_an_unreadable_cdk_json_says_how_to_do_without_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    with pytest.raises(StackOptionError, match="pass --deep-check or --no-deep-check"):
        cdk_deep_check(missing)
    with pytest.raises(StackOptionError, match="pass --ingest-concurrency N"):
        cdk_ingest_concurrency(missing)
    with pytest.raises(StackOptionError, match="cannot read ingest_max_concurrency"):
        cdk_ingest_concurrency(cdk_json(tmp_path, deep_check=True))
