"""What native code writes to fd 2 goes to the debug log; Python's own stderr still reaches the terminal."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import logging, os, sys
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
from smartsession.vision.native_log import native_stderr_to_log
with native_stderr_to_log():
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
    print("python says hello", file=sys.stderr)
    logging.getLogger("smartsession.test").warning("a warning of ours")
os.write(2, b"after: straight to the terminal\\n")
"""


def run(level: str) -> str:
    code = CODE.replace("level=logging.DEBUG", f"level=logging.{level}")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stderr


def test_native_lines_become_debug_records() -> None:
    lines = run("DEBUG").splitlines()
    assert "DEBUG smartsession.native: INFO: Created TensorFlow Lite XNNPACK delegate for CPU." in lines
    assert "python says hello" in lines
    assert "WARNING smartsession.test: a warning of ours" in lines
    assert lines[-1] == "after: straight to the terminal"
    assert not any(line.startswith("INFO: Created") for line in lines)


def test_without_debug_they_are_gone() -> None:
    lines = run("INFO").splitlines()
    assert lines == [
        "python says hello",
        "WARNING smartsession.test: a warning of ours",
        "after: straight to the terminal",
    ]
