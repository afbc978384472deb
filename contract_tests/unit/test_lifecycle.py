"""The lifecycle, and its rendering as the API shows it, as pure functions of a record
and the time, on a fake clock."""

from __future__ import annotations

import itertools

import pytest

from mock_server.domain import lifecycle, rendering
from mock_server.domain.clock import FakeClock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.rendering import Links
from mock_server.domain.safety import SAFETY_ERROR

LINKS = Links(api="https://mock.test/replicate/v1", root="https://mock.test")
T0 = 1_000_000.0
#: The keys of the seed's example answer (status ``starting``), in its order.
STARTING_KEYS = (
    *("id", "model", "version", "input", "logs", "output", "data_removed", "error"),
    *("status", "created_at", "urls"),
)


def within_share(value: float, ran: float) -> bool:
    """Whether ``value`` is a predict_time the mock may report for ``ran`` seconds."""
    return 0.86 * ran <= value < 0.98 * ran and value != round(value, 2)


def record(prompt: str = "a red fox", **input_: str) -> PredictionRecord:
    return lifecycle.new_record(
        {"prompt": prompt, **input_},
        now=T0,
        starting_seconds=1.0,
        processing_seconds=3.0,
        retention_seconds=3600.0,
    )


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (0.0, "starting"),
        (0.999, "starting"),
        (1.0, "processing"),
        (3.9, "processing"),
        (4.0, "succeeded"),
        (100.0, "succeeded"),
    ],
)
def test_status_follows_the_phases(offset: float, status: str) -> None:
    assert lifecycle.status_at(record(), T0 + offset) == status


def test_starting_prediction_has_no_start_logs_or_output() -> None:
    shown = rendering.render(record(), T0 + 0.5, LINKS)
    assert shown["status"] == "starting"
    assert list(shown) == [*STARTING_KEYS]  # no key before it exists
    assert shown["logs"] == ""
    assert shown["output"] is None


def test_logs_grow_while_processing() -> None:
    rec = record()
    seen = [rendering.render(rec, T0 + t, LINKS)["logs"] for t in (1.0, 2.0, 3.0, 4.0)]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(seen))
    assert len(seen[0].splitlines()) < len(seen[-1].splitlines())
    took = rendering.render(rec, T0 + 4.0, LINKS)["metrics"]["predict_time"]
    assert seen[-1] == f"No sid\nGenerating image...\nGenerated image in {took:.2f} seconds\n"


def test_succeeded_prediction_is_complete() -> None:
    rec = record(aspect_ratio="16:9", output_format="png")
    shown = rendering.render(rec, T0 + 10, LINKS)
    assert shown["status"] == "succeeded"
    assert shown["output"] == f"https://mock.test/delivery/{rec.id}/output.png"
    assert shown["started_at"] == rendering.format_time(T0 + 1, 6)
    assert shown["completed_at"] == rendering.format_time(T0 + 4, 6)
    assert list(shown) == [*STARTING_KEYS[:-1], "started_at", "completed_at", "urls", "metrics"]
    assert list(shown["metrics"]) == ["image_count", "predict_time"]
    assert shown["metrics"]["image_count"] == 1
    assert within_share(shown["metrics"]["predict_time"], 3.0)
    assert shown["error"] is None
    assert shown["version"] == "hidden"
    assert shown["model"] == "google/imagen-4-ultra"
    assert shown["data_removed"] is False
    assert shown["input"] == {"prompt": "a red fox", "aspect_ratio": "16:9", "output_format": "png"}
    assert list(shown["input"]) == ["aspect_ratio", "output_format", "prompt"]  # sorted
    assert shown["urls"] == {
        "cancel": f"https://mock.test/replicate/v1/predictions/{rec.id}/cancel",
        "get": f"https://mock.test/replicate/v1/predictions/{rec.id}",
        "stream": f"https://mock.test/stream/{rec.id}",
        "web": f"https://mock.test/p/{rec.id}",
    }


def test_as_created_view_is_starting_even_with_instant_phases() -> None:
    rec = lifecycle.new_record(
        {"prompt": "x"}, now=T0, starting_seconds=0, processing_seconds=0, retention_seconds=3600.0
    )
    assert rendering.render(rec, T0, LINKS)["status"] == "succeeded"
    assert rendering.render(rec, T0, LINKS, as_created=True)["status"] == "starting"


def test_cancel_while_processing() -> None:
    rec = lifecycle.cancel(record(), T0 + 2.5)
    shown = rendering.render(rec, T0 + 10, LINKS)
    assert shown["status"] == "canceled"
    assert shown["completed_at"] == rendering.format_time(T0 + 2.5, 6)
    assert shown["output"] is None
    assert shown["started_at"] == rendering.format_time(T0 + 1, 6)
    assert list(shown["metrics"]) == ["predict_time"]
    assert within_share(shown["metrics"]["predict_time"], 1.5)
    assert "Generated image" not in shown["logs"]


def test_cancel_before_start_never_starts() -> None:
    rec = lifecycle.cancel(record(), T0 + 0.5)
    shown = rendering.render(rec, T0 + 10, LINKS)
    assert shown["status"] == "canceled"
    assert "started_at" not in shown
    assert shown["logs"] == ""
    assert shown["metrics"] == {}


def test_cancel_after_the_end_changes_nothing() -> None:
    rec = record()
    assert lifecycle.cancel(rec, T0 + 5) is rec


def test_blocked_prompt_fails_with_e005() -> None:
    rec = record("a gore scene")
    assert lifecycle.status_at(rec, T0 + 2) == "processing"
    shown = rendering.render(rec, T0 + 4, LINKS)
    assert shown["status"] == "failed"
    assert shown["error"] == SAFETY_ERROR
    assert shown["output"] is None


