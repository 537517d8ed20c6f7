"""A throwaway PostgreSQL cluster for tests and benchmarks.

:func:`start_postgres` runs ``initdb`` in a fresh temporary folder, starts the server on a free
TCP port of 127.0.0.1 (no Unix socket in a shared place), and returns a
:class:`PostgresCluster` whose :meth:`~PostgresCluster.create_database` and
:meth:`~PostgresCluster.uri` give databases and SQLAlchemy URIs; :meth:`~PostgresCluster.stop`
stops it and deletes the folder. Passwords are required (scram-sha-256), so a URI without the
right password is refused, as on a real server.

PostgreSQL refuses to run as root; when the tests run as root the cluster runs as the
``postgres`` system user (created by the Debian package) through ``runuser``.

The :func:`postgres` fixture skips a test when the PostgreSQL binaries are missing, except on CI
(``CI=true``), where it fails.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_port

SUPERUSER = "exohunt"
PASSWORD = "pg-s3cret-pw"  # a throwaway cluster's password: tests check it never leaks


def find_bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


@dataclass
class PostgresCluster:
    root: Path  # temporary folder: data/, the log and the socket
    port: int
    bindir: Path
    run_as: list[str]  # command prefix that runs a program as the cluster's owner
    user: str = SUPERUSER
    password: str = PASSWORD
    host: str = "127.0.0.1"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def uri(self, database: str, password: bool = True) -> str:
        """``postgresql+psycopg2://user:password@127.0.0.1:port/database``."""
        secret = f":{self.password}" if password else ""
        return f"postgresql+psycopg2://{self.user}{secret}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            connect_timeout=5,
        )

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its URI (with the password)."""
        connection = self.connect()
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.uri(name)

    def halt(self) -> None:
        """Stop the server (fast shutdown: every open connection is cut) and keep its data, as
        for a restart; :meth:`resume` starts it again. Raises RuntimeError if it does not stop."""
        _check(
            [*self.run_as, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir)]
            + ["-m", "fast", "-w", "-t", "30"],
            dict(os.environ, LC_ALL="C", LANG="C"),
        )

    def resume(self, fast: bool = True) -> None:
        """Start the halted server again on the same data, port and folder; return once it
        accepts connections. ``fast`` as for :func:`start_postgres`."""
        _start_server(self, fast)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        if (self.datadir / "postmaster.pid").exists():
            subprocess.run(
                [*self.run_as, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir)]
                + ["-m", "fast", "-w", "-t", "30"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _run_as() -> tuple[list[str], int | None, int | None]:
    """Command prefix, uid and gid for running PostgreSQL as a non-root user."""
    if os.geteuid() != 0:
        return [], None, None
    account = pwd.getpwnam("postgres")  # KeyError: no such user; the caller reports it
    runuser = shutil.which("runuser") or "runuser"
    return [runuser, "-u", "postgres", "--"], account.pw_uid, account.pw_gid


def start_postgres(fast: bool = True) -> PostgresCluster:
    """Initialise and start a cluster in a new temporary folder; see the module docstring.

    ``fast`` turns off fsync (fine for throwaway data, and much quicker on a busy disk).
    Raises RuntimeError with PostgreSQL's own output when it cannot start.
    """
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl, postgres) not found")
    run_as, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="exohunt-pg-"))
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if uid is not None:
        os.chown(root, uid, gid)
        os.chown(pwfile, uid, gid)
    cluster = PostgresCluster(root=root, port=free_port(), bindir=bindir, run_as=run_as)
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        _check(
            [*run_as, str(bindir / "initdb"), "-D", str(cluster.datadir), "-U", SUPERUSER]
            + ["--pwfile", str(pwfile), "--auth", "scram-sha-256", "--no-sync", "-E", "UTF8"],
            env,
        )
        pwfile.unlink()
        _start_server(cluster, fast)
    except BaseException:
        log = root / "postgres.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        cluster.stop()
        if tail:
            raise RuntimeError(f"PostgreSQL did not start; its log ends:\n{tail}") from None
        raise
    return cluster


def _start_server(cluster: PostgresCluster, fast: bool) -> None:
    """``pg_ctl start`` on the cluster's data, port and folder; return once it accepts."""
    options = (
        f"-c listen_addresses={cluster.host} -c port={cluster.port} "
        f"-c unix_socket_directories={cluster.root} -c max_connections=200"
    )
    if fast:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    _check(
        [*cluster.run_as, str(cluster.bindir / "pg_ctl"), "start", "-D", str(cluster.datadir)]
        + ["-w", "-t", "60", "-l", str(cluster.root / "postgres.log"), "-o", options],
        dict(os.environ, LC_ALL="C", LANG="C"),
    )
    _wait_until_accepting(cluster)


def _check(command: list[str], env: dict) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def _wait_until_accepting(cluster: PostgresCluster, timeout: float = 30.0) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            cluster.connect().close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def postgres_cluster(fast: bool = True):
    """:func:`start_postgres` as a context manager that always stops and deletes the cluster."""
    cluster = start_postgres(fast=fast)
    try:
        yield cluster
    finally:
        cluster.stop()


def require_postgres() -> None:
    """Skip the calling test without PostgreSQL (or psycopg2); fail instead on CI."""
    missing = None
    if find_bindir() is None:
        missing = "PostgreSQL (initdb, pg_ctl) is not installed (.ci/run installs it with apt-get)"
    else:
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            missing = "psycopg2 is not installed (pip install 'exohunt[scale]')"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                missing = "running as root needs a 'postgres' user to own the test cluster"
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(missing)
        pytest.skip(missing)


@pytest.fixture(scope="module")
def postgres():
    """A running throwaway PostgreSQL cluster for the tests of one module."""
    require_postgres()
    with postgres_cluster() as cluster:
        yield cluster
