"""Several hubs on one (namespaced) LAN: one class never splits, two classes never mix.

Real ``smartsession hub`` and ``smartsession agent`` processes in their own network
namespaces, finding each other only through mDNS across the bridge.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from subprocess import Popen

from helpers import stored_seqs, wait_for

from .conftest import CLASS_ID, HOSTS, Lan

PORT = 8770


@contextmanager
def running(lan: Lan) -> Iterator[list[Popen[bytes]]]:
    """Processes started in the block are stopped at its end, agents first."""
    processes: list[Popen[bytes]] = []
    try:
        yield processes
    finally:
        for process in reversed(processes):
            lan.stop(process)


def log_of(lan: Lan, name: str) -> str:
    path = lan.folder / name
    return path.read_text(errors="replace") if path.exists() else ""


def test_a_second_hub_for_the_class_is_reported_by_both_and_gets_no_agent(lan: Lan) -> None:
    first = lan.teacher_config("one-a.toml", host="teacher", hub_id="hub-a", port=PORT)
    second = lan.teacher_config("one-a2.toml", host="teacher2", hub_id="hub-a2", port=PORT)
    db_first, db_second = lan.folder / "one-a.db", lan.folder / "one-a2.db"
    with running(lan) as processes:
        processes.append(lan.smartsession("teacher", "hub", "-c", str(first), log="one-a.log"))
        lan.hub_log_value("one-a.log", r"listening on (wss://[^\s\"]+)")
        time.sleep(0.1)  # hub-a's session starts first by any clock
        processes += [lan.start_agent("s1", "one-s1"), lan.start_agent("s2", "one-s2")]
        wait_for(
            lambda: {"one-s1", "one-s2"} <= set(stored_seqs(db_first)),
            60,
            "the first two agents on hub-a",
            lan.logs,
        )
        processes.append(lan.smartsession("teacher2", "hub", "-c", str(second), log="one-a2.log"))
        # Both hubs say so at once, naming the other hub and its host.
        wait_for(
            lambda: (
                f"hub 'hub-a2' at {HOSTS['teacher2']}:{PORT}" in log_of(lan, "one-a.log")
                and f"hub 'hub-a' at {HOSTS['teacher']}:{PORT}" in log_of(lan, "one-a2.log")
            ),
            30,
            "both hubs to report the other",
            lan.logs,
        )
        assert f"another hub announces class {CLASS_ID!r}" in log_of(lan, "one-a.log")
        assert "agents join this hub, which started first" in log_of(lan, "one-a.log")
        assert "agents join hub 'hub-a', not this one" in log_of(lan, "one-a2.log")
        # An agent started now sees both hubs and joins the one the others are on.
        processes.append(lan.start_agent("s3", "one-s3"))
        wait_for(lambda: "one-s3" in stored_seqs(db_first), 60, "the later agent on hub-a", lan.logs)
        time.sleep(2.0)  # time enough to have joined the second hub too, had it chosen it
        assert set(stored_seqs(db_first)) == {"one-s1", "one-s2", "one-s3"}
        assert stored_seqs(db_second) == {}
        assert "joined from" not in log_of(lan, "one-a2.log")
        assert re.search(r"joined hub 'wss://10\.213\.7\.1:8770/'", log_of(lan, "one-s3.log")), log_of(
            lan, "one-s3.log"
        )


def test_two_classes_on_one_lan_each_get_only_their_agents(lan: Lan) -> None:
    room_a = lan.teacher_config("two-a.toml", host="teacher", hub_id="room-a", port=PORT + 1)
    room_b = lan.teacher_config(
        "two-b.toml", host="teacher2", hub_id="room-b", port=PORT + 1, class_id="other-class"
    )
    with running(lan) as processes:
        processes.append(lan.smartsession("teacher", "hub", "-c", str(room_a), log="two-a.log"))
        processes.append(lan.smartsession("teacher2", "hub", "-c", str(room_b), log="two-b.log"))
        processes += [
            lan.start_agent("s1", "two-s1"),
            lan.start_agent("s2", "two-s2", class_id="other-class"),
            lan.start_agent("s3", "two-s3", class_id="other-class"),
        ]
        wait_for(
            lambda: (
                set(stored_seqs(lan.folder / "two-a.db")) == {"two-s1"}
                and set(stored_seqs(lan.folder / "two-b.db")) == {"two-s2", "two-s3"}
            ),
            60,
            "each class's agents on its own hub",
            lan.logs,
        )
        time.sleep(1.0)
        assert set(stored_seqs(lan.folder / "two-a.db")) == {"two-s1"}
        assert set(stored_seqs(lan.folder / "two-b.db")) == {"two-s2", "two-s3"}
        for log in ("two-a.log", "two-b.log"):
            assert "another hub announces" not in log_of(lan, log), log
