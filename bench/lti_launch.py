"""Benchmark of full LTI 1.3 login + launch flows: Tandem beside a minimal pylti1p3 tool.

Usage::

    .venv/bin/python bench/lti_launch.py                    # both tools, 20 s per phase
    .venv/bin/python bench/lti_launch.py --only baseline --duration 10
    .venv/bin/python bench/lti_launch.py --worker-class gthread --threads 4
    .venv/bin/python bench/lti_launch.py --profile 300      # where Tandem's time goes

The bench is the platform (Moodle-like): an RSA key, its JWKS served by a small threaded
HTTP server, and load-generating clients that for every flow

1. ``GET /lti/login?iss=…&login_hint=…&target_link_uri=…&client_id=…&lti_deployment_id=…``
   (expects 302; takes ``state``, ``nonce``, ``redirect_uri`` from the Location and keeps the
   cookies),
2. sign an id_token (RS256, kid; Moodle's claims, exp = iat + 60) with that nonce,
3. ``POST redirect_uri`` with ``id_token`` + ``state`` and the cookies (Tandem: 303 to a page
   under ``/app``; the baseline: 200).

A flow's latency covers both requests; every flow is a new browser (fresh cookie jar).
Users are the seeded people (``--users``, distinct subs and e-mails): ``--first-share`` of
the flows are a user's first launch (person linking and identity creation in Tandem), the
rest launch users seen before; both are reported separately. The clients (keep-alive
``http.client`` connections, threads in ``--client-procs`` processes) measure their own
CPU use. Each tool runs under gunicorn with the same workers and is measured in phases:

* warm-up (``--warmup`` s, not counted);
* **max**: ``--clients`` closed-loop clients without think time → flows/s, p50/p99/max;
* **paced**: the same clients offering ``--rate`` flows/s together (a fixed schedule; a
  flow's latency counts from its *scheduled* start, so a stalled tool cannot hide queueing)
  → p50/p99 at the target load.

Closed-loop latency is bound by Little's law: mean latency = clients / throughput, so 32
clients at 200 flows/s wait 160 ms on average whatever the tool does. That is why the p99
target is judged at the target rate (paced), and the closed-loop p99 is only printed.

Tandem runs on a throwaway PostgreSQL database (created, migrated, seeded with the demo
company, the bench platform registered; dropped at the end, also on Ctrl-C). The baseline
is ``bench/lti_baseline_tool.py`` with a JSON file configuration written to a temp dir.
CPU of the tool, PostgreSQL, the clients and other processes is read from ``/proc``; a run
disturbed by other load says so.

``--profile N`` runs N flows through Tandem in this process instead (Flask test client, no
concurrency) and prints CPU and SQL statements per request and a CPU profile.

Exit status: 0; 2 if any flow failed (the figures are then not valid); 1 if ``--check`` is
given and a target is missed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import multiprocessing as mp
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from _support import CLK_TCK, proc_cpu, throwaway_database  # bench/_support.py, beside this script
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent

TARGET_RATE = 200.0  # flows/s
TARGET_P99_MS = 100.0
BASELINE_USERS = 20_000
TANDEM_APP = "lti:create_app()"
OTHER_LOAD_WARN = 25.0  # % of a core used by processes outside the bench

CLIENT_ID = "tandem-bench-client"
DEPLOYMENT_ID = "1"
ORG_SLUG = "bench"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DEFAULT_DB_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tandem_bench_{pid}"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class User:
    sub: str
    given: str
    family: str
    email: str


@dataclass(frozen=True, slots=True)
class Platform:
    """What the clients need to act as the platform (picklable for spawned processes)."""

    issuer: str
    client_id: str
    deployment_id: str
    kid: str
    private_pem: bytes


@dataclass(frozen=True, slots=True)
class Tool:
    """One tool under test, as the clients see it."""

    name: str
    port: int
    expect_status: int  # of the launch POST
    expect_location: str | None  # prefix of the launch's Location (Tandem: /app)
    custom: dict[str, str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True, slots=True)
class Plan:
    """Absolute times (time.monotonic, one clock for all processes) and user pools."""

    warm_start: float
    max_start: float
    max_end: float
    paced_start: float
    paced_end: float
    rate: float
    first_every: int  # every n-th flow of a client is a new user's first launch (0: never)


@dataclass
class PhaseResult:
    latencies: list[float] = field(default_factory=list)  # ms, successful flows
    first: list[float] = field(default_factory=list)  # ms, the user's first launch (subset)
    later: list[float] = field(default_factory=list)  # ms, the user's later launches (subset)
    failures: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    not_sent: int = 0  # paced: scheduled flows never started (tool too slow)
    out_of_users: int = 0  # flows that should have been first launches but no user was left

    def merge(self, other: PhaseResult) -> None:
        self.latencies.extend(other.latencies)
        self.first.extend(other.first)
        self.later.extend(other.later)
        self.failures.update(other.failures)
        for k, v in other.samples.items():
            self.samples.setdefault(k, v)
        self.not_sent += other.not_sent
        self.out_of_users += other.out_of_users


# --------------------------------------------------------------------------- platform side


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def make_platform_key() -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    jwk: dict[str, Any] = {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    jwk.update(kid=b64url(hashlib.sha256(canonical).digest()), alg="RS256", use="sig")
    return key, jwk


class JwksServer:
    """The platform's keyset URL (``/mod/lti/certs.php``), counting fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/mod/lti/certs.php":
                    self.send_error(404)
                    return
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- client side


