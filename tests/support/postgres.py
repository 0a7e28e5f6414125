"""A throwaway PostgreSQL for the bench's e2e_postgres scenario (Label Studio on it) and the tests of
the shared review state (``--state-url``): Debian's server binaries, its own data directory in a
temporary folder, listening on one free 127.0.0.1 port and a unix socket in that folder.

PostgreSQL refuses to run as root: as root the cluster is made and run by the ``postgres`` user
(the one Debian's package creates), through ``runuser``. It is stopped by the PID its postmaster
wrote, and the folder is deleted.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.labelstudio_server import free_port

USER = "postgres"  # the database's superuser, and the OS user that runs it when we are root
DATABASE = "labelstudio"
READY_TIMEOUT_SECONDS = 60
NOT_INSTALLED = "no PostgreSQL server: `make postgres` installs Debian's postgresql package"


def bin_dir() -> Path | None:
    """Where Debian's ``postgresql`` package put initdb (not on PATH there), else PATH's."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


@dataclass
class Postgres:
    host: str
    port: int
    user: str
    password: str
    database: str
    root: Path
    data_dir: Path
    pid: int
    version: str

    def label_studio_env(self) -> dict[str, str]:
        """Label Studio's settings (core/settings/base.py) that point it at this database."""
        return {
            "DJANGO_DB": "default",
            "POSTGRE_NAME": self.database,
            "POSTGRE_USER": self.user,
            "POSTGRE_PASSWORD": self.password,
            "POSTGRE_HOST": self.host,
            "POSTGRE_PORT": str(self.port),
        }

    def url(self, database: str | None = None) -> str:
        """A ``postgresql://`` URL of a database of this server (default: ``DATABASE``), with the password."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database or self.database}"

    def create_database(self, name: str) -> str:
        """A new, empty database (one per test: each its own review state); its URL."""
        import psycopg  # the postgres extra: only the tests of the shared state need it

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown of the postmaster this run started (SIGINT to its PID), then delete its folder."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        if not _gone(self.data_dir, 30):
            os.kill(self.pid, signal.SIGQUIT)  # immediate shutdown: the data is thrown away anyway
            _gone(self.data_dir, 10)
        shutil.rmtree(self.root, ignore_errors=True)


def _gone(data_dir: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while (data_dir / "postmaster.pid").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def start() -> Postgres:
    binaries = bin_dir()
    if binaries is None:
        raise SystemExit(NOT_INSTALLED)
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="otel-ls-pg-"))
    if os.getuid() == 0:
        account = pwd.getpwnam(USER)  # KeyError: no postgres user; Debian's package creates it
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", USER, "--"]
    data_dir, log = root / "data", root / "postgres.log"
    password = secrets.token_hex(16)
    password_file = root / "password"
    password_file.write_text(password + "\n")
    if as_user:
        os.chown(password_file, account.pw_uid, account.pw_gid)
    port = free_port()

    def run(*argv: str) -> None:
        env = {**os.environ, "PGPASSWORD": password}
        subprocess.run([*as_user, *argv], check=True, capture_output=True, env=env, cwd=root)

    try:
        run(
            str(binaries / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            USER,
            "--auth=scram-sha-256",
            f"--pwfile={password_file}",
            "--encoding=UTF8",
            "--locale=C",
        )
        password_file.unlink()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"
        run(
            str(binaries / "pg_ctl"),
            "start",
            "-w",
            "-t",
            str(READY_TIMEOUT_SECONDS),
            "-D",
            str(data_dir),
            "-l",
            str(log),
            "-o",
            options,
        )
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except subprocess.CalledProcessError as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')}\n{tail}"
        ) from None
    server = Postgres("127.0.0.1", port, USER, password, DATABASE, root, data_dir, pid, _version(binaries))
    try:
        run(str(binaries / "createdb"), "-h", server.host, "-p", str(port), "-U", USER, DATABASE)
    except BaseException:
        server.stop()
        raise
    return server


def _version(binaries: Path) -> str:
    out = subprocess.run([str(binaries / "postgres"), "--version"], capture_output=True, text=True)
    found = re.search(r"\(PostgreSQL\) (\S+)", out.stdout)  # postgres (PostgreSQL) 15.18 (Debian ...)
    return found.group(1) if found else "?"
