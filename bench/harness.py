"""What the token-endpoint benchmark and profiler share: databases, seeding through the real
`idp` CLI, a running `idp serve`, the real code flow over HTTP, and CPU accounting from /proc.

Standard library only (plus psycopg, already a dependency), so `make bench` needs nothing that
`make install` does not bring, apart from `wrk`.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
IDP = str(Path(sys.executable).parent / "idp")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/portcullis_bench"
ACCOUNT = "bench"
REDIRECT_URI = "http://127.0.0.1:9/cb"  # never contacted: the code is read from the Location header
USER_EMAIL = "bench.user@example.com"
USER_PASSWORD = "correct horse battery staple 42"  # noqa: S105 - a throwaway benchmark user
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The benchmark cannot run or produced an invalid measurement."""


# --- databases ------------------------------------------------------------------------------------

@dataclass
class Backend:
    name: str  # "sqlite" or "postgresql"
    url: str
    workdir: Path

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgresql"


def make_backend(name: str, workdir: Path, pg_url: str) -> Backend:
    """A fresh, empty database: a temp SQLite file, or the PostgreSQL database with its public
    schema dropped and recreated (use a database of your own: everything in it is lost)."""
    if name == "sqlite":
        return Backend(name, f"sqlite:///{workdir / 'bench.db'}", workdir)
    if name != "postgresql":
        raise BenchError(f"unknown backend {name!r}")
    import psycopg

    _create_database_if_missing(pg_url)
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return Backend(name, pg_url, workdir)


def _create_database_if_missing(pg_url: str) -> None:
    """The benchmark's own database is made on first use (through the server's `postgres` database)."""
    import psycopg
    from psycopg import sql

    server, _, name = libpq_url(pg_url).split("?")[0].rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def analyze(backend: Backend) -> None:
    """Table statistics, as autovacuum keeps them in a database in service. A benchmark fills its
    tables in seconds, faster than autovacuum's first look, and PostgreSQL's plans for prepared
    statements on tables it still believes empty read a tenant's every row through the tenant
    index instead of one through the unique one (bench/RESULTS.md, issue 16, third slice)."""
    if backend.is_postgres:
        import psycopg

        with psycopg.connect(libpq_url(backend.url), autocommit=True) as connection:
            connection.execute("ANALYZE")


def libpq_url(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def postgres_version(pg_url: str) -> str:
    import psycopg

    with psycopg.connect(libpq_url(pg_url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        settings: dict[str, str] = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections')"
        ).fetchall())
    return f"PostgreSQL {row[0] if row else '?'} ({', '.join(f'{k}={v}' for k, v in sorted(settings.items()))})"


# --- the real CLI ---------------------------------------------------------------------------------

def idp_env(backend: Backend, port: int, master_key: str) -> dict[str, str]:
    outbox = backend.workdir / "outbox"
    outbox.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        IDP_DATABASE_URL=backend.url,
        IDP_MASTER_KEY=master_key,
        IDP_PUBLIC_URL=f"http://127.0.0.1:{port}",
        IDP_BASE_DOMAIN="localhost",
        IDP_MAIL_OUTBOX=str(outbox),
        IDP_LOG_LEVEL="WARNING",
    )
    return env


