"""Loading the spec: safely, and without slowing the server's start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mock_server.contract.spec import load_spec, spec_path


def test_the_spec_loads_with_every_ref_resolved() -> None:
    spec = load_spec(spec_path())
    create = spec["paths"]["/models/{model_owner}/{model_name}/predictions"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" not in str(schema)
    assert "input" in schema["properties"]


def test_a_spec_cannot_build_python_objects(tmp_path: Path) -> None:
    """The parser is a safe one: a tag that would run code is refused."""
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("openapi: !!python/object/apply:os.getpid []\n", encoding="utf-8")
    with pytest.raises(yaml.YAMLError):
        load_spec(hostile)


def test_start_up_leaves_heavy_libraries_for_later() -> None:
    """Pillow (images) and httpx (webhooks) load on first use, not with the server."""
    code = (
        "import sys, mock_server.serving.cli, mock_server.http.app as m; m.create_app({}); "
        "print(','.join(sorted(n for n in ('PIL', 'httpx') if n in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
