"""Settings: read once, validated, and every problem names the setting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from replica_pipeline import config
from replica_pipeline.config import TAVUS_API_VOCABULARY, ConfigError, Settings

REQUIRED = {
    config.TABLE_NAME: "replicas",
    config.CALLBACK_BASE_URL: "https://example.com/callbacks/tavus",
    config.TAVUS_API_KEY_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:1:secret:k",
    config.CALLBACK_HMAC_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:1:secret:h",
    config.SIGNER_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:1:secret:s",
}


def test_defaults_are_sensible() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.presign_lifetime == timedelta(hours=48)
    assert settings.upload_prefix == "uploads/"
    assert settings.limits.min_duration_seconds == 60
    assert settings.limits.min_resolution == 1080
    assert settings.tavus.api_url == "https://tavusapi.com"


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_setting_is_named(missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize("hours", ["23", "169", "0"])
def test_presign_lifetime_outside_24h_to_7_days_is_a_startup_error(hours: str) -> None:
    with pytest.raises(ConfigError, match=config.PRESIGN_HOURS):
        Settings.from_env({**REQUIRED, config.PRESIGN_HOURS: hours})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (config.MIN_DURATION_SECONDS, "ninety"),
        (config.TAVUS_API_URL, "ftp://tavus"),
        (config.CALLBACK_BASE_URL, "not a url"),
        (config.UPLOAD_PREFIX, "uploads"),
        (config.TAVUS_MAX_RETRIES, "-1"),
        (config.MIN_DURATION_BY_MODEL, "phoenix-4:30"),
        (config.MIN_DURATION_BY_MODEL, "phoenix-4=-1"),
        (config.ACCEPTED_CONTAINERS, "mp4,webm"),
        (config.ACCEPTED_CONTAINERS, " , "),
    ],
)
def test_malformed_settings_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**REQUIRED, name: value})


def test_the_duration_floor_follows_the_model_and_is_configurable() -> None:
    limits = Settings.from_env(REQUIRED).limits
    assert [limits.min_duration_for(model) for model in ("phoenix-3", "PHOENIX-4", None)] == [
        60,
        30,
        60,
    ]
    assert limits.min_duration_for("phoenix-9") == 60  # a model we do not know: the default

    tuned = Settings.from_env(
        {**REQUIRED, config.MIN_DURATION_BY_MODEL: "phoenix-4=45, phoenix-5=20"}
    ).limits
    assert [tuned.min_duration_for(model) for model in ("phoenix-3", "phoenix-4", "phoenix-5")] == [
        60,
        45,
        20,
    ]
    assert limits.for_consent_video().min_duration_for("phoenix-3") == 0


def test_the_accepted_containers_are_a_setting() -> None:
    assert Settings.from_env(REQUIRED).limits.containers == (".mp4", ".webm")
    accepting_mov = Settings.from_env({**REQUIRED, config.ACCEPTED_CONTAINERS: ".MP4, .mov"})
    assert accepting_mov.limits.containers == (".mp4", ".mov")


# -- the Tavus vocabulary (Tavus renamed replicas to faces) --------------------


def test_the_client_speaks_replicas_unless_told_otherwise() -> None:
    assert Settings.from_env(REQUIRED).tavus.vocabulary == "replicas"
    assert Settings.from_env({**REQUIRED, TAVUS_API_VOCABULARY: "Faces"}).tavus.vocabulary == (
        "faces"
    )


def test_an_unknown_vocabulary_fails_the_cold_start_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=f"{TAVUS_API_VOCABULARY}='avatars' must be one of"):
        Settings.from_env({**REQUIRED, TAVUS_API_VOCABULARY: "avatars"})
