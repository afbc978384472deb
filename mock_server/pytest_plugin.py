"""A pytest plugin: the ``imagen_mock`` fixture runs the mock for one test.

Installed with the package and loaded through the ``pytest11`` entry point, so any
test suite in the same environment can ask for it::

    def test_my_app(imagen_mock):
        app = MyApp(base_url=imagen_mock.base_url, token=imagen_mock.token)
        prediction = app.start("a lighthouse")
        imagen_mock.advance(5)          # the prediction has ended
        assert app.poll(prediction) == "succeeded"
        imagen_mock.assert_requested("create", prompt="a lighthouse")  # what the app sent

Each test gets a fresh mock (its own store and clock) served by werkzeug on a free
``127.0.0.1`` port, shut down when the test ends. Options, as keyword arguments of
the ``imagen_mock`` marker or keys of a dict returned by an overridden
``imagen_mock_config`` fixture (the marker wins): ``token`` (default
``r8_imagenmock``; ``None`` accepts any token shaped like Replicate's), ``starting_seconds`` (1.0),
``processing_seconds`` (3.0), and ``config`` (more ``create_app`` keys: ``MOCK_*``
settings, collaborators). A value a setting refuses fails the test with one line.
``-p no:imagen_mock`` turns the plugin off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest

if TYPE_CHECKING:
    from mock_server.config import Settings

__all__ = ["DEFAULT_TOKEN", "ImagenMock", "imagen_mock", "imagen_mock_config"]

DEFAULT_TOKEN: Final = "r8_imagenmock"  # noqa: S105 - the fixture's test token, not a secret
_SETTINGS: Final = ("token", "starting_seconds", "processing_seconds")
_OPTIONS: Final = frozenset({*_SETTINGS, "config"})
#: Longest the fixture waits for the server thread to stop (seconds).
_STOP_TIMEOUT: Final = 10.0


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (suites run with ``--strict-markers``)."""
    config.addinivalue_line(
        "markers",
        "imagen_mock(token=..., starting_seconds=..., processing_seconds=..., config=...): "
        "options of the imagen_mock fixture",
    )


