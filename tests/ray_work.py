"""What the Ray tests run on Ray: stdlib only, importable by Ray workers, runnable as a job.

Each run leaves lines in a trace file, so a test can see when it started, that it kept
working, whether it was interrupted and whether it finished.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any


def note(trace: str, line: str) -> None:
    with Path(trace).open("a") as fh:
        fh.write(line + "\n")


def tick(trace: str, seconds: float) -> dict[str, Any]:
    """Work for ``seconds``, writing a tick every 0.1 s; 'interrupted' if cancelled."""
    started = time.time()
    note(trace, f"start {os.getpid()}")
    try:
        while time.time() - started < seconds:
            note(trace, "tick")
            time.sleep(0.1)
    except KeyboardInterrupt:  # ray.cancel interrupts the task this way
        note(trace, "interrupted")
        raise
    note(trace, f"done {os.getpid()}")
    return {"start": started, "end": time.time(), "pid": os.getpid()}


def fail(message: str) -> None:
    raise ValueError(message)


def not_json() -> object:
    return {1, 2, 3}


if __name__ == "__main__":  # a Ray Job's entrypoint: ray_work.py TRACE SECONDS
    trace, seconds = sys.argv[1], float(sys.argv[2])
    note(trace, f"job start {os.getpid()}")
    time.sleep(seconds)
    note(trace, "job done")
    print("job result 42")
