"""The ``imagen_mock`` pytest plugin in a fresh pytest process, as an application's suite
would meet it: loaded from the ``pytest11`` entry point, turned off with ``-p no:``, and
configured from a ``conftest.py``."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

USER_TESTS = """
    import httpx
    import pytest


    def test_fixture_is_there(imagen_mock):
        answer = httpx.get(imagen_mock.base_url + "/predictions",
                           headers={"Authorization": "Bearer " + imagen_mock.token})
        assert answer.status_code == 200
        assert imagen_mock.advance(2)["offset_seconds"] == 2


    @pytest.mark.imagen_mock(token="r8_marked")
    def test_marker_is_registered(imagen_mock):
        assert imagen_mock.token == "r8_marked"
"""


def test_the_entry_point_loads_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest_subprocess(
        "--strict-markers", "-W", "error", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest_subprocess("-p", "no:imagen_mock", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*fixture 'imagen_mock' not found*"])


def test_a_conftest_can_override_the_options(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def imagen_mock_config():
            return {"token": "r8_from_conftest", "processing_seconds": 0}
        """
    )
    pytester.makepyfile(
        test_user="""
        def test_options(imagen_mock):
            assert imagen_mock.token == "r8_from_conftest"
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_bad_marker_value_fails_the_test_in_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.imagen_mock(starting_seconds=-1)
        def test_negative(imagen_mock):
            pass

        @pytest.mark.imagen_mock(config={"MOCK_MAX_BODY_BYTES": 0})
        def test_no_body(imagen_mock):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "imagen_mock: starting_seconds must be from 0 to 31536000 (got -1.0)",
            "imagen_mock: MOCK_MAX_BODY_BYTES must be at least 1 (got 0)",
        ],
        consecutive=False,
    )
    assert "Traceback" not in result.stdout.str()
    assert "SettingError" not in result.stdout.str()
