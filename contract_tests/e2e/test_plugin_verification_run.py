"""An application's suite asserting what it sent through the plugin, in a fresh pytest
process: a passing check, and a failing one whose report says what arrived."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

USER_TESTS = """
    import httpx


    def create(mock, ratio):
        return httpx.post(
            mock.base_url + "/models/google/imagen-4-ultra/predictions",
            json={"input": {"prompt": "a wide poster", "aspect_ratio": ratio}},
            headers={"Authorization": "Bearer " + mock.token},
        )


    def test_one_wide_create(imagen_mock):
        create(imagen_mock, "16:9")
        imagen_mock.assert_requested("create", aspect_ratio="16:9")


    def test_two_wide_creates_by_mistake(imagen_mock):
        create(imagen_mock, "16:9")
        create(imagen_mock, "16:9")
        imagen_mock.assert_requested("create", aspect_ratio="16:9")
"""


def test_the_report_says_what_was_expected_and_what_arrived(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: expected 1 create with aspect_ratio 16:9, got 2: "
            "POST /v1/models/google/imagen-4-ultra/predictions -> 201 input=*",
        ]
    )
