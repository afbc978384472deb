"""Tells a test how many Python objects a server process holds (test support only).

A process started with this folder on ``PYTHONPATH`` and :data:`VARIABLE` naming a
directory imports this module at start (as ``sitecustomize``), and so does every
worker forked from it: each runs a thread that, when ``<directory>/ask-<pid>``
appears, collects garbage and writes ``sys.getallocatedblocks()`` (the blocks the
interpreter's allocator has handed out and not had back) to
``<directory>/blocks-<pid>``. Leaked objects stay allocated; memory an allocator keeps
for reuse does not count. Without the variable, nothing happens.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from pathlib import Path

VARIABLE = "WORKER_PROBE_DIR"
#: How often the thread looks for a question.
POLL_SECONDS = 0.05


def _answer(directory: Path) -> None:
    pid = os.getpid()
    ask = directory / f"ask-{pid}"
    answer = directory / f"blocks-{pid}"
    while True:
        if ask.exists():
            gc.collect()
            partial = directory / f".blocks-{pid}"
            partial.write_text(str(sys.getallocatedblocks()))
            partial.replace(answer)
            ask.unlink()
        time.sleep(POLL_SECONDS)


def _start() -> None:
    directory = Path(os.environ[VARIABLE])
    threading.Thread(target=_answer, args=(directory,), name="worker-probe", daemon=True).start()


if os.environ.get(VARIABLE):
    _start()
    os.register_at_fork(after_in_child=_start)
