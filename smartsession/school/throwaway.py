"""A throwaway PostgreSQL server for the tests and ``smartsession bench school``.

`ThrowawayPostgres` runs Debian's ``postgresql`` binaries on a cluster in a temporary
folder: ``initdb`` (as the ``postgres`` user when running as root, since initdb refuses
root), then ``pg_ctl start`` with ``listen_addresses = ''`` (no TCP port at all) and the Unix
socket in that folder. The superuser ``ss`` connects without a password; every other role
must give its password (scram-sha-256), so a wrong password is refused as on a real server.
`stop` and `start` again keep the data (a server that went away and came back); `destroy`
stops it and deletes the folder.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from smartsession.errors import SchoolError

#: The superuser of a throwaway cluster.
ADMIN = "ss"
#: Seconds ``pg_ctl`` may take to start or stop the server.
PG_CTL_TIMEOUT = 60


def server_binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl`` (the newest Debian PostgreSQL, else the PATH's)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise SchoolError(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed: install the Debian package "
        "postgresql (scripts/setup does)"
    )


def _version_key(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder, reachable only through its Unix socket.

    Call `start` (or use ``with``); `url` gives connection URLs; `stop` / `start` take the
    server away and back; `destroy` removes everything. ``durable=False`` turns off fsync
    (tests: faster, and nothing here must survive a power cut).
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.folder = Path(tempfile.mkdtemp(prefix="ss-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._bin = server_binaries()
        self._as_postgres = os.geteuid() == 0
        self._initialised = False
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        os.chmod(self.folder, 0o700)

    def url(self, user: str = ADMIN, database: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``user`` on ``database`` through the Unix socket."""
        return (
            f"postgresql://{quote(user, safe='')}@/{quote(database, safe='')}?host={quote(str(self.folder))}"
        )

    def start(self) -> None:
        """Create the cluster on first use, then start the server and wait until it accepts connections."""
        if not self._initialised:
            self._run(
                self._bin / "initdb",
                "-D",
                str(self.data),
                "-U",
                ADMIN,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            hba = self.data / "pg_hba.conf"
            hba.write_text(f"local all {ADMIN} trust\nlocal all all scram-sha-256\n")
            self._initialised = True
        options = [
            "-c listen_addresses=''",
            f"-c unix_socket_directories='{self.folder}'",
            "-c max_connections=200",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            self._bin / "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            " ".join(options),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(PG_CTL_TIMEOUT),
            "start",
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed); the data stays."""
        if (self.data / "postmaster.pid").exists():
            self._run(
                self._bin / "pg_ctl",
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "-t",
                str(PG_CTL_TIMEOUT),
                "stop",
            )

    def destroy(self) -> None:
        """Stop the server and delete its folder."""
        with contextlib.suppress(SchoolError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: Path, *args: str) -> None:
        command = [str(program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PG_CTL_TIMEOUT + 30, check=False, cwd=self.folder
        )
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise SchoolError(
                f"{program.name} failed ({done.returncode}): {detail[-1] if detail else 'no output'}"
            )

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()