def test_ids_look_like_replicate_ids() -> None:
    ids = {lifecycle.new_prediction_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 26 and set(i) <= set("0123456789abcdefghjkmnpqrstvwxyz") for i in ids)
    # every position carries 5 random bits: each of the 32 symbols turns up first and last
    assert len({i[0] for i in ids}) == len({i[-1] for i in ids}) == 32


def test_format_time_has_milliseconds_and_z() -> None:
    assert rendering.format_time(1_753_846_126.805) == "2025-07-30T03:28:46.805Z"


def test_fake_clock_moves_only_forward() -> None:
    clock = FakeClock(start=10.0)
    clock.advance(2.5)
    clock.sleep(0.5)
    assert clock.now() == 13.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_deadline_before_start_aborts() -> None:
    rec = lifecycle.new_record(
        {"prompt": "x"},
        now=T0,
        starting_seconds=10.0,
        processing_seconds=3.0,
        cancel_after=5.0,
        retention_seconds=3600.0,
    )
    shown = rendering.render(rec, T0 + 6, LINKS)
    assert shown["status"] == "aborted"
    assert shown["deadline"] == rendering.format_time(T0 + 5)
    assert shown["completed_at"] == rendering.format_time(T0 + 5, 6)
    assert "started_at" not in shown
    assert lifecycle.status_at(rec, T0 + 4.9) == "starting"


def test_deadline_while_running_cancels() -> None:
    rec = lifecycle.new_record(
        {"prompt": "x"},
        now=T0,
        starting_seconds=1.0,
        processing_seconds=30.0,
        cancel_after=5.0,
        retention_seconds=3600.0,
    )
    shown = rendering.render(rec, T0 + 6, LINKS)
    assert shown["status"] == "canceled"
    assert shown["completed_at"] == rendering.format_time(T0 + 5)
    assert shown["output"] is None


def test_deadline_after_the_end_changes_nothing() -> None:
    rec = lifecycle.new_record(
        {"prompt": "x"},
        now=T0,
        starting_seconds=1.0,
        processing_seconds=3.0,
        cancel_after=60.0,
        retention_seconds=3600.0,
    )
    assert lifecycle.status_at(rec, T0 + 4) == "succeeded"


def test_earlier_of_cancel_and_deadline_wins() -> None:
    rec = lifecycle.new_record(
        {"prompt": "x"},
        now=T0,
        starting_seconds=10.0,
        processing_seconds=3.0,
        cancel_after=8.0,
        retention_seconds=3600.0,
    )
    canceled = lifecycle.cancel(rec, T0 + 2)
    assert lifecycle.status_at(canceled, T0 + 9) == "canceled"
    assert lifecycle.ends_at(canceled) == T0 + 2


def test_moments_of_a_success() -> None:
    rec = record()
    kinds = [(m.kind, m.at - T0) for m in lifecycle.moments(rec)]
    assert kinds[0] == ("start", 1.0)
    assert [k for k, _ in kinds].count("logs") == 3  # the three lines of imagen's logs
    assert kinds[-2:] == [("output", 4.0), ("completed", 4.0)]
    assert [at for _, at in kinds] == sorted(at for _, at in kinds)


def test_moments_after_a_cancel_drop_what_never_happens() -> None:
    rec = lifecycle.cancel(record(), T0 + 0.5)
    assert [m.kind for m in lifecycle.moments(rec)] == ["completed"]
    running = lifecycle.cancel(record(), T0 + 2.0)
    kinds = [m.kind for m in lifecycle.moments(running)]
    assert kinds[0] == "start"
    assert "output" not in kinds
    assert kinds[-1] == "completed"


def test_data_is_removed_after_retention() -> None:
    rec = lifecycle.new_record(
        {"prompt": "x"}, now=T0, starting_seconds=1, processing_seconds=3, retention_seconds=3600
    )
    kept = rendering.render(rec, T0 + 4 + 3599, LINKS)
    assert kept["data_removed"] is False
    assert kept["output"] is not None
    removed = rendering.render(rec, T0 + 4 + 3600, LINKS)
    assert removed["data_removed"] is True
    assert (removed["input"], removed["output"], removed["logs"]) == ({}, None, None)
    assert removed["status"] == "succeeded"
    assert removed["metrics"] == kept["metrics"]


@pytest.mark.parametrize(
    ("moment", "digits", "text"),
    [
        (1_713_784_501.04, 3, "2024-04-22T11:15:01.04Z"),  # trailing zeros dropped
        (1_713_784_501.0, 3, "2024-04-22T11:15:01Z"),
        (1_713_784_501.123456, 3, "2024-04-22T11:15:01.123Z"),
        (1_713_784_501.123456, 6, "2024-04-22T11:15:01.123456Z"),
        (1_713_784_501.5, 6, "2024-04-22T11:15:01.5Z"),
    ],
)
def test_times_are_written_as_replicate_writes_them(moment: float, digits: int, text: str) -> None:
    assert rendering.format_time(moment, digits) == text


def test_predict_time_is_fixed_per_id_and_varies_between_ids() -> None:
    first, second = record(), record()
    assert lifecycle.predict_time(first, 3.0) == lifecycle.predict_time(first, 3.0)
    assert lifecycle.predict_time(first, 3.0) != lifecycle.predict_time(second, 3.0)
    assert lifecycle.predict_time(first, 0.0) == 0.0
    recorded = lifecycle.new_record(
        {"prompt": "x"},
        now=T0,
        starting_seconds=1.0,
        processing_seconds=6.3,
        retention_seconds=3600.0,
        log_lines=("a", "b"),
    )
    assert lifecycle.predict_time(recorded, 6.3) == 6.3  # a recording's own time
