"""Learning durations and logs from a recorded live run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mock_server.domain.recording import RecordedRun, RecordingError, load_recording


def write(tmp_path: Path, exchanges: object) -> Path:
    path = tmp_path / "exchanges-live.json"
    path.write_text(json.dumps(exchanges))
    return path


def prediction(**fields: object) -> dict[str, object]:
    return {
        "status": "succeeded",
        "created_at": "2025-07-30T03:28:46.805Z",
        "completed_at": "2025-07-30T03:28:55.105Z",
        "logs": "Using seed: 7\nRunning...\n\nDone\n",
        "metrics": {"predict_time": 6.3, "image_count": 1},
        **fields,
    }


def test_learns_from_the_last_ended_prediction(tmp_path: Path) -> None:
    exchanges = [
        {"probe": "create", "body": {"status": "starting", "metrics": {}}},
        {"probe": "final", "body": prediction()},
        {"probe": "get unknown", "body": {"detail": "nope", "status": 404}},
    ]
    run = load_recording(write(tmp_path, exchanges))
    assert run == RecordedRun(
        starting_seconds=2.0,
        processing_seconds=6.3,
        log_lines=("Using seed: 7", "Running...", "Done"),
    )


def test_total_time_wins_over_timestamps(tmp_path: Path) -> None:
    body = prediction(metrics={"predict_time": 3.0, "total_time": 4.5})
    assert load_recording(write(tmp_path, [{"body": body}])).starting_seconds == 1.5


@pytest.mark.parametrize(
    "content",
    ["[]", '{"a": 1}', "not json", json.dumps([{"body": {"status": "starting"}}])],
)
def test_unusable_recordings_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(RecordingError):
        load_recording(path)


def test_the_mock_replays_recorded_timings_and_logs(tmp_path: Path) -> None:
    from mock_server import FakeClock, create_app

    path = write(tmp_path, [{"body": prediction()}])
    clock = FakeClock()
    client = create_app({"MOCK_CLOCK": clock, "MOCK_RECORDING": str(path)}).test_client()
    auth = {"Authorization": "Bearer r8_x"}
    created = client.post(
        "/v1/models/google/imagen-4-ultra/predictions",
        headers=auth,
        json={"input": {"prompt": "x"}},
    ).get_json()
    clock.advance(1.9)
    assert (
        client.get(f"/v1/predictions/{created['id']}", headers=auth).get_json()["status"]
        == "starting"
    )
    clock.advance(0.2)
    running = client.get(f"/v1/predictions/{created['id']}", headers=auth).get_json()
    assert running["status"] == "processing"
    assert running["logs"] == "Using seed: 7\n"
    clock.advance(6.3)
    done = client.get(f"/v1/predictions/{created['id']}", headers=auth).get_json()
    assert done["status"] == "succeeded"
    assert done["logs"] == "Using seed: 7\nRunning...\nDone\n"
    assert done["metrics"]["predict_time"] == pytest.approx(6.3)


def test_a_bad_recording_stops_start_up(tmp_path: Path) -> None:
    from mock_server import SettingError, create_app

    with pytest.raises(SettingError, match=r"^MOCK_RECORDING must be a recording of a live run"):
        create_app({"MOCK_RECORDING": str(write(tmp_path, []))})
