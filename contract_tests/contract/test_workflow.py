"""The GitHub Actions example: tests on every push, the live contract on a schedule."""

from __future__ import annotations

from typing import Any

import yaml

from contract_tests.support.constants import REPO

WORKFLOW = REPO / ".github" / "workflows" / "contract.yml"


def load() -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return doc


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def uses(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        step["uses"].split("@")[0]: step.get("with", {}) for step in job["steps"] if "uses" in step
    }


def test_triggers() -> None:
    triggers = load()[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"push", "schedule", "workflow_dispatch"}
    assert triggers["schedule"][0]["cron"]


def test_push_job_runs_make_test_on_python_311_and_node_20() -> None:
    job = load()["jobs"]["test"]
    assert job["if"] == "github.event_name == 'push'"
    assert any(command.split()[:2] == ["make", "test"] for command in runs(job))
    setup = uses(job)
    assert setup["actions/setup-python"]["python-version"] == "3.11"
    assert setup["actions/setup-node"]["node-version"] == "20"


def test_scheduled_job_takes_the_token_from_secrets() -> None:
    job = load()["jobs"]["live-contract"]
    assert "schedule" in job["if"]
    assert "workflow_dispatch" in job["if"]
    assert job["env"]["REPLICATE_API_TOKEN"] == "${{ secrets.REPLICATE_API_TOKEN }}"
    commands = runs(job)
    assert "make contract BASE_URL=${{ vars.IMAGEN_CONTRACT_BASE_URL }}" in commands
    assert "make drift BASE_URL=${{ vars.IMAGEN_CONTRACT_BASE_URL }}" in commands
    assert uses(job)["actions/upload-artifact"]["path"] == "artifacts/"
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "r8_" not in text, "a token must never be written into the workflow"