class Conn:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.retries = 0
        self.connects = 0

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        for attempt in (0, 1):
            fresh = self.conn is None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connects += 1
            try:
                self.conn.request(method, path, body, headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if fresh or attempt:
                    raise
                self.retries += 1  # a kept-alive connection the server had closed
                continue
            if resp.will_close:
                self.close()
            return resp.status, resp.headers, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _store_cookies(jar: dict[str, str], headers: Any) -> None:
    get_all = getattr(headers, "get_all", None) or headers.getlist  # HTTPMessage | Headers
    for raw in get_all("Set-Cookie") or ():
        pair, _, attrs = raw.partition(";")
        name, _, value = pair.strip().partition("=")
        if "max-age=0" in attrs.lower().replace(" ", "") or (
            not value and "expires=thu, 01 jan 1970" in attrs.lower()
        ):
            jar.pop(name, None)
        else:
            jar[name] = value


class FlowError(Exception):
    """A flow that did not end as expected; ``kind`` groups it in the report."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


class Signer:
    """Builds and signs id_tokens; the header and the constant claims are encoded once."""

    def __init__(self, platform: Platform, tool: Tool) -> None:
        self.key = serialization.load_pem_private_key(platform.private_pem, password=None)
        header = {"alg": "RS256", "typ": "JWT", "kid": platform.kid}
        self.header = b64url(json.dumps(header, separators=(",", ":")).encode())
        target = f"{tool.base}/lti/launch"
        static = {
            "iss": platform.issuer,
            "aud": platform.client_id,
            "azp": platform.client_id,
            CLAIM + "deployment_id": platform.deployment_id,
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "target_link_uri": target,
            CLAIM + "resource_link": {"id": "7", "title": "My tandem", "description": ""},
            CLAIM + "context": {
                "id": "2",
                "label": "RM26",
                "title": "Reverse Mentoring 2026",
                "type": ["CourseSection"],
            },
            CLAIM + "roles": [LEARNER],
            CLAIM + "custom": tool.custom,
            CLAIM + "launch_presentation": {
                "locale": "en",
                "document_target": "iframe",
                "return_url": f"{platform.issuer}/mod/lti/return.php?course=2&launch_container=3",
            },
            CLAIM + "tool_platform": {
                "product_family_code": "moodle",
                "version": "2024100700",
                "guid": "127.0.0.1",
                "name": "Bench Moodle",
            },
            CLAIM + "ext": {"lms": "moodle-2"},
        }
        self.static = json.dumps(static, separators=(",", ":"))[1:-1]

    def id_token(self, user: User, nonce: str) -> str:
        now = int(time.time())
        person = json.dumps(
            {
                "sub": user.sub,
                "name": f"{user.given} {user.family}",
                "given_name": user.given,
                "family_name": user.family,
                "email": user.email,
                "nonce": nonce,
                "iat": now,
                "exp": now + 60,
                CLAIM + "lis": {"person_sourcedid": "", "course_section_sourcedid": ""},
            },
            separators=(",", ":"),
        )
        payload = b64url(("{" + self.static + "," + person[1:]).encode())
        signing_input = f"{self.header}.{payload}".encode("ascii")
        signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
        return f"{self.header}.{payload}.{b64url(signature)}"


def run_flow(conn: Any, tool: Tool, platform: Platform, signer: Signer, user: User) -> None:
    """One login + launch; raises FlowError unless both answers are the expected ones."""
    jar: dict[str, str] = {}
    query = urlencode(
        {
            "iss": platform.issuer,
            "login_hint": user.sub,
            "target_link_uri": f"{tool.base}/lti/launch",
            "lti_message_hint": json.dumps({"cmid": 7, "launchid": f"ltilaunch7_{user.sub}"}),
            "client_id": platform.client_id,
            "lti_deployment_id": platform.deployment_id,
        }
    )
    status, headers, body = conn.request("GET", f"/lti/login?{query}", None, {})
    if status != 302:
        raise FlowError(f"login: HTTP {status}", body[:300].decode("utf-8", "replace"))
    _store_cookies(jar, headers)
    location = headers.get("Location") or ""
    params = parse_qs(urlsplit(location).query)
    try:
        state, nonce, redirect_uri = (params[k][0] for k in ("state", "nonce", "redirect_uri"))
    except KeyError as exc:
        raise FlowError(f"login: Location lacks {exc.args[0]}", location[:300]) from None
    target = urlsplit(redirect_uri)
    if target.port != tool.port:
        raise FlowError("login: redirect_uri not on the tool", redirect_uri)

    form = urlencode({"id_token": signer.id_token(user, nonce), "state": state}).encode()
    headers_out = {"Content-Type": "application/x-www-form-urlencoded"}
    if jar:
        headers_out["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    status, headers, body = conn.request("POST", target.path or "/", form, headers_out)
    if status != tool.expect_status:
        raise FlowError(f"launch: HTTP {status}", body[:300].decode("utf-8", "replace"))
    if tool.expect_location is not None:
        path = urlsplit(headers.get("Location") or "").path
        if not path.startswith(tool.expect_location):
            raise FlowError(
                f"launch: Location not under {tool.expect_location}", headers.get("Location", "")
            )


def client_process(
    proc_no: int,
    client_nos: Sequence[int],
    n_clients: int,
    tool: Tool,
    platform: Platform,
    users: Sequence[User],
    plan: Plan,
    counters: Any,
    results: Any,
) -> None:
    """Run some of the clients as threads; send per-phase results to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    signer = Signer(platform, tool)
    lock = threading.Lock()
    phases = {"warmup": PhaseResult(), "max": PhaseResult(), "paced": PhaseResult()}
    conns: list[Conn] = []

    def record(
        phase: str | None, latency_ms: float, error: FlowError | None, first: bool = False
    ) -> None:
        with lock:
            counters[2 * proc_no] += 1
            if error is not None:
                counters[2 * proc_no + 1] += 1
            if phase is None:
                return
            res = phases[phase]
            if error is None:
                res.latencies.append(latency_ms)
                (res.first if first else res.later).append(latency_ms)
            else:
                res.failures[error.kind] += 1
                res.samples.setdefault(error.kind, error.detail)

    def flow(conn: Conn, user: User) -> FlowError | None:
        try:
            run_flow(conn, tool, platform, signer, user)
        except FlowError as exc:
            return exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            return FlowError(f"connection: {type(exc).__name__}", str(exc))
        return None

    def client(c: int) -> None:
        conn = Conn(tool.port)
        conns.append(conn)
        # Client c owns users[c::n_clients]. Every plan.first_every-th flow launches a user
        # for the first time (person linking, identity creation in Tandem); the others
        # launch, round robin, a user this client launched before.
        fresh = list(users[c::n_clients])
        fresh.reverse()
        launched: list[User] = []
        k = 0

        def pick(phase: str | None) -> tuple[User, bool]:
            nonlocal k
            k += 1
            want_first = not launched or (plan.first_every > 0 and k % plan.first_every == 0)
            if want_first and fresh:
                user = fresh.pop()
                launched.append(user)
                return user, True
            if want_first and launched and phase is not None:
                with lock:
                    phases[phase].out_of_users += 1
            return launched[k % len(launched)], False

        # Closed loop: warm-up, then the max phase (a flow counts where it completes).
        while (t0 := time.monotonic()) < plan.max_end:
            user, first = pick("max" if t0 >= plan.max_start else None)
            err = flow(conn, user)
            t1 = time.monotonic()
            if plan.max_start <= t1 < plan.max_end:
                record("max", (t1 - t0) * 1000, err, first=first)
            else:
                record("warmup" if t1 < plan.max_start else None, (t1 - t0) * 1000, err)
        if plan.rate <= 0:
            return
        # Paced: a fixed schedule; latency from the scheduled start (no coordinated omission).
        interval = n_clients / plan.rate
        start = plan.paced_start + interval * c / n_clients
        n = 0
        while (due := start + n * interval) < plan.paced_end:
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            elif now > plan.paced_end + 5:  # hopelessly behind: stop, count the rest
                left = int((plan.paced_end - due) / interval) + 1
                with lock:
                    phases["paced"].not_sent += left
                break
            user, first = pick("paced")
            err = flow(conn, user)
            record("paced", (time.monotonic() - due) * 1000, err, first=first)
            n += 1

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in client_nos]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for conn in conns:
        conn.close()
    results.put(
        {
            "proc": proc_no,
            "phases": phases,
            "retries": sum(c.retries for c in conns),
            "connects": sum(c.connects for c in conns),
        }
    )


