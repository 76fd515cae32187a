"""A real LAN on one machine: network namespaces joined by a bridge (needs root; CI runs as root).

Topology (a made-up subnet that exists only inside the namespaces; the bridge lives in its
own namespace, so the host's network is untouched)::

    bridge ns "<run>-br" (br0) --+-- teacher   10.213.7.1   (the hub)
                                 +-- teacher2  10.213.7.2   (a second hub)
                                 +-- s1        10.213.7.11  (agents)
                                 +-- s2        10.213.7.12
                                 +-- s3        10.213.7.13
                                 +-- observer  10.213.7.9   (avahi, a third-party mDNS peer)

Every name carries a per-run suffix; namespaces and processes are removed in teardown, also
when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import wait_for, write_agent_key

from smartsession.config import write_secret

SUBNET = "10.213.7"
HOSTS = {"teacher": f"{SUBNET}.1", "teacher2": f"{SUBNET}.2", "observer": f"{SUBNET}.9"} | {
    f"s{i}": f"{SUBNET}.{10 + i}" for i in (1, 2, 3)
}
STUDENTS = ("s1", "s2", "s3")
CLASS_ID = "lan-class"
HUB_ID = "lan-hub"
HUB_PORT = 8765
TOOLS = ("ip", "dbus-daemon", "avahi-daemon", "avahi-browse", "avahi-publish", "tcpdump")


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=check)


@dataclass
class Lan:
    """The namespaces of one run and the processes started in them."""

    folder: Path
    tag: str = field(default_factory=lambda: f"ss{os.getpid() % 10000}{secrets.token_hex(2)}")
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"{self.tag}-br"

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def build(self) -> None:
        run("ip", "netns", "add", self.bridge)
        self.namespaces.append(self.bridge)
        run("ip", "-n", self.bridge, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.bridge, "link", "set", "br0", "up")
        for host, address in HOSTS.items():
            ns = self.ns(host)
            run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            # IPv4 only: no router solicitations or MLD reports muddying the capture.
            run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            veth = f"v-{host}"
            run(
                "ip",
                "-n",
                self.bridge,
                "link",
                "add",
                veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            run("ip", "-n", self.bridge, "link", "set", veth, "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")

    def mac(self, host: str) -> str:
        info = json.loads(run("ip", "-n", self.ns(host), "-j", "link", "show", "eth0").stdout)
        return str(info[0]["address"]).lower()

    def start(
        self, host: str, *args: str, log: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Run ``args`` inside ``host``'s namespace (its own process group), output to ``log``."""
        out = open(self.folder / log, "ab")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(host), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        out.close()
        self.processes.append(process)
        return process

    def smartsession(self, host: str, *args: str, log: str) -> subprocess.Popen[bytes]:
        return self.start(
            host,
            sys.executable,
            "-m",
            "smartsession",
            "--log-file",
            str(self.folder / log),
            *args,
            log=f"{log}.out",
        )

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        """Signal one process group we started, then wait (kill it if it lingers)."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        else:
            with contextlib.suppress(ProcessLookupError):  # leftovers of its group
                os.killpg(process.pid, signal.SIGKILL)

    def teardown(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                self.stop(process)
        for ns in reversed(self.namespaces):
            run("ip", "netns", "del", ns, check=False)

    def logs(self) -> str:
        parts = []
        for path in sorted(self.folder.glob("*.log*")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2500:]}")
        return "\n".join(parts)

    # SmartSession configs ---------------------------------------------------------------

    def teacher_config(
        self,
        name: str,
        *,
        class_id: str = CLASS_ID,
        port: int = HUB_PORT,
        discovery: bool = True,
        host: str = "teacher",
        hub_id: str = HUB_ID,
    ) -> Path:
        path = self.folder / name
        path.write_text(
            f'[class]\nid = "{class_id}"\nsecret_file = "class.secret"\n'
            f'[network]\ninterfaces = ["{HOSTS[host]}"]\ndiscovery = {str(discovery).lower()}\n'
            f'[hub]\nhost = "{HOSTS[host]}"\nport = {port}\nhub_id = "{hub_id}"\n'
            f'tls_dir = "{path.stem}-tls"\nping_interval = 1.0\nping_timeout = 3.0\n'
            f'[storage]\ndatabase = "{path.stem}.db"\n'
        )
        return path

    def agent_config(self, host: str, student_id: str, *, class_id: str = CLASS_ID) -> Path:
        path = self.folder / f"{student_id}.toml"
        write_agent_key(self.folder, class_id, student_id, f"{student_id}.{class_id}.key")
        path.write_text(
            f'[class]\nid = "{class_id}"\n'
            f'[network]\ninterfaces = ["{HOSTS[host]}"]\n'
            f'[agent]\nstudent_id = "{student_id}"\nkey_file = "{student_id}.{class_id}.key"\n'
            "reconnect_initial = 0.2\nreconnect_max = 1.0\n"
            # outbox and pinned hubs in this run's folder, not the user's data folder
            f'outbox_path = "{student_id}.outbox.sqlite"\n'
        )
        return path

    def start_agent(self, host: str, student_id: str, *, class_id: str = CLASS_ID) -> subprocess.Popen[bytes]:
        config = self.agent_config(host, student_id, class_id=class_id)
        return self.smartsession(
            host,
            "agent",
            "-c",
            str(config),
            "--simulate",
            "attentive",
            "--seed",
            "1",
            log=f"{student_id}.log",
        )

    def hub_log_value(self, log: str, pattern: str, timeout: float = 30.0) -> str:
        """The first group of ``pattern`` in a log file, once it appears."""
        found: list[str] = []

        def search() -> bool:
            path = self.folder / log
            match = re.search(pattern, path.read_text(errors="replace")) if path.exists() else None
            if match:
                found.append(match.group(1))
            return bool(match)

        wait_for(search, timeout, f"{pattern!r} in {log}", self.logs)
        return found[0]

    # avahi: a third-party mDNS peer with a private system bus ---------------------------

    def start_avahi(self, host: str) -> dict[str, str]:
        """Start dbus-daemon + avahi-daemon in ``host`` (own mount namespace); returns the env to talk to it."""
        folder = self.folder / f"avahi-{host}"
        folder.mkdir()
        bus = folder / "bus"
        (folder / "dbus.conf").write_text(
            '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            "<busconfig>\n  <type>system</type>\n"
            f"  <listen>unix:path={bus}</listen>\n  <auth>EXTERNAL</auth>\n"
            '  <policy context="default">\n    <allow user="*"/>\n    <allow own="*"/>\n'
            '    <allow send_destination="*"/>\n    <allow receive_sender="*"/>\n'
            "  </policy>\n</busconfig>\n"
        )
        (folder / "avahi.conf").write_text(
            f"[server]\nhost-name={host}\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=eth0\n"
            "enable-dbus=yes\nratelimit-interval-usec=1000000\nratelimit-burst=1000\n"
            "[wide-area]\nenable-wide-area=no\n"
            "[publish]\npublish-hinfo=no\npublish-workstation=no\npublish-aaaa-on-ipv4=no\n"
        )
        env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={bus}"}
        # avahi's pid file path is fixed (/run/avahi-daemon): a private /run per daemon.
        script = (
            "mount -t tmpfs tmpfs /run && "
            f"dbus-daemon --config-file={folder / 'dbus.conf'} --nofork --nopidfile & "
            f"for i in $(seq 100); do [ -S {bus} ] && break; sleep 0.05; done; "
            f"exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f {folder / 'avahi.conf'}"
        )
        self.start(
            host,
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            log=f"avahi-{host}.log",
            env=env,
        )
        wait_for(
            lambda: (
                "Server startup complete" in (self.folder / f"avahi-{host}.log").read_text(errors="replace")
            ),
            20,
            f"avahi-daemon in {host}",
            self.logs,
        )
        return env


@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lan]:
    if os.geteuid() != 0:
        pytest.fail(
            "the LAN tests build network namespaces and need root (CI runs them as root); "
            "run them with sudo, or deselect tests/lan"
        )
    missing = [
        tool
        for tool in TOOLS
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode
    ]
    if missing:
        pytest.fail(
            f"the LAN tests need {', '.join(missing)}: run scripts/setup as root (scripts/system-packages)"
        )
    folder = tmp_path_factory.mktemp("lan")
    write_secret(folder / "class.secret")
    network = Lan(folder)
    try:
        network.build()
        yield network
    finally:
        network.teardown()


@dataclass(frozen=True)
class Packet:
    src_mac: str
    ethertype: int
    src_ip: str = ""
    dst_ip: str = ""
    proto: int = -1
    src_port: int = -1
    dst_port: int = -1
    payload: bytes = b""


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def read_pcap(path: Path) -> list[Packet]:
    data = path.read_bytes()
    if len(data) < 24:
        return []
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, f"expected an Ethernet capture, got link type {linktype}"
    packets: list[Packet] = []
    offset = 24
    while offset + 16 <= len(data):
        incl = struct.unpack(endian + "IIII", data[offset : offset + 16])[2]
        frame = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        if len(frame) < incl or len(frame) < 14:
            break  # a record still being written
        ethertype = struct.unpack("!H", frame[12:14])[0]
        src_mac = _mac(frame[6:12])
        if ethertype != 0x0800 or len(frame) < 34:
            packets.append(Packet(src_mac, ethertype))
            continue
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        proto = ip[9]
        total = struct.unpack("!H", ip[2:4])[0] or len(ip)
        body = ip[header:total]
        src_port = dst_port = -1
        payload = body
        if proto in (6, 17) and len(body) >= 8:
            src_port, dst_port = struct.unpack("!HH", body[:4])
            payload = body[(body[12] >> 4) * 4 :] if proto == 6 and len(body) >= 20 else body[8:]
        packets.append(
            Packet(src_mac, ethertype, _ip(ip[12:16]), _ip(ip[16:20]), proto, src_port, dst_port, payload)
        )
    return packets
