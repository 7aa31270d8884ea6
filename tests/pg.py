"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, a server on a
free loopback port, a migrated template database, and a fresh database per test made from it
(CREATE DATABASE ... TEMPLATE: a file copy, some milliseconds).

PostgreSQL refuses to run as root; as root (CI) the cluster belongs to the ``postgres`` user
and its commands run through ``runuser``; as any other user they run directly. The server is
stopped, and its folder removed, when the session ends (and at exit, should the session be
cut short).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path(os.environ.get("REGISTRY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "registry"
PASSWORD = "registry-test-password"
TEMPLATE = "registry_template"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, *, durable: bool = False) -> None:
        #: fsync and synchronous commits as a real server has them (bench/postgres.py); the
        #: tests never cut the power, so they run without
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="registry-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.password_file = self.root / "registry-password"
        self.password_file.write_text(PASSWORD + "\n")
        self._as_root = os.geteuid() == 0
        self._numbers = itertools.count(1)
        self._running = False
        if self._as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        os.chmod(self.root, 0o700)

    def _run(self, *command: str) -> str:
        argv = list(command)
        if self._as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {done.stderr or done.stdout}")
        return done.stdout

    def start(self) -> None:
        superuser_pw = self.root / "superuser-password"
        superuser_pw.write_text("superuser-unused\n")
        if self._as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(superuser_pw, owner.pw_uid, owner.pw_gid)
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={superuser_pw}",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        # A throwaway cluster: no fsync (the tests never cut its power).
        options = f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1"
        options += " -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )
        self._running = True
        atexit.register(self.stop)
        self.sql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        self.sql(f"CREATE DATABASE {TEMPLATE} OWNER {USER}")

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run ``statement`` as the superuser, through the cluster's socket."""
        return self._run(
            str(PG_BIN / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            statement,
        )

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """A new database copied from the migrated template; its URL."""
        name = f"registry_test_{next(self._numbers)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} OWNER {USER}")
        return self.url(name)

    def empty_database(self) -> str:
        """A new database with no tables at all; its URL."""
        name = f"registry_empty_{next(self._numbers)}"
        self.sql(f"CREATE DATABASE {name} OWNER {USER}")
        return self.url(name)

    def stop(self) -> None:
        if self._running:
            self._running = False
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
