"""SmartSession on a real (namespaced) LAN: mDNS across a bridge, avahi as a third-party peer,
and a packet capture that shows what a student machine sends.

The hub runs with its defaults (TLS on), in the teacher's namespace; agents run in the
student namespaces and find it only through mDNS.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import stored_seqs, wait_for

from smartsession.core.protocol import PROTOCOL_VERSION

from .conftest import (
    CLASS_ID,
    HOSTS,
    HUB_ID,
    HUB_PORT,
    STUDENTS,
    Lan,
    Packet,
    read_pcap,
)

#: Items each student must have stored before the run counts as streaming.
ENOUGH = 4
#: Magic numbers of image formats that must never appear on the wire.
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"RIFF", b"BM6", b"\x00\x00\x00\x0cjP")
MDNS_PORT = 5353


@dataclass
class ClassRun:
    """A hub in the teacher namespace, one agent per student namespace, and a capture on br0."""

    lan: Lan
    db: Path
    pcap: Path
    capture: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def class_run(lan: Lan) -> Iterator[ClassRun]:
    pcap = lan.folder / "br0.pcap"
    capture = lan.start(
        "br", "tcpdump", "-i", "br0", "-n", "-U", "-s", "0", "-w", str(pcap), log="tcpdump.log"
    )
    wait_for(lambda: pcap.exists(), 10, "tcpdump to start", lan.logs)
    config = lan.teacher_config("teacher.toml")
    hub = lan.smartsession("teacher", "hub", "-c", str(config), log="hub.log")
    agents = [lan.start_agent(host, host) for host in STUDENTS]
    db = lan.folder / "teacher.db"
    wait_for(
        lambda: all(len(stored_seqs(db).get(s, [])) >= ENOUGH for s in STUDENTS),
        60,
        "samples from every student host",
        lambda: f"stored: {stored_seqs(db)}\n{lan.logs()}",
    )
    try:
        yield ClassRun(lan, db, pcap, capture)
    finally:
        for agent in agents:
            lan.stop(agent)
        lan.stop(hub)
        lan.stop(capture)


def test_agents_on_three_hosts_find_the_hub_by_mdns_and_stream(class_run: ClassRun) -> None:
    seqs = stored_seqs(class_run.db)
    for student in STUDENTS:
        assert len(seqs[student]) >= ENOUGH, seqs
        assert len(seqs[student]) == len(set(seqs[student]))
        assert sorted(seqs[student])[0] == 1
    log = (class_run.lan.folder / "hub.log").read_text()
    for student in STUDENTS:
        # Each joined from its own host address, over TLS (the default).
        assert re.search(rf"student '{student}'.* joined from '{re.escape(HOSTS[student])}'", log), log
    assert "wss://" in log


def avahi_records(lan: Lan, host: str, env: dict[str, str]) -> list[list[str]]:
    """Resolved ``_smartsession._tcp`` records as avahi-browse parses them (-p: ';'-separated)."""
    done = lan.folder / f"browse-{host}.txt"
    process = lan.start(host, "avahi-browse", "-rpt", "_smartsession._tcp", log=done.name, env=env)
    process.wait(30)
    lines = done.read_text(errors="replace").splitlines()
    done.unlink()
    return [line.split(";") for line in lines if line.startswith("=;")]


def test_avahi_browse_sees_the_hub_advert_with_its_txt(class_run: ClassRun) -> None:
    lan = class_run.lan
    env = lan.start_avahi("observer")
    found: list[list[str]] = []

    def browse() -> bool:
        found[:] = [r for r in avahi_records(lan, "observer", env) if len(r) >= 10]
        return bool(found)

    wait_for(browse, 30, "avahi-browse to resolve the hub", lan.logs)
    record = found[0]
    # =;iface;protocol;name;type;domain;host;address;port;txt
    assert record[1] == "eth0" and record[2] == "IPv4"
    assert record[4] == "_smartsession._tcp"
    assert record[7] == HOSTS["teacher"]
    assert int(record[8]) == HUB_PORT
    txt = dict(item.strip('"').split("=", 1) for item in re.findall(r'"[^"]*"', record[9]))
    assert txt["proto"] == str(PROTOCOL_VERSION)
    assert txt["class"] == CLASS_ID
    assert txt["hub"] == HUB_ID
    assert txt["tls"] == "1"
    fingerprint = lan.hub_log_value("hub.log", r"fingerprint \(SHA-256\) ([0-9a-f]{64})")
    assert txt["fp"] == fingerprint


def test_student_hosts_send_only_mdns_and_hub_traffic_and_no_images(class_run: ClassRun) -> None:
    lan = class_run.lan
    lan.stop(class_run.capture, signal.SIGINT)  # flushes and closes the file
    packets = read_pcap(class_run.pcap)
    students = {HOSTS[s]: s for s in STUDENTS}
    student_macs = {lan.mac(s): s for s in STUDENTS}
    hub = (HOSTS["teacher"], HUB_PORT)
    seen: dict[str, dict[str, int]] = {
        s: {"mdns": 0, "hub": 0, "hub_bytes": 0, "igmp": 0, "arp": 0} for s in STUDENTS
    }
    strangers: list[Packet] = []
    for packet in packets:
        student = student_macs.get(packet.src_mac) or students.get(packet.src_ip)
        if student is None:
            continue
        for magic in IMAGE_MAGIC:
            assert magic not in packet.payload, f"image magic {magic!r} in a packet from {student}"
        counts = seen[student]
        if packet.ethertype == 0x0806:
            counts["arp"] += 1
        elif packet.proto == 17 and packet.dst_port == MDNS_PORT and packet.dst_ip == "224.0.0.251":
            counts["mdns"] += 1
        elif packet.proto == 17 and packet.dst_port == MDNS_PORT and packet.src_port == MDNS_PORT:
            counts["mdns"] += 1  # a unicast mDNS answer
        elif packet.proto == 6 and (packet.dst_ip, packet.dst_port) == hub:
            counts["hub"] += 1
            counts["hub_bytes"] += len(packet.payload)
        elif packet.proto == 2 and packet.dst_ip.startswith("224.0.0."):
            counts["igmp"] += 1  # joining the mDNS multicast group
        else:
            strangers.append(packet)
    assert not strangers, f"unexpected packets from student hosts: {strangers[:5]}"
    items = stored_seqs(class_run.db)
    for student, counts in seen.items():
        assert counts["mdns"] > 0, (student, counts)
        assert counts["hub"] > 0, (student, counts)
        # Telemetry-sized: the TLS and join handshake plus well under 2 KiB per stored item
        # (one 640x480 JPEG would be about 30 KiB).
        assert counts["hub_bytes"] <= 8192 + 2048 * len(items[student]), (student, counts)
    # And the capture is real: the hub answered on the wire too.
    assert any(p.src_ip == HOSTS["teacher"] and p.src_port == HUB_PORT for p in packets)


def test_an_agent_finds_a_hub_announced_by_avahi_publish(lan: Lan) -> None:
    class_id = "avahi-class"
    config = lan.teacher_config("avahi-hub.toml", class_id=class_id, port=HUB_PORT + 1, discovery=False)
    hub = lan.smartsession("teacher", "hub", "-c", str(config), log="avahi-hub.log")
    agent = None
    publisher = None
    try:
        fingerprint = lan.hub_log_value("avahi-hub.log", r"fingerprint \(SHA-256\) ([0-9a-f]{64})")
        lan.hub_log_value("avahi-hub.log", r"listening on (wss?://[^\s\"]+)")
        env = lan.start_avahi("teacher")
        txt = [
            f"proto={PROTOCOL_VERSION}",
            f"class={class_id}",
            f"hub={HUB_ID}",
            "tls=1",
            f"fp={fingerprint}",
        ]
        publisher = lan.start(
            "teacher",
            "avahi-publish", "-s", "SmartSession by avahi", "_smartsession._tcp", str(HUB_PORT + 1), *txt,
            log="avahi-publish.log", env=env,
        )  # fmt: skip
        wait_for(
            lambda: (
                "Established under name" in (lan.folder / "avahi-publish.log").read_text(errors="replace")
            ),
            20,
            "avahi-publish to establish the service",
            lan.logs,
        )
        agent = lan.start_agent("s1", "s1-avahi", class_id=class_id)
        db = lan.folder / "avahi-hub.db"
        wait_for(
            lambda: len(stored_seqs(db).get("s1-avahi", [])) >= 2,
            60,
            "the agent to find the avahi-published hub and stream",
            lambda: f"stored: {stored_seqs(db)}\n{lan.logs()}",
        )
    finally:
        for process in (agent, publisher, hub):
            if process is not None:
                lan.stop(process)
