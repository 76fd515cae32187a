"""``smartsession doctor``'s checks that look at the network and the disk, per role.

Lab machine (agent): the hub is found and proves the class key (`check_hub`), and this
machine's clock is near the hub's (`check_clock`). Teacher's machine (hub): the port is free
or held by this very hub (`check_port`), its announcement is visible on its interface and no
other hub announces the class (`check_announcements`), the database folder is writable
with room to spare (`check_database`). Each returns `smartsession.doctor.Check` lines.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import sqlite3
import time

from smartsession.config import Config
from smartsession.doctor_types import FAIL, OK, WARN, Check

#: Free space below which the hub's database check fails, and warns, in bytes.
MIN_FREE = 50 * 1024 * 1024
LOW_FREE = 500 * 1024 * 1024
#: A status file not rewritten for this long is from an agent that is not running.
STATUS_FRESH = 10.0
#: Clock difference to the hub that warns (the hub refuses beyond ``hub.max_clock_skew``).
SKEW_WARNING = 30.0


def check_hub(config: Config) -> tuple[Check, float | None]:
    """The hub this agent would join: found, and proving the class key; plus the hub's clock offset.

    When this machine's agent is connected right now (its status file says so), it already
    passed both proofs and the probe is skipped: a second connection for the same student
    would replace the agent's own.
    """
    from smartsession.agent.probe import probe_hub
    from smartsession.agent.status import read_status, status_path
    from smartsession.keys import agent_identity

    status = read_status(status_path(config))
    if (
        status is not None
        and status.hub_url
        and time.time() - status.updated < STATUS_FRESH
        and (status.class_id, status.student_id) == (config.class_.id, config.student_id)
        and _alive(status.pid)
    ):
        detail = (
            f"this machine's agent (pid {status.pid}) is connected to {status.hub_url} and passed both "
            "proofs; not probing, which would replace its connection"
        )
        return Check("hub", OK, detail), status.clock_offset
    try:
        config, key = agent_identity(config)
    except Exception as exc:
        return Check("hub", FAIL, f"cannot prove this machine without its key: {exc}"), None
    probe = asyncio.run(probe_hub(config, key))
    return Check("hub", OK if probe.ok else FAIL, probe.detail), probe.clock_offset


def check_clock(config: Config, offset: float | None) -> Check:
    """This machine's clock against the hub's (from its hello)."""
    if offset is None:
        return Check("clock", WARN, "no hub answered, so the clock could not be compared with it")
    limit = config.hub.max_clock_skew
    side = "behind" if offset > 0 else "ahead of"
    text = f"this machine's clock is {abs(offset):.1f} s {side} the hub's"
    if abs(offset) > limit:
        return Check("clock", FAIL, f"{text}: the hub refuses telemetry beyond {limit:g} s; run NTP on both")
    if abs(offset) > SKEW_WARNING:
        return Check("clock", WARN, f"{text}; run NTP on both (the hub refuses beyond {limit:g} s)")
    return Check("clock", OK, text)


def hub_answers(config: Config, host: str, port: int) -> str:
    """The hub id a SmartSession hub of this class on ``host:port`` says hello with ("" when none)."""
    from smartsession.agent.connection import hello_hub_id, open_hub

    scheme = "wss" if config.network.tls else "ws"

    async def hello() -> str:
        try:
            async with asyncio.timeout(config.agent.connect_timeout):
                ws = await open_hub(f"{scheme}://{host}:{port}/", config.hub)
                try:
                    return hello_hub_id(ws.first_frame.result())
                finally:
                    await ws.close()
        except Exception:
            return ""

    return asyncio.run(hello())


def check_port(config: Config, hub_id: str) -> tuple[Check, bool]:
    """``hub.host``:``hub.port`` is free, or held by this hub; and whether this hub is running."""
    host, port = config.hub.host, config.hub.port
    if port == 0:
        return Check("port", OK, "hub.port = 0: any free port (announced through zeroconf)"), False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return Check("port", FAIL, f"cannot listen on {host}:{port}: {exc.strerror or exc}"), False
        else:
            return Check("port", OK, f"{host}:{port} is free"), False
    local = "127.0.0.1" if host in ("", "0.0.0.0") else host
    answered = hub_answers(config, local, port)
    if answered == hub_id:
        return Check("port", OK, f"{host}:{port} is held by this hub ({hub_id!r}), which is running"), True
    holder = f"hub {answered!r}" if answered else "another program"
    detail = f"{host}:{port} is used by {holder}; stop it or choose another hub.port for this hub"
    return Check("port", FAIL, detail), False


def check_announcements(config: Config, hub_id: str, running: bool) -> list[Check]:
    """This hub's advert is visible on its interfaces (when it runs), and no other hub announces the class."""
    from smartsession.agent.probe import find_candidates
    from smartsession.hub.rivals import rival_sentence

    if not config.network.discovery:
        return [Check("announcement", OK, "discovery is off: agents use agent.hub_url")]
    found = asyncio.run(find_candidates(config))
    adverts = [c.advert for c in found if c.advert is not None]
    own = [
        a
        for a in adverts
        if a.hub_id == hub_id and (not running or a.port == config.hub.port or config.hub.port == 0)
    ]
    others = [a for a in adverts if a not in own]
    where = ", ".join(config.network.interfaces) or "every IPv4 interface"
    checks = []
    if running and own:
        checks.append(
            Check("announcement", OK, f"hub {hub_id!r} is announced at {own[0].url}, seen on {where}")
        )
    elif running:
        checks.append(
            Check("announcement", FAIL, f"hub {hub_id!r} runs but its announcement is not seen on {where}")
        )
    else:
        checks.append(
            Check("announcement", WARN, "the hub is not running: start it to check its announcement")
        )
    if others:
        from smartsession.core.discovery import Candidate

        me = own[0] if own else None
        sentence = rival_sentence(
            config.class_.id,
            Candidate(me.url, me, hub_id=hub_id) if me else Candidate("", hub_id=hub_id),
            others,
        )
        checks.append(Check("other hubs", FAIL, sentence))
    else:
        checks.append(
            Check("other hubs", OK, f"no other hub announces class {config.class_.id!r} on {where}")
        )
    return checks


def check_database(config: Config) -> Check:
    """The database's folder is writable (a write is tried) and has room."""
    path = config.database_path
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    try:
        if path.exists():
            with sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=5.0) as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.rollback()
        else:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".smartsession-doctor"
            probe.write_bytes(b"")
            probe.unlink()
    except (OSError, sqlite3.Error) as exc:
        return Check("database", FAIL, f"{path} cannot be written: {exc}")
    room = f"{free / 1024 / 1024:,.0f} MB free"
    if free < MIN_FREE:
        return Check("database", FAIL, f"{path} is writable but its disk has only {room}")
    if free < LOW_FREE:
        return Check("database", WARN, f"{path} is writable; its disk has only {room}")
    return Check("database", OK, f"{path} is writable, {room}")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (the agent that wrote the status file is still running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process (the agent's service user)
    return True
