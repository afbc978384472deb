"""``imagen-mock serve``'s command line: documented options, environment settings, refusals
(``e2e/test_serve.py`` starts real servers)."""

from __future__ import annotations

import subprocess

import pytest

from contract_tests.support.constants import REPO
from contract_tests.support.servers import BIN
from mock_server.serving.cli import build_parser, main

OPTIONS = {
    "--host": "IMAGEN_MOCK_HOST",
    "--port": "IMAGEN_MOCK_PORT",
    "--token": "IMAGEN_MOCK_TOKEN",
    "--starting-seconds": "IMAGEN_MOCK_STARTING_SECONDS",
    "--processing-seconds": "IMAGEN_MOCK_PROCESSING_SECONDS",
    "--recording": "IMAGEN_MOCK_RECORDING",
    "--retention-seconds": "IMAGEN_MOCK_RETENTION_SECONDS",
    "--record-ttl-seconds": "IMAGEN_MOCK_RECORD_TTL_SECONDS",
    "--threads": "IMAGEN_MOCK_THREADS",
    "--tls": "IMAGEN_MOCK_TLS",
    "--ca-file": "IMAGEN_MOCK_CA_FILE",
    "--webhook-secret": "IMAGEN_MOCK_WEBHOOK_SECRET",
    "--webhook-allowed-hosts": "IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS",
    "--faults": "IMAGEN_MOCK_FAULTS",
    "--seed": "IMAGEN_MOCK_SEED",
    "--trusted-proxies": "IMAGEN_MOCK_TRUSTED_PROXIES",
    "--max-body-bytes": "IMAGEN_MOCK_MAX_BODY_BYTES",
    "--access-log": "IMAGEN_MOCK_ACCESS_LOG",
}


def test_help_documents_every_option_and_variable() -> None:
    done = subprocess.run(
        [str(BIN / "imagen-mock"), "serve", "--help"], capture_output=True, text=True, check=True
    )
    flat = " ".join(done.stdout.split())
    for flag, variable in OPTIONS.items():
        assert flag in flat
        assert variable in flat


def test_readme_lists_every_variable() -> None:
    readme = (REPO / "README.md").read_text()
    for variable in OPTIONS.values():
        assert variable in readme


def test_environment_sets_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEN_MOCK_PORT", "9123")
    monkeypatch.setenv("IMAGEN_MOCK_TOKEN", "pinned")
    monkeypatch.setenv("IMAGEN_MOCK_TLS", "true")
    monkeypatch.setenv("IMAGEN_MOCK_PROCESSING_SECONDS", "0.5")
    args = build_parser().parse_args(["serve"])
    assert (args.port, args.token, args.tls, args.processing_seconds) == (9123, "pinned", True, 0.5)
    flagged = build_parser().parse_args(["serve", "--port", "9000"])
    assert flagged.port == 9000


def test_ca_file_needs_tls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--ca-file", "/tmp/ca.pem"]) == 2
    assert "--ca-file needs --tls" in capsys.readouterr().err
