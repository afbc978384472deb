"""What the mock serves without a token: output images (like Replicate's file
delivery) and the OpenAPI document it implements."""

from __future__ import annotations

from flask import Blueprint, Response

from mock_server.contract import problems
from mock_server.domain import images, lifecycle
from mock_server.http.context import state

__all__ = ["bp"]

bp = Blueprint("files", __name__)


@bp.get("/delivery/<prediction_id>/output.<fmt>")
def output_file(prediction_id: str, fmt: str) -> Response:
    """The image of a succeeded prediction.

    Raises:
        Problem: 404 if the prediction does not exist, has no output yet, or the
            extension is not the prediction's format.
    """
    mock = state()
    now = mock.service.clock.now()  # before the read (see Store.cancel)
    record = mock.service.get(prediction_id)
    if (
        record is None
        or lifecycle.status_at(record, now) != "succeeded"
        or now >= lifecycle.data_removed_at(record)
    ):
        raise problems.not_found(f"File for prediction {prediction_id}")
    input_ = {**lifecycle.DEFAULTS, **record.input}
    if fmt != input_["output_format"]:
        raise problems.not_found(f"File output.{fmt} of prediction {prediction_id}")
    data = images.render_image(str(input_["prompt"]), input_["aspect_ratio"], fmt)
    return Response(
        data,
        mimetype=images.MEDIA_TYPES[fmt],
        headers={"Cache-Control": "public, max-age=3600"},
    )


@bp.get("/openapi.yaml")
def openapi_document() -> Response:
    """The OpenAPI document this mock implements, as YAML."""
    mock = state()
    return Response(mock.spec_text, mimetype="application/yaml")
