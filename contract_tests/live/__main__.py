"""``make contract``: the contract suite against a live API, then the drift report.

    python -m contract_tests.live --base-url https://api.replicate.com/v1 [--budget 2] [--dry-run]

The token is read from ``REPLICATE_API_TOKEN`` only, and never printed or written. The
budget caps predictions created across the whole run: every request of the suite, of
schemathesis and of the drift report passes one budget guard (one ledger file,
``budget-ledger.json``), which counts every 2xx create as billed whatever it was meant
to be, cancels an unexpected one at once, and refuses to send any create once the budget
is spent. The run ends by printing what it created (ids, statuses, cancels). Outputs go
to ``artifacts/contract/``: JUnit XML of the suite and of schemathesis, the drift report
(``drift.md``, ``drift.json``) with the recorded exchanges, and the ledger.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from contract_tests import preflight
from contract_tests.drift import __main__ as drift
from contract_tests.drift.probes import PROBES
from contract_tests.support.budget import LEDGER_VAR, Ledger, report

PROG = "python -m contract_tests.live"
HOW = (
    "usage: REPLICATE_API_TOKEN=r8_... make contract BASE_URL=https://api.replicate.com/v1 "
    "(a reseller: BASE_URL=https://HOST/replicate/v1; add BUDGET=N to cap billed "
    "predictions, DRY_RUN=1 to list what would be sent)"
)
SUITE = [
    ("GET", "/predictions", "no token: the documented 401 body"),
    ("GET", "/predictions/<unknown>", "404 problem"),
    (
        "POST",
        "/models/google/imagen-4-ultra/predictions",
        "3 invalid creates: 422 (billed if 2xx, then canceled)",
    ),
    ("POST", "/models/google/imagen-4-ultra/predictions", "1 create, polled to its image (billed)"),
    ("*", "get, cancel, list", "schemathesis, every check, 20 examples each, 40 req/s at most"),
]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = preflight.OneLineParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--base-url", default=os.environ.get("IMAGEN_CONTRACT_BASE_URL", ""))
    parser.add_argument("--budget", type=int, default=os.environ.get("IMAGEN_CONTRACT_BUDGET", "2"))
    parser.add_argument("--out", type=Path, default=Path("artifacts/contract"))
    parser.add_argument(
        "--ca-file",
        type=Path,
        default=Path(os.environ["IMAGEN_CONTRACT_CA_FILE"])
        if os.environ.get("IMAGEN_CONTRACT_CA_FILE")
        else None,
    )
    parser.add_argument("--dry-run", action="store_true")
    return parser.parse_args(argv)


def check(args: argparse.Namespace) -> str:
    """The base URL, once every argument holds and the host answers.

    Raises:
        preflight.PreflightError: naming the first argument or condition that does not hold.
    """
    preflight.budget(args.budget)
    verify = preflight.tls(args.ca_file)
    given = args.base_url.strip()
    base_url = preflight.base_url(given, "BASE_URL") if given else ""
    if args.dry_run:
        return base_url
    token = os.environ.get("REPLICATE_API_TOKEN", "").strip()
    missing = [n for n, v in (("BASE_URL", base_url), ("REPLICATE_API_TOKEN", token)) if not v]
    if missing:
        raise preflight.PreflightError(f"{' and '.join(missing)} not set; {HOW}")
    preflight.reach(base_url, verify)
    return base_url


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        base_url = check(args)
    except preflight.PreflightError as error:
        return preflight.refuse(PROG, error)
    if args.dry_run:
        print(f"would send to {base_url or '<BASE_URL>'} (budget {args.budget} billed):")
        for method, path, what in SUITE:
            print(f"  suite  {method:5} {path:45} {what}")
        for probe in PROBES:
            billed = " (billed)" if probe.billed else ""
            print(f"  drift  {probe.method:5} {probe.path:45} {probe.name}{billed}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.create(args.out / "budget-ledger.json", args.budget)
    env = {
        **os.environ,
        "IMAGEN_CONTRACT_BASE_URL": base_url,
        "IMAGEN_CONTRACT_BUDGET": str(args.budget),
        LEDGER_VAR: str(ledger.path),
        "IMAGEN_CONTRACT_REPORTS": str(args.out),
    }
    if args.ca_file:
        env["IMAGEN_CONTRACT_CA_FILE"] = str(args.ca_file)
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "contract_tests/live", "-q", "-rs", "-p", "no:cacheprovider",
         f"--junitxml={args.out / 'junit.xml'}"],
        env=env, check=False,
    )  # fmt: skip
    drift_args = ["--live", base_url, "--out", str(args.out), "--ledger", str(ledger.path)]
    if args.ca_file:
        drift_args += ["--ca-file", str(args.ca_file)]
    drift_code = drift.main(drift_args)
    state = ledger.state()
    print(report(state))
    print(f"contract run: suite exit {suite.returncode}, drift exit {drift_code}; "
          f"billed predictions {state.billed} of budget {args.budget}; reports in {args.out}/")  # fmt: skip
    unexpected = any(not item.expected for item in state.created)
    return suite.returncode or drift_code or (1 if unexpected else 0)


if __name__ == "__main__":
    raise SystemExit(main())
