"""The framework's limit: a bare Flask endpoint returning a prediction's JSON, no logic.

Served by the mock's own serving code (granian and the RSGI bridge, same workers and
threads), so the benchmark compares the mock's handlers against Flask itself. Run with
this folder on ``PYTHONPATH`` so that granian's workers can import it.
"""

from __future__ import annotations

import json
import sys

from flask import Flask, Response

from mock_server.serving.server import serve_target

BODY = json.dumps(
    {
        "id": "het8zf0rtnrm80crb5gaw4ecdw",
        "model": "google/imagen-4-ultra",
        "version": "hidden",
        "input": {"prompt": "a lighthouse on a cliff at dawn", "aspect_ratio": "16:9"},
        "logs": "Using seed: 1\nGenerating image with aspect ratio 16:9\n",
        "output": "http://127.0.0.1/delivery/het8zf0rtnrm80crb5gaw4ecdw/output.jpg",
        "data_removed": False,
        "error": None,
        "status": "succeeded",
        "created_at": "2025-07-30T03:28:46.805Z",
        "started_at": "2025-07-30T03:28:47.805Z",
        "completed_at": "2025-07-30T03:28:50.805Z",
        "source": "api",
        "metrics": {"total_time": 4.0, "predict_time": 3.0, "image_count": 1},
        "deadline": None,
        "urls": {
            "cancel": "http://127.0.0.1/v1/predictions/het8zf0rtnrm80crb5gaw4ecdw/cancel",
            "get": "http://127.0.0.1/v1/predictions/het8zf0rtnrm80crb5gaw4ecdw",
            "stream": "http://127.0.0.1/stream/het8zf0rtnrm80crb5gaw4ecdw",
            "web": "http://127.0.0.1/p/het8zf0rtnrm80crb5gaw4ecdw",
        },
    },
    separators=(",", ":"),
)


def make_app() -> Flask:
    """A Flask app with one route that answers the fixed prediction."""
    app = Flask(__name__)

    @app.get("/v1/predictions/<prediction_id>")
    def get_prediction(prediction_id: str) -> Response:
        return Response(BODY, mimetype="application/json")

    return app


if __name__ == "__main__":
    port, threads, workers = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    serve_target(
        "baseline_app:make_app", host="127.0.0.1", port=port, threads=threads, workers=workers,
    )  # fmt: skip
