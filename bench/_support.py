"""What the benchmarks share: a throwaway PostgreSQL database and a process's CPU time.

Imported by ``bench/lti_launch.py`` and ``bench/sync.py`` (run as scripts: the directory
of the script is on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float | None:
    """utime + stime of a process in seconds (from /proc); ``None`` when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def admin_urls(url: str) -> tuple[str, str, str]:
    """(SQLAlchemy URL of the bench DB, libpq URL of the maintenance DB, bench DB name)."""
    url = url.replace("{pid}", str(os.getpid()))
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    if not dbname or not all(c.isalnum() or c == "_" for c in dbname):
        raise SystemExit(f"--database-url needs a database name of letters, digits, _ ({dbname!r})")
    admin = parts._replace(scheme="postgresql", path="/postgres").geturl()
    return url, admin, dbname


@contextlib.contextmanager
def throwaway_database(url: str) -> Iterator[tuple[str, str]]:
    """Create the database named in ``url`` (refusing an existing one); drop it at the end."""
    import psycopg

    sa_url, admin, dbname = admin_urls(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            raise SystemExit(f"database {dbname} exists; the bench only drops what it created")
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield sa_url, dbname
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        print(f"  dropped database {dbname}")
