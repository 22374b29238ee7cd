"""A private PostgreSQL cluster for one bench run, which the run may crash and restart at will.

`initdb` into a temporary directory (the newest Debian PostgreSQL, /usr/lib/postgresql/<version>/bin), a free
loopback port, trust on 127.0.0.1 only, the unix socket in that directory, fsync and synchronous_commit on so
that a crash loses nothing that was committed. Run as the `postgres` OS user when we are root (initdb and
postgres refuse root). Stopped and removed on leaving the `with` block, whatever ended it.

    with PgCluster() as cluster:
        url = cluster.create_database("chaos")
        cluster.restart(mode="immediate")  # a crash: the next start runs crash recovery
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from common import free_port, wait_for

OS_USER = "postgres"
SUPERUSER = "postgres"
RECOVERY = "automatic recovery in progress"  # logged by a start after a crash or an immediate shutdown


def bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin, else the directory of the initdb on the PATH."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if found:
        return max(found, key=lambda b: tuple(int(x) for x in b.parent.name.split(".") if x.isdigit()))
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL server binaries: neither /usr/lib/postgresql/*/bin nor initdb on the PATH")
    return Path(initdb).parent


class PgCluster:
    """A throwaway PostgreSQL server on 127.0.0.1:<free port>; data, log and socket in one temporary directory."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.version = self.bin.parent.name
        self.port = free_port()
        self.directory: Path | None = None

    @property
    def data(self) -> Path:
        assert self.directory is not None, "the cluster was not initialised"
        return self.directory / "data"

    @property
    def log(self) -> Path:
        assert self.directory is not None, "the cluster was not initialised"
        return self.directory / "postgres.log"

    def __enter__(self) -> PgCluster:
        try:
            self.init()
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def init(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="gongkai-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, OS_USER, OS_USER)
        self._run("initdb", "-D", self.data, "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--auth=trust",
                  "--no-instructions")
        settings = {"port": self.port, "listen_addresses": "'127.0.0.1'",
                    "unix_socket_directories": f"'{self.directory}'", "fsync": "on", "synchronous_commit": "on",
                    "full_page_writes": "on"}
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# bench/pgcluster.py\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n", encoding="utf-8")

    def start(self) -> None:
        """Start the server (after a crash: crash recovery first) and wait until it accepts connections."""
        self._run("pg_ctl", "start", "-D", self.data, "-l", self.log, "-w", "-t", "120")
        wait_for(self.ready, timeout=120, what=f"PostgreSQL on 127.0.0.1:{self.port}", every=0.2)

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop -m fast|smart|immediate; immediate is a crash (no shutdown checkpoint)."""
        self._run("pg_ctl", "stop", "-D", self.data, "-m", mode, "-w", "-t", "60")

    def restart(self, mode: str = "immediate", *, down_for: float = 0.0) -> None:
        """Stop (by default a crash), stay down for `down_for` seconds, start again and wait for pg_isready."""
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def ready(self) -> bool:
        return self._run("pg_isready", "-h", "127.0.0.1", "-p", self.port, "-t", "1", check=False).returncode == 0

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", self.data, check=False).returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new database; returns its SQLAlchemy URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", self.port, "-U", SUPERUSER, name)
        return self.url(name)

    def log_count(self, phrase: str) -> int:
        """How often the server log says `phrase` (RECOVERY: how many starts began with crash recovery)."""
        return self.log.read_text(encoding="utf-8", errors="replace").count(phrase) if self.log.exists() else 0

    def cleanup(self) -> None:
        """Stop the server (fast, else immediate, else SIGKILL) and remove the directory."""
        if self.directory is None:
            return
        if (self.data / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self.stop(mode)
                    break
            else:
                self._kill_postmaster()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)  # its backends exit when they find the postmaster gone

    def _run(self, program: str, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin / program), *map(str, args)]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            argv = ["runuser", "-u", OS_USER, "--", *argv]
        result = subprocess.run(argv, cwd=self.directory, capture_output=True, text=True, timeout=300,
                                start_new_session=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}")
        return result
