"""Context becomes one validated StackSettings; a bad value names its key."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.functions import log_retention
from infra.settings import LOG_RETENTION_DAYS, SETTING_KEYS, SettingsError, StackSettings

CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


def test_cdk_json_lists_and_documents_every_setting_at_its_default() -> None:
    context = cdk_json_context()
    assert set(context) >= SETTING_KEYS
    defaults = StackSettings()
    for key in SETTING_KEYS:
        assert context[key] == getattr(defaults, key), key
        assert any(re.search(rf"\b{key}\b", line) for line in context["//"]), key
    assert StackSettings.from_context(context) == defaults


def test_empty_context_means_the_defaults() -> None:
    assert StackSettings.from_context({}) == StackSettings()


def test_command_line_strings_are_parsed() -> None:
    settings = StackSettings.from_context(
        {
            "presign_hours": "72",
            "bucket_kms": "true",
            "upload_expiry_days": "30",
            "alarm_email": "ops@example.com",
            "event_bus": "default",
            "removal_policy": "destroy",
            "tavus_api_url": "https://tavus.example/",
            "tavus_api_vocabulary": "faces",
            "deep_check": "true",
        }
    )
    assert settings.presign_hours == 72
    assert settings.bucket_kms is True
    assert settings.upload_expiry_days == 30
    assert settings.alarm_email == "ops@example.com"
    assert settings.uses_default_event_bus
    assert not settings.retain
    assert settings.tavus_api_url == "https://tavus.example"
    assert settings.tavus_api_vocabulary == "faces"
    assert settings.deep_check is True


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"presign_hours": 12}, "presign_hours"),
        ({"presign_hours": 200}, "presign_hours"),
        ({"ingest_max_concurrency": 1}, "ingest_max_concurrency"),
        ({"dlq_max_receive_count": "many"}, "dlq_max_receive_count"),
        ({"removal_policy": "keep"}, "removal_policy"),
        ({"bucket_kms": "yes"}, "bucket_kms"),
        ({"deep_check": "on"}, "deep_check"),
        ({"deep_check": 1}, "deep_check"),
        ({"log_retention_days": 31}, "log_retention_days"),
        ({"alarm_email": "not-an-address"}, "alarm_email"),
        ({"event_bus": "mine"}, "event_bus"),
        ({"tavus_api_url": "http://tavusapi.com"}, "tavus_api_url"),
        ({"tavus_api_vocabulary": "avatars"}, "tavus_api_vocabulary"),
        ({"stage": "Prod"}, "stage"),
        ({"callback_rate_limit": True}, "callback_rate_limit"),
        ({"presign_hour": 72}, "presign_hour"),
    ],
)
def test_bad_values_fail_naming_the_context_key(context: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError, match=rf"\b{named}\b"):
        StackSettings.from_context(context)


def test_a_mistyped_key_gets_a_suggestion() -> None:
    with pytest.raises(SettingsError, match="did you mean 'presign_hours'"):
        StackSettings.from_context({"presign_hour": 72})


def test_cdk_own_context_keys_are_not_mistaken_for_settings() -> None:
    settings = StackSettings.from_context({"@aws-cdk/core:checkSecretUsage": True, "aws:cdk:x": 1})
    assert settings == StackSettings.from_context({})


def test_every_allowed_retention_maps_to_a_cloudwatch_value() -> None:
    for days in LOG_RETENTION_DAYS:
        assert log_retention(days).name != "INFINITE"
