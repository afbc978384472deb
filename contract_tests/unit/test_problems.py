"""Problem bodies, byte for byte where Replicate's are known."""

from __future__ import annotations

import json

from mock_server.contract import problems
from mock_server.contract.problems import InvalidField


def test_missing_token_body_is_replicates() -> None:
    assert problems.missing_token().to_json() == (
        '{"title":"Unauthenticated","detail":"You did not pass an authentication token","status":401}'
    )


def test_invalid_token_body_is_replicates() -> None:
    assert problems.invalid_token().to_json() == (
        '{"title":"Unauthenticated","detail":"You did not pass a valid authentication token",'
        '"status":401}'
    )


def test_not_found_has_no_title() -> None:
    assert problems.not_found("Prediction abc").body() == {
        "detail": "Prediction abc does not exist",
        "status": 404,
    }


def test_validation_body_matches_the_recorded_one() -> None:
    message = 'aspect_ratio must be one of the following: "1:1", "9:16", "16:9", "3:4", "4:3"'
    problem = problems.validation_failed([InvalidField("enum", "input.aspect_ratio", message)])
    recorded = (
        '{"detail":"- input.aspect_ratio: aspect_ratio must be one of the following: '
        '\\"1:1\\", \\"9:16\\", \\"16:9\\", \\"3:4\\", \\"4:3\\"\\n","status":422,'
        '"title":"Input validation failed","invalid_fields":[{"type":"enum",'
        '"field":"input.aspect_ratio","description":"aspect_ratio must be one of the '
        'following: \\"1:1\\", \\"9:16\\", \\"16:9\\", \\"3:4\\", \\"4:3\\""}]}'
    )
    assert problem.to_json() == recorded


def test_detail_has_one_line_per_field() -> None:
    problem = problems.validation_failed(
        [
            InvalidField("required", "", "input is required"),
            InvalidField("enum", "input.output_format", "bad"),
        ]
    )
    assert problem.detail == "- input is required\n- input.output_format: bad\n"


def test_method_not_allowed_carries_allow() -> None:
    problem = problems.method_not_allowed(["POST", "OPTIONS"])
    assert problem.headers == {"Allow": "OPTIONS, POST"}
    assert json.loads(problem.to_json())["status"] == 405