@dataclass
class ImagenMock:
    """A running mock and helpers that drive its admin API (``/_mock``)."""

    root: str
    """``http://127.0.0.1:<port>``: the files, pages and admin API live here."""
    token: str | None
    """The token it accepts (None: any shaped like Replicate's, ``r8_`` then letters and digits)."""
    http: httpx.Client = field(repr=False)
    """A client for ``root`` that sends the token."""

    @property
    def base_url(self) -> str:
        """The predictions API: ``root + "/v1"`` (it also answers under ``/replicate/v1``)."""
        return f"{self.root}/v1"

    def clock(self) -> dict[str, Any]:
        """``{"now": ..., "offset_seconds": ...}``.

        Raises:
            httpx.HTTPStatusError: if the mock refuses.
        """
        return self._call("GET", "/_mock/clock").json()  # type: ignore[no-any-return]

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the mock's clock forward; returns the clock as :meth:`clock` does.

        Raises:
            httpx.HTTPStatusError: 422 unless ``0 < seconds <= 31536000``.
        """
        doc = {"advance_seconds": seconds}
        return self._call("POST", "/_mock/clock", json=doc).json()  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Forget every prediction, webhook delivery and rule.

        Raises:
            httpx.HTTPStatusError: if the mock refuses.
        """
        self._call("POST", "/_mock/reset")

    def deliveries(
        self, prediction_id: str | None = None, event: str | None = None
    ) -> list[dict[str, Any]]:
        """The webhook delivery attempts, oldest first (see ``GET /_mock/webhooks/deliveries``).

        Raises:
            httpx.HTTPStatusError: 422 if ``event`` is not a webhook event.
        """
        params = {
            key: value
            for key, value in (("prediction_id", prediction_id), ("event", event))
            if value is not None
        }
        response = self._call("GET", "/_mock/webhooks/deliveries", params=params)
        return response.json()["results"]  # type: ignore[no-any-return]

    def add_rule(self, **rule: Any) -> dict[str, Any]:
        """Add a scenario rule (``POST /_mock/rules``); returns it with its ``id``.

        Raises:
            httpx.HTTPStatusError: 422 if it is not a valid rule.
        """
        return self._call("POST", "/_mock/rules", json=rule).json()  # type: ignore[no-any-return]

    def requests(
        self,
        route: str | None = None,
        *,
        method: str | None = None,
        status: int | None = None,
        prediction_id: str | None = None,
        since: str | None = None,
    ) -> list[dict[str, Any]]:
        """The journaled predictions API requests, oldest first (``GET /_mock/requests``),
        narrowed as that endpoint's query does (``route``: ``create``, ``get``,
        ``cancel``, ``list``, ``secret``; ``since``: RFC 3339).

        Raises:
            httpx.HTTPStatusError: 422 for a filter the admin API refuses.
        """
        params = {
            key: str(value)
            for key, value in (
                ("route", route),
                ("method", method),
                ("status", status),
                ("prediction_id", prediction_id),
                ("since", since),
            )
            if value is not None
        }
        response = self._call("GET", "/_mock/requests", params=params)
        return response.json()["results"]  # type: ignore[no-any-return]

    def assert_requested(
        self,
        route: str | None = None,
        *,
        times: int | None = 1,
        method: str | None = None,
        status: int | None = None,
        prediction_id: str | None = None,
        since: str | None = None,
        **inputs: Any,
    ) -> list[dict[str, Any]]:
        """Assert that the app made ``times`` such requests (None: at least one); return them.

        Keyword arguments other than the filters are input fields the request body must
        hold: ``assert_requested("create", aspect_ratio="16:9")`` asks for exactly one
        create whose ``input.aspect_ratio`` is ``"16:9"``. A failure says what was
        expected and lists what arrived.

        Raises:
            AssertionError: if the count differs.
        """
        found = self.requests(
            route, method=method, status=status, prediction_id=prediction_id, since=since
        )
        matching = [entry for entry in found if _has_inputs(entry, inputs)]
        if (times is None and matching) or len(matching) == times:
            return matching
        wanted = _describe(route, method, status, prediction_id, since, inputs)
        count = "at least 1" if times is None else str(times)
        raise AssertionError(
            f"expected {count} {wanted}, got {len(matching)}"
            + (": " if found else "")
            + "; ".join(_summary(entry) for entry in found)
            + ("" if found else f" (the journal holds {len(self.requests())} request(s))")
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        response.raise_for_status()
        return response


def _has_inputs(entry: dict[str, Any], inputs: Mapping[str, Any]) -> bool:
    if not inputs:
        return True
    try:
        body = json.loads(entry.get("body") or "")
    except ValueError:
        return False
    given = body.get("input") if isinstance(body, dict) else None
    if not isinstance(given, dict):
        return False
    return all(name in given and given[name] == value for name, value in inputs.items())


def _describe(
    route: str | None,
    method: str | None,
    status: int | None,
    prediction_id: str | None,
    since: str | None,
    inputs: Mapping[str, Any],
) -> str:
    """``create with aspect_ratio 16:9``: the requests an assertion asked for, in words."""
    words = [route or "request"]
    if method:
        words.append(f"{method.upper()}")
    conditions = [f"{name} {value}" for name, value in inputs.items()]
    conditions += [f"status {status}"] if status is not None else []
    conditions += [f"prediction {prediction_id}"] if prediction_id else []
    conditions += [f"since {since}"] if since else []
    return " ".join(words) + (" with " + ", ".join(conditions) if conditions else "")


def _summary(entry: dict[str, Any]) -> str:
    """One request in a line: method, path, status, and its input when it had one."""
    text = f"{entry['method']} {entry['path']} -> {entry['status']}"
    try:
        body = json.loads(entry.get("body") or "")
    except ValueError:
        return text
    given = body.get("input") if isinstance(body, dict) else None
    return f"{text} input={json.dumps(given, sort_keys=True)}" if given is not None else text


@pytest.fixture
def imagen_mock_config() -> dict[str, Any]:
    """Options of every ``imagen_mock`` in scope; override it to change them."""
    return {}


@pytest.fixture
def imagen_mock(
    request: pytest.FixtureRequest, imagen_mock_config: Mapping[str, Any]
) -> Iterator[ImagenMock]:
    """A fresh mock on a free loopback port, for this test only.

    Raises:
        pytest.UsageError: for an unknown option.
        pytest.fail.Exception: for a value a setting refuses (one line naming it).
    """
    from mock_server.config import SettingError
    from mock_server.http import context
    from mock_server.http.app import create_app
    from mock_server.http.context import observer
    from mock_server.serving.server import serve_in_thread

    options: dict[str, Any] = {"token": DEFAULT_TOKEN, **imagen_mock_config}
    for marker in reversed(list(request.node.iter_markers("imagen_mock"))):
        options.update(marker.kwargs)
    unknown = set(options) - _OPTIONS
    if unknown:
        raise pytest.UsageError(f"imagen_mock: unknown options {sorted(unknown)}")
    try:
        app = create_app({"MOCK_SETTINGS": _settings(options), **options.get("config", {})})
    except SettingError as exc:
        pytest.fail(f"imagen_mock: {exc}", pytrace=False)
    token = options["token"]
    headers = {"Authorization": f"Bearer {token or DEFAULT_TOKEN}"}
    with (
        serve_in_thread(app, stop_timeout=_STOP_TIMEOUT) as root,
        httpx.Client(base_url=root, headers=headers, timeout=30.0, trust_env=False) as http,
    ):
        yield ImagenMock(root=root, token=token, http=http)
    state = context.state(app)
    observer(app).close()
    if state.webhooks is not None:
        state.webhooks.close()
    if state.replicas is not None:  # a config with MOCK_REDIS_URL
        state.replicas.close()


def _settings(options: Mapping[str, Any]) -> Settings:
    """The settings the fixture's options ask for (``token``, phase durations).

    Raises:
        SettingError: naming the option as the marker spells it.
    """
    from mock_server.config import Settings

    chosen = {name: options[name] for name in _SETTINGS if name in options}
    return Settings.from_mapping(chosen, option=lambda name: name)