def new_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def cli(env: dict[str, str], *args: str) -> dict[str, object]:
    """Run `idp ARGS --json` and return its JSON object; any failure stops the benchmark."""
    result = subprocess.run([IDP, *args], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BenchError(f"idp {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    out = result.stdout.strip().splitlines()
    return json.loads(out[-1]) if out and out[-1].startswith("{") else {}


@dataclass
class Seed:
    service_id: str
    service_secret: str
    web_id: str
    web_secret: str


def seed(env: dict[str, str]) -> Seed:
    """Schema, tenant, a client_credentials service, a first-party web client and one user."""
    cli(env, "db", "upgrade")
    cli(env, "tenant", "create", ACCOUNT, "--name", "Bench", "--json")
    service = cli(env, "client", "create", "--tenant", ACCOUNT, "--name", "svc",
                  "--grant-type", "client_credentials", "--scope", "users:write", "--json")
    web = cli(env, "client", "create", "--tenant", ACCOUNT, "--name", "Office Portal (bench)",
              "--redirect-uri", REDIRECT_URI, "--grant-type", "authorization_code", "--grant-type", "refresh_token",
              "--scope", "openid profile email", "--first-party", "--json")
    cli(env, "user", "create", "--tenant", ACCOUNT, "--email", USER_EMAIL, "--password", USER_PASSWORD,
        "--name", "Bench User", "--verified", "--json")
    return Seed(str(service["client_id"]), str(service["client_secret"]),
                str(web["client_id"]), str(web["client_secret"]))


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# --- a running `idp serve` ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def worker_pids(self) -> list[int]:
        return [pid for pid, ppid in _process_parents().items() if ppid == self.process.pid]

    def pids(self) -> list[int]:
        return [self.process.pid, *self.worker_pids()]


@contextmanager
def running_server(env: dict[str, str], port: int, workers: int, log: Path) -> Iterator[Server]:
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603
            [IDP, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Server(process, port, log)
    try:
        _wait_until_up(server, workers)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)  # graceful: the server stops its workers, then itself
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # our own session, started above
            process.wait()


def _wait_until_up(server: Server, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"idp serve exited with {server.process.returncode}; see {server.log}")
        try:
            status, _, _ = request(server.port, "GET", f"/a/{ACCOUNT}/.well-known/openid-configuration")
            if status == 200 and len(server.worker_pids()) >= workers:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"idp serve did not answer within 60 s; see {server.log}")


# --- HTTP, and the code flow a relying party drives ----------------------------------------------

def request(
    port: int, method: str, path: str, body: dict[str, str] | None = None, headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, list[str]], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        all_headers = dict(headers or {})
        data = None
        if body is not None:
            data = urlencode(body).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        got: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            got.setdefault(name.lower(), []).append(value)
        return response.status, got, response.read()
    finally:
        conn.close()


class _Inputs(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            named = dict(attrs)
            if named.get("name") and named.get("type") == "hidden":
                self.values[str(named["name"])] = named.get("value") or ""


@dataclass
class Browser:
    """Just enough of a browser for the sign-in: a cookie jar and manual redirects."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def go(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        status, got, content = request(self.port, method, path, body, headers)
        for cookie in got.get("set-cookie", []):
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return status, (got.get("location") or [""])[0], content


def obtain_refresh_token(port: int, seed_: Seed, scope: str = "openid profile email") -> str:
    """One grant through the real code flow: authorize with PKCE, sign in, exchange the code."""
    browser = Browser(port)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({
        "response_type": "code", "client_id": seed_.web_id, "redirect_uri": REDIRECT_URI, "scope": scope,
        "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    status, location, page = browser.go("GET", f"/a/{ACCOUNT}/authorize?{query}")
    signed_in = False
    for _ in range(12):
        if location.startswith(REDIRECT_URI):
            params = parse_qs(urlsplit(location).query)
            if "code" not in params:
                raise BenchError(f"authorization failed: {location}")
            return _exchange(port, seed_, params["code"][0], verifier)
        if status in (301, 302, 303, 307):
            status, location, page = browser.go("GET", _local(location))
            continue
        if status == 200 and not signed_in and b'name="password"' in page:
            parser = _Inputs()
            parser.feed(page.decode())
            form = {**parser.values, "email": USER_EMAIL, "password": USER_PASSWORD}
            status, location, page = browser.go("POST", f"/a/{ACCOUNT}/login", form)
            signed_in = True
            continue
        raise BenchError(f"unexpected step in the code flow: HTTP {status} {location} {page[:300]!r}")
    raise BenchError("the code flow did not reach the redirect URI")


def _local(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _exchange(port: int, seed_: Seed, code: str, verifier: str) -> str:
    status, _, body = request(port, "POST", f"/a/{ACCOUNT}/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
    }, {"Authorization": basic_auth(seed_.web_id, seed_.web_secret)})
    if status != 200:
        raise BenchError(f"code exchange failed: HTTP {status} {body[:300]!r}")
    return str(json.loads(body)["refresh_token"])


# --- CPU accounting -------------------------------------------------------------------------------

def _process_parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_backends(database: str) -> list[int]:
    """The PostgreSQL backend processes serving `database` (their title names it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {database} " in title:
                pids.append(int(entry))
    return pids


def machine_busy_seconds() -> float:
    """Non-idle CPU seconds of the whole machine since boot (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU used by a set of processes between start() and stop(); new processes count from zero."""

    def __init__(self, find_pids: object) -> None:
        self.find_pids = find_pids
        self.before: dict[int, float] = {}

    def start(self) -> None:
        self.before = {pid: cpu_seconds(pid) for pid in self.find_pids()}  # type: ignore[operator]

    def stop(self) -> float:
        after = {pid: cpu_seconds(pid) for pid in self.find_pids()}  # type: ignore[operator]
        return sum(max(0.0, cpu - self.before.get(pid, 0.0)) for pid, cpu in after.items())


def machine_info(pg_url: str | None) -> dict[str, str]:
    def lscpu(field_name: str) -> str:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout  # noqa: S607
        for line in out.splitlines():
            if line.startswith(field_name + ":"):
                return line.split(":", 1)[1].strip()
        return "?"

    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    wrk = shutil.which("wrk")
    wrk_version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False).stdout if wrk \
        else ""  # noqa: S603
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": f"{lscpu('Model name')}, {os.cpu_count()} vCPU ({lscpu('Hypervisor vendor')} guest)",
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": os.uname().release,
        "python": sys.version.split()[0],
        "wrk": (wrk_version.splitlines() or ["?"])[0].split(" [")[0],
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S603, S607
                                 capture_output=True, text=True, check=False).stdout.strip() or "?",
    }
    if pg_url:
        try:
            info["postgresql"] = postgres_version(pg_url)
        except Exception as exc:  # noqa: BLE001 - recorded, not fatal
            info["postgresql"] = f"unavailable ({exc.__class__.__name__})"
    return info


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="portcullis-bench-") as path:
        yield Path(path)


# --- machine speed ---------------------------------------------------------------------------------

def rsa_sign_ms(n: int = 200) -> float:
    """CPU ms of one RSA-2048 PKCS#1 v1.5 signature, now: a yardstick for how much the neighbours
    slow this machine down (0.39-0.55 ms on a quiet Intel Xeon host), so noisy runs can be read as such."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = _yardstick_key()
    start = time.process_time()
    for _ in range(n):
        key.sign(b"x" * 300, padding.PKCS1v15(), hashes.SHA256())
    return (time.process_time() - start) / n * 1000


_KEY: list[object] = []


def _yardstick_key():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not _KEY:
        _KEY.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEY[0]