# --------------------------------------------------------------------------- CPU accounting


def _all_pids() -> Iterator[int]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def _children(pid: int) -> list[int]:
    found = []
    for p in _all_pids():
        try:
            with open(f"/proc/{p}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(p)
    return found


def _postgres_backends(dbname: str | None) -> list[int]:
    if not dbname:
        return []
    needle = f" {dbname} ".encode()
    found = []
    for p in _all_pids():
        try:
            with open(f"/proc/{p}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if cmd.startswith(b"postgres:") and needle in cmd.replace(b"\0", b" "):
            found.append(p)
    return found


def _machine() -> tuple[float, float]:
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) / CLK_TCK, (sum(values) - idle) / CLK_TCK


@dataclass
class CpuSnapshot:
    at: float
    groups: dict[str, dict[int, float]]
    machine: tuple[float, float]


def snapshot(groups: dict[str, list[int]]) -> CpuSnapshot:
    taken: dict[str, dict[int, float]] = {}
    for name, pids in groups.items():
        taken[name] = {}
        for pid in pids:
            value = proc_cpu(pid)
            if value is not None:
                taken[name][pid] = value
    return CpuSnapshot(time.monotonic(), taken, _machine())


def cpu_usage(a: CpuSnapshot, b: CpuSnapshot) -> dict[str, float]:
    """Per group, % of one core between two snapshots (a process new in b counts fully)."""
    wall = b.at - a.at
    out: dict[str, float] = {"seconds": wall}
    for name, now in b.groups.items():
        before = a.groups.get(name, {})
        out[name] = 100 * sum(v - before.get(pid, 0.0) for pid, v in now.items()) / wall
    total, busy = (y - x for x, y in zip(a.machine, b.machine, strict=True))
    cores = os.cpu_count() or 1
    out["machine"] = 100 * cores * busy / total if total else 0.0
    out["other"] = out["machine"] - sum(
        v for k, v in out.items() if k not in ("machine", "seconds")
    )
    return out


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """A gunicorn master (own session, so Ctrl-C reaches only us) and its workers."""

    def __init__(
        self,
        name: str,
        app: str,
        env: dict[str, str],
        args: argparse.Namespace,
        workdir: Path,
        port: int,
    ) -> None:
        self.name = name
        self.port = port
        self.log = workdir / f"gunicorn-{name}.log"
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(args.workers),
            "-k",
            args.worker_class,
            "-b",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
            "--error-logfile",
            str(self.log),
        ]
        if args.worker_class == "gthread":
            cmd += ["--threads", str(args.threads)]
        cmd.append(app)
        full_env = {**os.environ, **env}
        self.proc = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            cmd, cwd=ROOT, env=full_env, start_new_session=True, stdout=subprocess.DEVNULL
        )

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", path)
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: not ready after {timeout:.0f} s\n{self.log_tail()}")

    def workers(self) -> list[int]:
        return _children(self.proc.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- tools


def setup_tandem(
    sa_url: str, secret: str, platform: Platform, jwks_port: int, n_people: int
) -> tuple[list[User], int]:
    """Migrate, seed the demo company, register the bench platform; return users + program."""
    from sqlalchemy import select

    from lti import create_app, migrate
    from lti.db import get_engine, get_session
    from lti.secrets import get_secret_box
    from plugin.demo import seed_demo
    from plugin.models import Person
    from plugin.services import lti_registrations as regs

    app = create_app({"DATABASE_URL": sa_url, "SECRET_KEY": secret})
    t = time.perf_counter()
    migrate.upgrade(app)
    print(f"  migrated in {time.perf_counter() - t:.1f} s")
    with app.app_context():
        session = get_session()
        t = time.perf_counter()
        summary = seed_demo(session, org_slug=ORG_SLUG, people=n_people, seed=7)
        regs.add_platform(
            session,
            org_id=summary.org_id,
            issuer=platform.issuer,
            client_id=platform.client_id,
            auth_login_url=f"{platform.issuer}/mod/lti/auth.php",
            auth_token_url=f"{platform.issuer}/mod/lti/token.php",
            jwks_url=f"http://127.0.0.1:{jwks_port}/mod/lti/certs.php",
            actor="bench",
            deployment_ids=[platform.deployment_id],
            name="Bench Moodle",
            allow_http=True,
        )
        regs.ensure_tool_key(session, get_secret_box())
        rows = session.execute(
            select(Person.id, Person.given_name, Person.family_name, Person.email)
            .where(Person.org_id == summary.org_id, Person.active.is_(True))
            .where(Person.email.is_not(None))
            .order_by(Person.id)
        ).all()
        session.commit()
        print(
            f"  seeded {summary.people:,} people (program {summary.program_id}) and registered"
            f" the platform in {time.perf_counter() - t:.1f} s"
        )
    get_engine(app).dispose()
    users = [User(str(100000 + r.id), r.given_name, r.family_name, r.email) for r in rows]
    return users, summary.program_id


def write_baseline_config(
    workdir: Path, platform: Platform, jwks: dict[str, Any], jwks_port: int, inline: bool
) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (workdir / "tool-private.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (workdir / "tool-public.key").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    conf = {
        platform.issuer: [
            {
                "default": True,
                "client_id": platform.client_id,
                "auth_login_url": f"{platform.issuer}/mod/lti/auth.php",
                "auth_token_url": f"{platform.issuer}/mod/lti/token.php",
                "auth_audience": None,
                "key_set_url": f"http://127.0.0.1:{jwks_port}/mod/lti/certs.php",
                "key_set": jwks if inline else None,
                "private_key_file": "tool-private.key",
                "public_key_file": "tool-public.key",
                "deployment_ids": [platform.deployment_id],
            }
        ]
    }
    path = workdir / "baseline-tool.json"
    path.write_text(json.dumps(conf, indent=2))
    return path


# --------------------------------------------------------------------------- one measured run


@dataclass
class RunResult:
    label: str
    phases: dict[str, PhaseResult]
    durations: dict[str, float]
    cpu: dict[str, dict[str, float]]
    retries: int
    connects: int
    jwks_fetches: int


def _progress(label: str, plan: Plan, counters: Any, n_procs: int) -> str:
    now = time.monotonic()
    done = sum(counters[2 * i] for i in range(n_procs))
    failed = sum(counters[2 * i + 1] for i in range(n_procs))
    if now < plan.max_start:
        phase = f"warm-up {now - plan.warm_start:4.1f}/{plan.max_start - plan.warm_start:.0f} s"
    elif now < plan.max_end:
        phase = f"max     {now - plan.max_start:4.1f}/{plan.max_end - plan.max_start:.0f} s"
    else:
        elapsed = max(0.0, now - plan.paced_start)
        span = plan.paced_end - plan.paced_start
        over = "  (finishing late flows)" if elapsed > span else ""
        phase = f"paced   {min(elapsed, span):4.1f}/{span:.0f} s at {plan.rate:.0f}/s{over}"
    warn = "  <-- FAILURES" if failed else ""
    return f"  {label:<9} {phase}  flows {done:>7,}  failed {failed:,}{warn}"


def measure(
    label: str,
    tool: Tool,
    server: Gunicorn,
    platform: Platform,
    users: Sequence[User],
    args: argparse.Namespace,
    jwks: JwksServer,
    dbname: str | None,
) -> RunResult:
    n_clients, n_procs = args.clients, min(args.client_procs, args.clients)
    if len(users) < n_clients:
        raise SystemExit(f"not enough users: {len(users)} for {n_clients} clients")
    ctx = mp.get_context("spawn")  # no fork of a threaded parent
    counters = ctx.RawArray("q", 2 * n_procs)
    results = ctx.Queue()
    start = time.monotonic() + 2.0  # spawned interpreters need a moment
    max_start = start + args.warmup
    max_end = max_start + args.duration
    paced_start = max_end + 0.5
    plan = Plan(
        warm_start=start,
        max_start=max_start,
        max_end=max_end,
        paced_start=paced_start,
        paced_end=paced_start + args.duration,
        rate=args.rate,
        first_every=round(1 / args.first_share) if args.first_share > 0 else 0,
    )
    procs = [
        ctx.Process(
            target=client_process,
            args=(
                i,
                list(range(i, n_clients, n_procs)),
                n_clients,
                tool,
                platform,
                users,
                plan,
                counters,
                results,
            ),
            daemon=True,
        )
        for i in range(n_procs)
    ]
    jwks.hits = 0
    for p in procs:
        p.start()

    def groups() -> dict[str, list[int]]:
        return {
            "client": [p.pid for p in procs if p.pid],
            "tool": [server.proc.pid, *server.workers()],
            "postgres": _postgres_backends(dbname),
            "bench": [os.getpid()],
        }

    tty = sys.stdout.isatty()
    marks = [("max", plan.max_start, plan.max_end)]
    if args.rate > 0:
        marks.append(("paced", plan.paced_start, plan.paced_end))
    snaps: dict[tuple[str, str], CpuSnapshot] = {}
    pending = [(t, name, edge) for name, a, b in marks for t, edge in ((a, "a"), (b, "b"))]
    last_print = 0.0
    received: list[dict[str, Any]] = []
    try:
        # Drain the results while waiting: a child cannot exit before its queue is read.
        while len(received) < len(procs):
            now = time.monotonic()
            while pending and now >= pending[0][0]:
                _, name, edge = pending.pop(0)
                snaps[(name, edge)] = snapshot(groups())
            if now - last_print >= (1.0 if tty else 5.0) and now >= plan.warm_start:
                last_print = now
                line = _progress(label, plan, counters, n_procs)
                print(("\r" + line) if tty else line, end="" if tty else "\n", flush=True)
            try:
                received.append(results.get(timeout=0.05))
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    code = dead[0].exitcode
                    raise RuntimeError(f"a client process died (exit code {code})") from None
    except BaseException:
        for p in procs:
            p.terminate()
        raise
    for _, name, edge in pending:  # the clients finished before a phase's scheduled end
        snaps[(name, edge)] = snapshot(groups())
    if tty:
        print("\r" + _progress(label, plan, counters, n_procs), flush=True)
    phases = {"warmup": PhaseResult(), "max": PhaseResult(), "paced": PhaseResult()}
    retries = connects = 0
    for got in received:
        for name, res in got["phases"].items():
            phases[name].merge(res)
        retries += got["retries"]
        connects += got["connects"]
    for p in procs:
        p.join()
    cpu = {
        name: cpu_usage(snaps[(name, "a")], snaps[(name, "b")])
        for name, _, _ in marks
        if (name, "a") in snaps and (name, "b") in snaps
    }
    return RunResult(
        label=label,
        phases=phases,
        durations={"max": args.duration, "paced": args.duration},
        cpu=cpu,
        retries=retries,
        connects=connects,
        jwks_fetches=jwks.hits,
    )


# --------------------------------------------------------------------------- report


def pct(sorted_ms: Sequence[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


@dataclass
class Row:
    label: str
    phase: str
    flows: int
    rate: float
    p50: float
    p99: float
    max: float
    failures: int
    not_sent: int


def rows_of(run: RunResult, rate: float) -> list[Row]:
    rows = []
    for phase in ("max", "paced"):
        if phase == "paced" and rate <= 0:
            continue
        res = run.phases[phase]
        lat = sorted(res.latencies)
        n_fail = sum(res.failures.values())
        rows.append(
            Row(
                run.label,
                "max (closed loop)" if phase == "max" else f"paced {rate:.0f}/s",
                len(lat),
                (len(lat) + n_fail) / run.durations[phase],
                pct(lat, 0.50),
                pct(lat, 0.99),
                lat[-1] if lat else float("nan"),
                n_fail,
                res.not_sent,
            )
        )
    return rows


def print_table(rows: Sequence[Row]) -> None:
    head = (
        f"  {'tool':<30} {'phase':<18} {'flows':>7} {'flows/s':>8} {'p50 ms':>8}"
        f" {'p99 ms':>8} {'max ms':>8} {'failures':>8}"
    )
    print(head)
    print("  " + "-" * (len(head) - 2))
    for r in rows:
        extra = f"  ({r.not_sent:,} not sent)" if r.not_sent else ""
        print(
            f"  {r.label:<30} {r.phase:<18} {r.flows:>7,} {r.rate:>8.1f} {r.p50:>8.1f}"
            f" {r.p99:>8.1f} {r.max:>8.1f} {r.failures:>8,}{extra}"
        )


def print_cpu(run: RunResult, args: argparse.Namespace) -> None:
    for phase, use in run.cpu.items():
        flows = len(run.phases[phase].latencies) + sum(run.phases[phase].failures.values())
        per_flow = ""
        if flows:
            secs = use["seconds"]
            per_flow = "  per flow: " + ", ".join(
                f"{k} {use[k] / 100 * secs / flows * 1000:.2f} ms"
                for k in ("tool", "postgres", "client")
                if use.get(k)
            )
        print(
            f"  {run.label:<30} {phase:<6} CPU (% of one core, {os.cpu_count()} cores):"
            f" tool {use['tool']:.0f}  postgres {use['postgres']:.0f}  clients"
            f" {use['client']:.0f}  bench/JWKS {use['bench']:.0f}  other processes"
            f" {use['other']:.0f}  machine {use['machine']:.0f}{per_flow}"
        )
    disturbed = [p for p, use in run.cpu.items() if use["other"] > OTHER_LOAD_WARN]
    if disturbed:
        print(
            f"  WARNING: other processes used more than {OTHER_LOAD_WARN:.0f} % of a core during"
            f" {', '.join(disturbed)}: {run.label} figures are disturbed; rerun on a quiet machine"
        )
    print(
        f"  {run.label:<30} connections opened {run.connects:,}, stale keep-alive retries"
        f" {run.retries:,}, JWKS fetches {run.jwks_fetches:,}"
    )


def print_mix(run: RunResult) -> None:
    for phase in ("max", "paced"):
        res = run.phases[phase]
        if not res.latencies:
            continue
        first, later = sorted(res.first), sorted(res.later)
        short = (
            f"  ({res.out_of_users:,} first launches became later ones: too few --users)"
            if res.out_of_users
            else ""
        )
        print(
            f"  {run.label:<30} {phase:<6} first launches {len(first):>6,}  p50"
            f" {pct(first, 0.5):6.1f}  p99 {pct(first, 0.99):6.1f} ms | later launches"
            f" {len(later):>6,}  p50 {pct(later, 0.5):6.1f}  p99 {pct(later, 0.99):6.1f} ms{short}"
        )


def print_failures(run: RunResult) -> int:
    total = 0
    for phase, res in run.phases.items():
        for kind, n in res.failures.most_common():
            total += n
            sample = " ".join(res.samples.get(kind, "").split())[:200]
            print(f"  !! {run.label} {phase}: {n:,} x {kind}: {sample}")
    return total


# --------------------------------------------------------------------------- profile mode


class TestClientConn:
    """``Conn``'s interface over a Flask test client; times and counts SQL per request."""

    def __init__(self, app: Any, base: str, stats: dict[str, dict[str, Any]]) -> None:
        self.client = app.test_client(use_cookies=False)
        self.base = base
        self.stats = stats
        self.kind = "launch"  # set by the caller: "launch (first)" / "launch (repeat)"
        self.current: Counter[str] | None = None

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, Any, bytes]:
        name = "login" if path.startswith("/lti/login") else self.kind
        entry = self.stats.setdefault(name, {"n": 0, "seconds": 0.0, "cpu": 0.0, "sql": Counter()})
        self.current = entry["sql"]
        t, c = time.perf_counter(), time.process_time()
        resp = self.client.open(path, method=method, data=body, headers=headers, base_url=self.base)
        entry["cpu"] += time.process_time() - c
        entry["seconds"] += time.perf_counter() - t
        entry["n"] += 1
        self.current = None
        return resp.status_code, resp.headers, resp.get_data()


def _sql_kind(statement: str) -> str:
    import re

    verb = statement.split(None, 1)[0].upper() if statement.strip() else "?"
    match = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", statement, re.IGNORECASE)
    return f"{verb} {match.group(1)}" if match and verb != "SAVEPOINT" else verb


def profile_tandem(args: argparse.Namespace) -> int:
    """N flows in one process (no HTTP server, no concurrency): service time, SQL, cProfile."""
    import cProfile
    import importlib
    import pstats

    from sqlalchemy import event

    from lti.db import get_engine

    module, _, factory = args.tandem_app.partition(":")
    create_app = getattr(importlib.import_module(module), factory.removesuffix("()"))
    n = args.profile
    key, jwk = make_platform_key()
    jwks_doc = {"keys": [jwk]}
    base = "http://127.0.0.1:5999"
    print(f"Profile: {n} Tandem flows x 2 passes in one process (Flask test client)")
    with JwksServer(jwks_doc) as jwks, throwaway_database(args.database_url) as (sa_url, _db):
        platform = Platform(
            issuer=f"http://127.0.0.1:{jwks.port}",
            client_id=CLIENT_ID,
            deployment_id=DEPLOYMENT_ID,
            kid=jwk["kid"],
            private_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        secret = secrets.token_urlsafe(32)
        users, program_id = setup_tandem(sa_url, secret, platform, jwks.port, max(2000, 2 * n))
        app = create_app(
            {
                "DATABASE_URL": sa_url,
                "SECRET_KEY": secret,
                "BASE_URL": base,
                "PROXY_COUNT": 0,
                "WORKER_IN_PROCESS": False,
            }
        )
        tool = Tool(
            "tandem", 5999, 303, "/app", {"activity": "my_tandem", "program": str(program_id)}
        )
        signer = Signer(platform, tool)
        stats: dict[str, dict[str, Any]] = {}
        conn = TestClientConn(app, base, stats)
        engine = get_engine(app)

        @event.listens_for(engine, "before_cursor_execute")
        def _count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
            if conn.current is not None:
                conn.current[_sql_kind(statement)] += 1

        @event.listens_for(engine, "commit")
        def _commit(_c: Any) -> None:
            if conn.current is not None:
                conn.current["COMMIT"] += 1

        def flows(pool: Sequence[User], count: int) -> None:
            half = max(1, count // 2)
            for i in range(count):
                conn.kind = "launch (first)" if i < half else "launch (repeat)"
                run_flow(conn, tool, platform, signer, pool[i % half])

        flows(users[n : n + 20], 40)  # warm-up: imports, JWKS cache, pools
        stats.clear()
        pg_before = snapshot({"postgres": _postgres_backends(_db)})
        wall = time.perf_counter()
        flows(users[:n], n)
        wall = time.perf_counter() - wall
        pg_after = snapshot({"postgres": _postgres_backends(_db)})
        pg_ms = cpu_usage(pg_before, pg_after)["postgres"] / 100 * wall / n * 1000
        print(f"\n== service time and SQL per request (no profiler, {n} flows) ==")
        print(
            f"  {'request':<18} {'count':>6} {'wall ms':>8} {'CPU ms':>7} {'SQL/req':>8}"
            "  statements per request"
        )
        for name, entry in stats.items():
            per = entry["sql"]
            total = sum(per.values()) / entry["n"]
            detail = ", ".join(f"{k} {v / entry['n']:.1f}" for k, v in per.most_common())
            print(
                f"  {name:<18} {entry['n']:>6} {1000 * entry['seconds'] / entry['n']:>8.2f}"
                f" {1000 * entry['cpu'] / entry['n']:>7.2f} {total:>8.1f}  {detail}"
            )
        print(
            f"  per flow: {1000 * wall / n:.2f} ms wall; PostgreSQL backend CPU {pg_ms:.2f} ms"
            " (wall - CPU = waiting for PostgreSQL: statements round trips, commit fsync)"
        )
        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting for PostgreSQL
        stats.clear()
        profiler.enable()
        flows(users[n + 20 : 2 * n + 20], n)
        profiler.disable()
        print(f"\n== CPU profile of {n} more flows (client signing included) by cumtime ==")
        ps = pstats.Stats(profiler, stream=sys.stdout)
        ps.sort_stats("cumulative").print_stats(args.profile_lines)
        print("== sorted by tottime ==")
        ps.sort_stats("tottime").print_stats(args.profile_lines)
        engine.dispose()
    return 0


# --------------------------------------------------------------------------- main


def tandem_ready() -> bool:
    try:
        text = (ROOT / "lti" / "launch.py").read_text()
    except OSError:
        return False
    return "def login" in text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per measured phase")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (not counted)")
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients")
    ap.add_argument("--client-procs", type=int, default=2, help="processes the clients share")
    ap.add_argument(
        "--rate", type=float, default=TARGET_RATE, help="paced phase, flows/s (0: skip)"
    )
    ap.add_argument("--workers", type=int, default=4, help="gunicorn workers per tool")
    ap.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    ap.add_argument("--threads", type=int, default=2, help="threads per gthread worker")
    ap.add_argument(
        "--users", type=int, default=4000, help="distinct platform users (seeded people)"
    )
    ap.add_argument(
        "--first-share",
        type=float,
        default=0.25,
        help="share of flows that are a user's first launch (the rest: users launched before)",
    )
    ap.add_argument(
        "--database-url",
        default=DEFAULT_DB_URL,
        help="throwaway PostgreSQL database, created and dropped here ({pid} = our pid)",
    )
    ap.add_argument("--only", choices=("tandem", "baseline"))
    ap.add_argument(
        "--tandem-app",
        default=TANDEM_APP,
        help="gunicorn app of Tandem, 'module:factory()' (to measure a variant; the module"
        " must be importable, e.g. via PYTHONPATH)",
    )
    ap.add_argument(
        "--baseline-keys",
        choices=("inline", "url"),
        default="inline",
        help="baseline reads the platform JWKS from its config file (inline) or fetches"
        " key_set_url on every launch (url: pylti1p3 without a cache)",
    )
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="instead: run N Tandem flows in one process and print service time, SQL"
        " statements per request and a cProfile",
    )
    ap.add_argument("--profile-lines", type=int, default=35)
    args = ap.parse_args()
    if not 0 <= args.first_share <= 1:
        raise SystemExit("--first-share is a fraction from 0 to 1")
    if args.profile:
        return profile_tandem(args)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    run_tandem = args.only in (None, "tandem")
    run_baseline = args.only in (None, "baseline")
    if run_tandem and not tandem_ready():
        raise SystemExit("lti/launch.py has no login view yet; use --only baseline")

    print(
        f"LTI 1.3 login + launch benchmark: {args.clients} clients in {args.client_procs}"
        f" processes, gunicorn {args.workers} x {args.worker_class}"
        + (f" ({args.threads} threads)" if args.worker_class == "gthread" else "")
        + f", {args.warmup:.0f} s warm-up, {args.duration:.0f} s per phase,"
        f" paced phase at {args.rate:.0f} flows/s, {os.cpu_count()} CPU cores"
    )
    load1, load5, _ = os.getloadavg()
    print(f"  load average before the run: {load1:.2f} (1 min), {load5:.2f} (5 min)")
    key, jwk = make_platform_key()
    jwks_doc = {"keys": [jwk]}
    runs: list[RunResult] = []
    failed = 0
    with (
        JwksServer(jwks_doc) as jwks,
        tempfile.TemporaryDirectory(prefix="lti-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        issuer = f"http://127.0.0.1:{jwks.port}"
        platform = Platform(
            issuer=issuer,
            client_id=CLIENT_ID,
            deployment_id=DEPLOYMENT_ID,
            kid=jwk["kid"],
            private_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        needed = args.users
        if run_tandem:
            print("\n== Tandem: throwaway PostgreSQL database ==")
            sa_url, dbname = stack.enter_context(throwaway_database(args.database_url))
            print(f"  database {dbname}")
            secret = secrets.token_urlsafe(32)
            users, program_id = setup_tandem(
                sa_url, secret, platform, jwks.port, max(100, int(needed * 1.03) + 20)
            )
            port = free_port()
            server = Gunicorn(
                "tandem",
                args.tandem_app,
                {
                    "TANDEM_DATABASE_URL": sa_url,
                    "TANDEM_BASE_URL": f"http://127.0.0.1:{port}",
                    "TANDEM_SECRET_KEY": secret,
                    "TANDEM_WORKER_IN_PROCESS": "false",
                    "TANDEM_PROXY_COUNT": "0",
                },
                args,
                workdir,
                port,
            )
            stack.callback(server.stop)
            server.wait_ready("/healthz")
            tool = Tool(
                "tandem",
                server.port,
                303,
                "/app",
                {"activity": "my_tandem", "program": str(program_id)},
            )
            label = f"tandem (gunicorn {args.workers}x{args.worker_class})"
            if args.tandem_app != TANDEM_APP:
                label = f"tandem {args.tandem_app.split(':')[0]} ({args.worker_class})"
            print(f"  {label} on port {server.port}")
            run = measure(label, tool, server, platform, users, args, jwks, dbname)
            server.stop()
            runs.append(run)
            failed += print_failures(run)
        if run_baseline:
            print("\n== baseline: minimal pylti1p3 Flask tool, JSON file configuration ==")
            # The baseline keeps no users; it only needs enough distinct ones not to run out.
            users = [
                User(str(100000 + i), "Bench", f"User{i}", f"user{i}@bench.example.com")
                for i in range(max(needed, BASELINE_USERS))
            ]
            conf = write_baseline_config(
                workdir, platform, jwks_doc, jwks.port, args.baseline_keys == "inline"
            )
            server = Gunicorn(
                "baseline",
                "lti_baseline_tool:create_app()",
                {
                    "LTI_BASELINE_CONFIG": str(conf),
                    "LTI_BASELINE_SECRET": secrets.token_hex(32),
                    "PYTHONPATH": str(BENCH_DIR),
                },
                args,
                workdir,
                free_port(),
            )
            stack.callback(server.stop)
            server.wait_ready("/lti/login")
            tool = Tool("baseline", server.port, 200, None, {"activity": "my_tandem"})
            label = f"pylti1p3 minimal ({args.baseline_keys} JWKS)"
            print(f"  {label} on port {server.port}")
            run = measure(label, tool, server, platform, users, args, jwks, None)
            server.stop()
            runs.append(run)
            failed += print_failures(run)

    print("\n== results ==")
    rows = [row for run in runs for row in rows_of(run, args.rate)]
    print_table(rows)
    print()
    for run in runs:
        print_mix(run)
    print()
    for run in runs:
        print_cpu(run, args)
    print(
        f"\n  Little's law: {args.clients} closed-loop clients at {TARGET_RATE:.0f} flows/s"
        f" wait {1000 * args.clients / TARGET_RATE:.0f} ms per flow on average; a closed-loop"
        f" p99 < {TARGET_P99_MS:.0f} ms needs > {1000 * args.clients / TARGET_P99_MS:.0f}"
        " flows/s. The p99 target is judged in the paced phase."
    )
    missed = verdict(rows, args)
    if failed:
        print(
            f"\n!!!! {failed:,} FLOWS FAILED — these figures are NOT VALID"
            " (see the !! lines above) !!!!"
        )
        return 2
    return 1 if missed and args.check else 0


def verdict(rows: Sequence[Row], args: argparse.Namespace) -> bool:
    """Print PASS/FAIL against the targets; True if one is missed."""
    tandem = {r.phase.split()[0]: r for r in rows if r.label.startswith("tandem")}
    base = {r.phase.split()[0]: r for r in rows if not r.label.startswith("tandem")}
    if not tandem:
        return False
    checks: list[tuple[str, bool]] = []
    mx = tandem.get("max")
    if mx:
        checks.append((f"throughput {mx.rate:.1f} flows/s >= {TARGET_RATE:.0f}", mx.rate >= 200))
    paced = tandem.get("paced")
    if paced:
        ok = paced.p99 < TARGET_P99_MS and not paced.not_sent
        note = f" ({paced.not_sent:,} flows not sent)" if paced.not_sent else ""
        checks.append(
            (f"p99 at {args.rate:.0f} flows/s = {paced.p99:.1f} ms < {TARGET_P99_MS:.0f}{note}", ok)
        )
    if mx and "max" in base:
        b = base["max"]
        checks.append(
            (
                f"throughput ahead of the baseline: {mx.rate:.1f} vs {b.rate:.1f} flows/s"
                f" ({mx.rate / b.rate:.2f}x)",
                mx.rate > b.rate,
            )
        )
    if paced and "paced" in base:
        b = base["paced"]
        checks.append(
            (
                f"p99 at {args.rate:.0f} flows/s ahead of the baseline: {paced.p99:.1f} vs"
                f" {b.p99:.1f} ms",
                paced.p99 < b.p99,
            )
        )
    if mx:
        print(
            f"  (closed-loop p99, informational: {mx.p99:.1f} ms; < {TARGET_P99_MS:.0f} ms only"
            f" above ~{1000 * args.clients / TARGET_P99_MS:.0f} flows/s)"
        )
    if args.rate != TARGET_RATE or args.clients != 32 or args.workers != 4:
        print("  note: targets are defined for 32 clients, 4 workers, 200 flows/s")
    print("\n== targets ==")
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return not all(ok for _, ok in checks)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and the database dropped", file=sys.stderr)
        sys.exit(130)
