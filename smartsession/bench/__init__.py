"""``smartsession bench NAME``: benchmarks that print JSON, with ratios against a baseline
measured in the same run (these machines are shared and noisy; absolute times are not comparable).

Each benchmark is a module ``smartsession.bench.<name>`` with ``main(argv) -> int``.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "hub": "hub ingest and latency against a bare websockets+JSON server",
    "agent": "agent pipeline CPU per frame against a bare FaceLandmarker",
    "tui": "class view CPU and key-to-screen latency with simulated students",
    "abuse": "honest joins, memory and losses while floods without any secret hit the hub",
    "vision": "false faces, recall by face size and face counts on a labelled face-presence set",
    "identity": "seat check: CPU per check, same-person and different-people face distances",
    "school": "hubs replicating to PostgreSQL: rows/s, lag, hub CPU, losses, catch-up after an outage",
}


def main(argv: list[str]) -> int:
    """Run the benchmark named by ``argv[0]`` with the rest of the arguments."""
    if not argv or argv[0] not in BENCHMARKS:
        lines = [f"  {name:<8} {text}" for name, text in BENCHMARKS.items()]
        print("usage: smartsession bench NAME [options]\n\nbenchmarks:\n" + "\n".join(lines), file=sys.stderr)
        return 2
    module = importlib.import_module(f"smartsession.bench.{argv[0]}")
    code: int = module.main(argv[1:])
    return code
