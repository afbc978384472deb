"""``python -m contract_tests.drift``: send the probes to a live API and to the mock, compare.

Tokens come from the environment only (``REPLICATE_API_TOKEN`` for live,
``IMAGEN_MOCK_TOKEN`` for the mock, ``r8_mock`` by default, which a mock without ``--token`` accepts) and are
never printed or written.
"""

from __future__ import annotations

import argparse
import os
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from contract_tests import preflight
from contract_tests.drift.compare import compare
from contract_tests.drift.probes import PROBES, BudgetExhaustedError, Exchange, Runner
from contract_tests.drift.report import write_report
from contract_tests.support.budget import Ledger, report
from contract_tests.support.budget_transports import GuardedTransport
from mock_server import create_app
from mock_server.contract.spec import load_spec
from mock_server.serving.server import serve_in_thread

PROG = "python -m contract_tests.drift"
HOW = (
    "usage: REPLICATE_API_TOKEN=r8_... make drift BASE_URL=https://api.replicate.com/v1 "
    "(or python -m contract_tests.drift --live URL)"
)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = preflight.OneLineParser(prog=PROG, description=__doc__)
    parser.add_argument(
        "--live", required=True, help="live base URL, e.g. https://api.replicate.com/v1"
    )
    parser.add_argument(
        "--mock",
        default=None,
        help="mock base URL, e.g. http://127.0.0.1:8000/v1; by default a mock with its "
        "embedded defaults is served in-process on a free port",
    )
    parser.add_argument("--out", type=Path, default=Path("artifacts/drift"), help="report folder")
    parser.add_argument("--budget", type=int, default=os.environ.get("IMAGEN_CONTRACT_BUDGET", "2"),
                        help="most predictions to create on the live API [IMAGEN_CONTRACT_BUDGET]")  # fmt: skip
    parser.add_argument("--ca-file", type=Path, default=None, help="CA bundle for either target")
    parser.add_argument("--dry-run", action="store_true", help="list the probes and send nothing")
    parser.add_argument("--ledger", type=Path, default=None,
                        help="budget ledger shared with a larger run (make contract); its "
                        "limit replaces --budget")  # fmt: skip
    return parser.parse_args(argv)


@contextmanager
def mock_url(given: str | None) -> Iterator[str]:
    """The mock's base URL: the one given, or an in-process mock on a free loopback port."""
    if given:
        yield given
        return
    with serve_in_thread(create_app()) as root:
        yield f"{root}/v1"


def collect(runner: Runner) -> tuple[list[Exchange], list[str]]:
    exchanges: list[Exchange] = []
    skipped: list[str] = []
    for probe in PROBES:
        try:
            exchanges += runner.run(probe)
        except (BudgetExhaustedError, LookupError):
            skipped.append(probe.name)
    return exchanges, skipped


def check(args: argparse.Namespace) -> tuple[str, ssl.SSLContext | bool]:
    """The live base URL and what to verify TLS with, once every argument holds and the
    live host (and the ``--mock`` one, when given) answers.

    Raises:
        preflight.PreflightError: naming the first argument or condition that does not hold.
    """
    live = args.live.strip()
    live = preflight.base_url(live, "the live base URL (BASE_URL, --live)") if live else ""
    preflight.budget(args.budget)
    verify = preflight.tls(args.ca_file)
    if args.mock is not None:
        args.mock = preflight.base_url(args.mock, "the mock base URL (--mock)")
    if args.dry_run:
        return live, verify
    token = os.environ.get("REPLICATE_API_TOKEN", "").strip()
    missing = [n for n, v in (("BASE_URL", live), ("REPLICATE_API_TOKEN", token)) if not v]
    if missing:
        raise preflight.PreflightError(f"{' and '.join(missing)} not set; {HOW}")
    preflight.reach(live, verify)
    if args.mock is not None:
        preflight.reach(args.mock, verify)
    return live, verify


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        live_url, verify = check(args)
    except preflight.PreflightError as error:
        return preflight.refuse(PROG, error)
    if args.dry_run:
        for probe in PROBES:
            billed = " (billed)" if probe.billed else ""
            print(f"{probe.method:5} {probe.path:45} {probe.name}{billed}")
        return 0
    token = os.environ.get("REPLICATE_API_TOKEN", "").strip()
    mock_token = os.environ.get("IMAGEN_MOCK_TOKEN", "r8_mock")
    ledger = (
        Ledger(args.ledger)
        if args.ledger
        else Ledger.create(args.out / "budget-ledger.json", args.budget)
    )
    before = ledger.state().billed
    guarded = GuardedTransport(ledger, httpx.HTTPTransport(verify=verify))
    with (
        httpx.Client(transport=guarded, timeout=90.0) as live_client,
        httpx.Client(verify=verify, timeout=90.0) as mock_client,
        mock_url(args.mock) as mock_base,
    ):
        live, skipped = collect(Runner(live_url, token, live_client))
        mock, _ = collect(Runner(mock_base, mock_token, mock_client))
    differences = compare(live, mock, load_spec())
    state = ledger.state()
    created = state.billed - before
    billing = {"billed": created, "budget": state.limit, "skipped": skipped}
    markdown, report_json = write_report(
        args.out, differences, live, mock, live_url, mock_base, billing
    )
    print(markdown.read_text())
    print(f"billed predictions created on live: {created} (budget {state.limit})")
    if skipped:
        print(f"skipped (budget or missing prediction): {', '.join(skipped)}")
    if args.ledger is None:
        print(report(state))
    print(f"reports: {markdown} {report_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
