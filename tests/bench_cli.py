"""Running ``smartsession bench ...`` as a user would: a real subprocess, its output as text."""

from __future__ import annotations

import subprocess
import sys


def run_bench(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m smartsession bench *args``; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "smartsession", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
