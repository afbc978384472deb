"""schemathesis hooks module: guards every request of the schemathesis process with the
run's budget ledger (named by ``IMAGEN_CONTRACT_LEDGER``).

Loaded through ``SCHEMATHESIS_HOOKS=contract_tests.support.budget_schemathesis``; see
:func:`contract_tests.support.budget_transports.guard_requests`. Without the variable it
refuses to load, so a live schemathesis run can never go unguarded by mistake.
"""

from __future__ import annotations

import os
from pathlib import Path

from contract_tests.support.budget import LEDGER_VAR, Ledger
from contract_tests.support.budget_transports import guard_requests

_path = os.environ.get(LEDGER_VAR, "").strip()
if not _path:
    raise RuntimeError(f"{LEDGER_VAR} is not set: no budget ledger to guard schemathesis with")
guard_requests(Ledger(Path(_path)))
