"""The typed settings: defaults, conversion, every range check and its one-line message.

Pure: no server, no process; files only in ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from mock_server import SettingError, Settings, create_app
from mock_server.config import MAX_SECONDS, env_name, flag_name, key_name, setting_names
from mock_server.http.app import settings_of

SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="


def recording(tmp_path: Path) -> Path:
    """A recording with one ended prediction (2 s starting, 5 s running)."""
    body = {
        "status": "succeeded",
        "metrics": {"predict_time": 5.0, "total_time": 7.0},
        "logs": "one\ntwo\n",
    }
    path = tmp_path / "exchanges-live.json"
    path.write_text(json.dumps([{"body": body}]), encoding="utf-8")
    return path


def test_the_defaults() -> None:
    settings = Settings()
    assert (settings.host, settings.port, settings.threads, settings.workers) == (
        "127.0.0.1",
        8000,
        1024,
        1,
    )
    assert (settings.starting_seconds, settings.processing_seconds) == (1.0, 3.0)
    assert (settings.retention_seconds, settings.record_ttl_seconds) == (3600.0, 86400.0)
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.webhook_allowed_hosts == {"localhost", "127.0.0.1", "::1"}
    assert (settings.token, settings.webhook_secret, settings.redis_url) == (None, None, None)
    assert settings.redis_prefix == "imagen-mock:"
    # Where the evidence is thin: the best-supported behaviour by default (see the README).
    assert (settings.accept_any_token, settings.enforce_rate_limits) == (False, False)
    assert (settings.wait_timeout_status, settings.location_header) == (201, False)
    assert settings.metrics_total_time is False


def test_settings_are_frozen_and_slotted() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    assert not hasattr(settings, "__dict__")


def test_every_setting_has_help_and_names() -> None:
    names = [name for name, _, _ in setting_names()]
    assert names == [item.name for item in dataclasses.fields(Settings)]
    assert all(help_text for _, _, help_text in setting_names())
    assert (flag_name("max_body_bytes"), env_name("max_body_bytes")) == (
        "--max-body-bytes",
        "IMAGEN_MOCK_MAX_BODY_BYTES",
    )
    assert key_name("max_body_bytes") == "MOCK_MAX_BODY_BYTES"


# --- each bad value: one exception, one line naming the option, the rule and the value ----

BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"port": 0}, "--port", "must be from 1 to 65535"),
    ({"port": 99999}, "--port", "must be from 1 to 65535"),
    ({"threads": 0}, "--threads", "must be from 1 to 65536"),
    ({"threads": 10**20}, "--threads", "must be from 1 to 65536"),
    ({"workers": 0}, "--workers", "must be from 1 to 256"),
    ({"workers": 100000, "redis_url": "redis://localhost"}, "--workers", "must be from 1 to 256"),
    ({"workers": 2}, "--workers", "needs --data-dir or --redis-url"),
    ({"data_dir": Path("/tmp"), "redis_url": "redis://localhost"}, "--data-dir", "choose one"),
    ({"data_dir": Path("/etc/hostname")}, "--data-dir", "must be a directory"),
    ({"drain_seconds": 0.0}, "--drain-seconds", "must be above 0"),
    ({"drain_seconds": 301.0}, "--drain-seconds", "must be above 0 and at most 300"),
    ({"starting_seconds": -1.0}, "--starting-seconds", "must be from 0 to 31536000"),
    ({"processing_seconds": -0.5}, "--processing-seconds", "must be from 0 to 31536000"),
    ({"processing_seconds": float("nan")}, "--processing-seconds", "must be from 0"),
    ({"starting_seconds": MAX_SECONDS + 1}, "--starting-seconds", "to 31536000"),
    ({"retention_seconds": -1.0}, "--retention-seconds", "must be from 0"),
    ({"record_ttl_seconds": 0.0}, "--record-ttl-seconds", "must be above 0"),
    ({"max_body_bytes": -5}, "--max-body-bytes", "must be at least 1"),
    ({"max_body_bytes": 0}, "--max-body-bytes", "must be at least 1"),
    ({"trusted_proxies": -1}, "--trusted-proxies", "must be at least 0"),
    ({"webhook_max_attempts": 0}, "--webhook-max-attempts", "must be at least 1"),
    ({"webhook_backoff_seconds": 0.0}, "--webhook-backoff-seconds", "must be above 0"),
    ({"webhook_max_backoff_seconds": 0.0}, "--webhook-max-backoff-seconds", "above 0"),
    ({"webhook_timeout_seconds": -1.0}, "--webhook-timeout-seconds", "must be above 0"),
    ({"webhook_log_limit": 0}, "--webhook-log-limit", "must be at least 1"),
    ({"faults": "429:2"}, "--faults", "must be a KIND:RATE,... list"),
    ({"faults": "teapot:0.1"}, "--faults", "must be a KIND:RATE,... list"),
    ({"faults": "429:0.7,503:0.7"}, "--faults", "add up to more than 1"),
    ({"webhook_secret": "whsec_not base64"}, "--webhook-secret", "must be a webhook secret"),
    ({"webhook_secret": "secret"}, "--webhook-secret", "must be a webhook secret"),
    ({"recording": Path("/no/such/recording.json")}, "--recording", "must be a readable"),
    ({"ca_file": Path("/tmp/ca.pem")}, "--ca-file", "needs --tls"),
    ({"tls": True, "ca_file": Path("/no/such/dir/ca.pem")}, "--ca-file", "existing directory"),
    ({"host": " "}, "--host", "must not be empty"),
    ({"token": ""}, "--token", "must not be empty"),
    ({"redis_url": "http://localhost:6379"}, "--redis-url", "must be a redis://"),
    ({"redis_prefix": ""}, "--redis-prefix", "must not be empty"),
    ({"wait_timeout_status": 200}, "--wait-timeout-status", "must be 201 or 202"),
    ({"accept_any_token": True, "token": "r8_x"}, "--accept-any-token", "cannot be used with"),
]


@pytest.mark.parametrize(("values", "option", "rule"), BAD)
def test_a_bad_value_is_refused_in_one_line(values: dict[str, Any], option: str, rule: str) -> None:
    with pytest.raises(SettingError) as refused:
        Settings(**values)
    message = str(refused.value)
    assert message.startswith(f"{option} ")
    assert rule in message
    assert "\n" not in message
    assert refused.value.option == option
    shown = values[refused.value.name]
    if refused.value.name in {"token", "webhook_secret"}:
        assert message.endswith("(got <hidden>)")
    else:
        assert message.endswith(f"(got {str(shown) if isinstance(shown, Path) else shown!r})")


def test_the_limits_themselves_are_accepted(tmp_path: Path) -> None:
    settings = Settings(
        port=65535,
        threads=1,
        starting_seconds=0,
        processing_seconds=MAX_SECONDS,
        retention_seconds=0,
        max_body_bytes=1,
        faults="429:0.5,503:0.5",
        tls=True,
        ca_file=tmp_path / "ca.pem",
        workers=2,
        redis_url="redis://127.0.0.1:6379/0",
        recording=recording(tmp_path),
        webhook_secret=SECRET,
    )
    assert (settings.port, settings.workers) == (65535, 2)
    assert Settings(port=1).port == 1


def test_a_file_that_is_not_a_recording_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    with pytest.raises(SettingError, match=r"^--recording must be a recording of a live run"):
        Settings(recording=empty)


def test_the_secret_is_never_shown() -> None:
    with pytest.raises(SettingError) as refused:
        Settings(webhook_secret="whsec_my private words")
    assert "private" not in str(refused.value)
    assert "(got <hidden>)" in str(refused.value)
    assert "private" not in repr(Settings(webhook_secret=SECRET, token="r8_private"))


# --- from text, as the command line, variables and create_app give them ------------------


def test_text_values_are_converted() -> None:
    settings = Settings.from_mapping(
        {
            "port": "9000",
            "starting_seconds": "0.25",
            "tls": "yes",
            "access_log": "0",
            "ca_file": "",
            "webhook_allowed_hosts": " Receiver.test , [::1],",
            "seed": None,
            "wait_timeout_status": "202",
            "enforce_rate_limits": "on",
        }
    )
    assert (settings.wait_timeout_status, settings.enforce_rate_limits) == (202, True)
    assert (settings.port, settings.starting_seconds) == (9000, 0.25)
    assert (settings.tls, settings.access_log, settings.ca_file) == (True, False, None)
    assert settings.webhook_allowed_hosts == {"receiver.test", "::1"}
    assert settings.seed is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"port": "eighty"}, "--port must be a whole number (got 'eighty')"),
        ({"port": 80.5}, "--port must be a whole number (got 80.5)"),
        ({"port": True}, "--port must be a whole number (got True)"),
        ({"starting_seconds": "soon"}, "--starting-seconds must be a number of seconds"),
        ({"tls": "maybe"}, "--tls must be one of 1/true/yes/on or 0/false/no/off"),
        ({"bogus": 1}, "--bogus is not a setting (got 1)"),
    ],
)
def test_text_that_does_not_convert_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingError) as refused:
        Settings.from_mapping(values)
    assert str(refused.value).startswith(message)


def test_the_option_is_named_as_the_caller_spells_it() -> None:
    with pytest.raises(SettingError) as refused:
        Settings.from_mapping({"port": "0"}, option=lambda name: f"IMAGEN_MOCK_{name.upper()}")
    assert str(refused.value) == "IMAGEN_MOCK_PORT must be from 1 to 65535 (got 0)"
    with pytest.raises(SettingError) as crossed:
        Settings.from_mapping({"workers": 3}, option=key_name)
    assert str(crossed.value).startswith("MOCK_WORKERS above 1 needs --data-dir or --redis-url")


def test_json_round_trip(tmp_path: Path) -> None:
    settings = Settings(
        token="r8_x",
        recording=recording(tmp_path),
        webhook_allowed_hosts=frozenset({"a.test", "*"}),
        webhook_secret=SECRET,
        seed=7,
        faults="429:0.1",
        tls=True,
        ca_file=tmp_path / "ca.pem",
    )
    assert Settings.from_json(settings.to_json()) == settings
    assert Settings.from_json(Settings().to_json()) == Settings()


def test_json_is_checked_again() -> None:
    text = Settings().to_json().replace('"port": 8000', '"port": 70000')
    with pytest.raises(SettingError, match=r"^--port must be from 1 to 65535"):
        Settings.from_json(text)
    with pytest.raises(ValueError, match="JSON object"):
        Settings.from_json("[1]")


def test_webhook_settings_come_from_the_settings() -> None:
    settings = Settings(webhook_max_attempts=2, webhook_backoff_seconds=0.1).webhooks(
        background=False
    )
    assert (settings.max_attempts, settings.backoff_seconds, settings.background) == (2, 0.1, False)
    assert settings.max_backoff_seconds == Settings().webhook_max_backoff_seconds


# --- create_app: a Settings, or MOCK_* keys checked the same way -------------------------


def test_create_app_takes_settings() -> None:
    settings = Settings(token="r8_only", max_body_bytes=10)
    app = create_app(settings)
    assert settings_of(app) is settings
    assert app.config["MAX_CONTENT_LENGTH"] == 10


def test_create_app_translates_mock_keys() -> None:
    app = create_app(
        {"TESTING": True, "MOCK_STARTING_SECONDS": "2", "MAX_CONTENT_LENGTH": 99, "MOCK_SEED": 4}
    )
    settings = settings_of(app)
    assert (settings.starting_seconds, settings.max_body_bytes, settings.seed) == (2.0, 99, 4)
    assert app.testing


def test_create_app_keys_change_given_settings() -> None:
    app = create_app({"MOCK_SETTINGS": Settings(token="r8_a", port=9001), "MOCK_TOKEN": "r8_b"})
    assert (settings_of(app).token, settings_of(app).port) == ("r8_b", 9001)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"MOCK_STARTING_SECONDS": -1}, "MOCK_STARTING_SECONDS must be from 0 to 31536000"),
        ({"MAX_CONTENT_LENGTH": -5}, "MAX_CONTENT_LENGTH must be at least 1"),
        ({"MOCK_PORT": 99999}, "MOCK_PORT must be from 1 to 65535"),
        ({"MOCK_WEBHOOK_SECRET": "nope"}, "MOCK_WEBHOOK_SECRET must be a webhook secret"),
        ({"MOCK_STARTNG_SECONDS": 1}, "MOCK_STARTNG_SECONDS is not a setting"),
    ],
)
def test_create_app_refuses_bad_keys(config: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingError) as refused:
        create_app(config)
    assert str(refused.value).startswith(message)
