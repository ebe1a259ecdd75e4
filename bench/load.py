"""Full flows under load, with faults: what people see when many sign in at once, and when the
database restarts or a worker dies under them.

N simulated people (threads) each repeat a whole visit against a real `idp serve` on a private
PostgreSQL (tests/pg_cluster.py): authorize with PKCE, sign in with a password, exchange the code,
refresh, call UserInfo with the new access token, log out (one visit in five stays signed in, and
its refresh token is tried again after the run). Each answer is counted by step and status.
Scenarios:

- `steady`: nothing goes wrong; the run must have no error at all.
- `postgres-restart`: PostgreSQL is stopped (`pg_ctl stop -m fast`) for `--outage` seconds
  mid-run: only 503s (with Retry-After) while it is down, no 500, and afterwards every refresh
  chain still works (a visit that started before the outage refreshes again after it).
- `kill-worker`: one worker gets SIGKILL mid-run; Granian starts another and visits go on; each
  visit also invites a person, and nothing may be stored or mailed twice.
- `smtp-stop`: each visit also has the admin API invite a new person (one mail each); the SMTP
  server (aiosmtpd on loopback) is down for `--smtp-outage` seconds mid-run; afterwards every
  invitation must arrive exactly once (the outbox retries: 30 s, then 1, 2, 4 … minutes).

    .venv/bin/python -m bench.load [--scenario steady] [--users 50] [--seconds 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.harness import (
    ACCOUNT,
    IDP,
    REDIRECT_URI,
    USER_EMAIL,
    USER_PASSWORD,
    Backend,
    Browser,
    Seed,
    Server,
    basic_auth,
    free_port,
    idp_env,
    new_master_key,
    request,
    running_server,
    seed,
)
from tests.mail.smtp_server import Mailbox, SmtpServer
from tests.mail.smtp_server import free_port as smtp_free_port
from tests.pg_cluster import PrivatePostgres

OK = {200, 201, 204, 302, 303}


@dataclass
class Tally:
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    visits: int = 0
    failed_visits: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, step: str, status: int) -> None:
        with self.lock:
            self.answers[(step, status)] += 1


class Visit:
    """One person's visit, step by step; each step's status is tallied."""

    def __init__(self, port: int, seeded: Seed, tally: Tally) -> None:
        self.port, self.seeded, self.tally = port, seeded, tally
        self.browser = Browser(port)

    def step(self, name: str, method: str, path: str, body: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        if headers:
            status, got, content = request(self.port, method, path, body, headers)
            location = (got.get("location") or [""])[0]
        else:
            status, location, content = self.browser.go(method, path, body)
        self.tally.count(name, status)
        if status not in OK:
            raise RuntimeError(f"{name}: {status}")
        return status, location, content

    def run(self) -> str:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({"response_type": "code", "client_id": self.seeded.web_id, "redirect_uri": REDIRECT_URI,
                           "scope": "openid profile email", "state": "s", "nonce": "n",
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        _, location, _ = self.step("authorize", "GET", f"/a/{ACCOUNT}/authorize?{query}")
        _, _, page = self.step("sign-in page", "GET", _local(location))
        csrf = page.split(b'name="csrf_token" value="', 1)[1].split(b'"', 1)[0].decode()
        request_id = parse_qs(urlsplit(location).query)["request"][0]
        _, location, _ = self.step("sign in", "POST", f"/a/{ACCOUNT}/login", {
            "csrf_token": csrf, "email": USER_EMAIL, "password": USER_PASSWORD, "request": request_id})
        for _ in range(6):
            if location.startswith(REDIRECT_URI):
                break
            _, location, _ = self.step("continue", "GET", _local(location))
        code = parse_qs(urlsplit(location).query)["code"][0]
        auth = {"Authorization": basic_auth(self.seeded.web_id, self.seeded.web_secret)}
        _, _, body = self.step("code", "POST", f"/a/{ACCOUNT}/token", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}, auth)
        return str(json.loads(body)["refresh_token"])

    def refresh(self, refresh_token: str) -> str:
        auth = {"Authorization": basic_auth(self.seeded.web_id, self.seeded.web_secret)}
        _, _, body = self.step("refresh", "POST", f"/a/{ACCOUNT}/token",
                               {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth)
        tokens = json.loads(body)
        self.step("userinfo", "GET", f"/a/{ACCOUNT}/userinfo", None,
                  {"Authorization": f"Bearer {tokens['access_token']}"})
        return str(tokens["refresh_token"])

    def invite(self, bearer: str) -> str:
        email = f"invitee.{secrets.token_hex(6)}@example.com"
        status, body = post_json(self.port, f"/a/{ACCOUNT}/api/v1/users", {"email": email, "send_invitation": True},
                                 bearer)
        self.tally.count("invite", status)
        if status != 201:
            raise RuntimeError(f"invite: {status} {body[:80]!r}")
        return email

    def log_out(self) -> None:
        _, _, page = self.step("log out page", "GET", f"/a/{ACCOUNT}/logout")
        csrf = page.split(b'name="csrf_token" value="', 1)[1].split(b'"', 1)[0].decode()
        self.step("log out", "POST", f"/a/{ACCOUNT}/logout", {"csrf_token": csrf})


def post_json(port: int, path: str, body: dict[str, object], bearer: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _service_token(port: int, seeded: Seed) -> str:
    status, _, body = request(port, "POST", f"/a/{ACCOUNT}/token", {"grant_type": "client_credentials"},
                              {"Authorization": basic_auth(seeded.service_id, seeded.service_secret)})
    if status != 200:
        raise RuntimeError(f"client_credentials: {status}")
    return str(json.loads(body)["access_token"])


def _local(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def person(port: int, seeded: Seed, tally: Tally, stop: threading.Event, chains: list[str],
           invited: list[str] | None) -> None:
    visits = 0
    bearer = _service_token(port, seeded) if invited is not None else ""
    while not stop.is_set():
        visit = Visit(port, seeded, tally)
        visits += 1
        try:
            token = visit.refresh(visit.run())
            if invited is not None:
                email = visit.invite(bearer)
                with tally.lock:
                    invited.append(email)
            if visits % 5 == 0:  # one visit in five stays signed in: its chain is tried after the run
                with tally.lock:
                    chains.append(token)
            else:
                visit.log_out()
            with tally.lock:
                tally.visits += 1
        except Exception as error:  # noqa: BLE001 - counted and reported
            with tally.lock:
                tally.failed_visits += 1
                tally.errors.append(str(error)[:120])
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["steady", "postgres-restart", "kill-worker", "smtp-stop"],
                        default="steady")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--outage", type=float, default=5.0)
    parser.add_argument("--smtp-outage", type=float, default=30.0)
    parser.add_argument("--nodes", type=int, default=1,
                        help="several `idp serve` nodes behind Debian's HAProxy (round robin) on one PostgreSQL")
    args = parser.parse_args()
    mailbox = Mailbox()
    smtp = SmtpServer(smtp_free_port(), mailbox)
    smtp.start()
    with PrivatePostgres() as postgres, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        env = idp_env(Backend("postgresql", postgres.url, workdir), port, new_master_key())
        env["IDP_SMTP_URL"] = f"smtp://127.0.0.1:{smtp.port}?timeout=5"
        seeded = seed(env)
        invited: list[str] | None = [] if args.scenario in ("smtp-stop", "kill-worker") else None
        with running_nodes(env, port, args.nodes, args.workers, workdir) as servers:
            server = servers[0]
            tally, stop, chains = Tally(), threading.Event(), []
            threads = [threading.Thread(target=person, args=(port, seeded, tally, stop, chains, invited),
                                        daemon=True) for _ in range(args.users)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            fault = ""
            time.sleep(args.seconds / 2)
            if args.scenario == "postgres-restart":
                postgres.stop(mode="fast")
                time.sleep(args.outage)
                postgres.start()
                fault = f"PostgreSQL down {args.outage:.0f} s at {args.seconds / 2:.0f} s"
            elif args.scenario == "smtp-stop":
                smtp.stop()
                time.sleep(args.smtp_outage)
                smtp.start()
                fault = f"SMTP down {args.smtp_outage:.0f} s at {args.seconds / 2:.0f} s"
            elif args.scenario == "kill-worker":
                victim = server.worker_pids()[0]
                os.kill(victim, signal.SIGKILL)
                fault = f"worker {victim} killed at {args.seconds / 2:.0f} s"
            time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            elapsed = time.monotonic() - started
            survivors = sum(1 for token in chains[-20:] if _refreshes(port, seeded, token))
            if invited is not None:  # every invitation delivered, once: the outbox retries after its backoff
                deadline = time.monotonic() + (240 if args.scenario == "smtp-stop" else 60)
                while time.monotonic() < deadline and len(mailbox.messages) < len(invited):
                    time.sleep(1)
                received = Counter(str(m["To"]) for m in mailbox.messages)
                missing = [e for e in invited if received[e] == 0]
                twice = [e for e, n in received.items() if n > 1]
                fault += (f"; invitations {len(invited)}, delivered {len(mailbox.messages)}, "
                          f"missing {len(missing)}, more than once {len(twice)}, "
                          f"all in by {time.monotonic() - started:.0f} s after the start")
                stored = _stored_emails(postgres.url)
                duplicated = [e for e, n in stored.items() if n > 1]
                not_stored = [e for e in invited if stored.get(e, 0) == 0]
                fault += f"; people stored twice {len(duplicated)}, answered 201 but not stored {len(not_stored)}"
                # A worker killed while it held a claim on a message leaves it to the next sender after
                # the claim's lease (5 min): late, never twice. SMTP down: every message, in time.
                if twice or duplicated or not_stored or (missing and args.scenario == "smtp-stop"):
                    tally.errors.append(f"mail: {len(missing)} missing, {len(twice)} twice, "
                                        f"{len(duplicated)} stored twice, {len(not_stored)} not stored")
            log = "".join(s.log.read_text(errors="replace") for s in servers)
            workers_after = sum(len(s.worker_pids()) for s in servers) // len(servers)
    smtp.stop()
    return report(args, tally, elapsed, fault, survivors, min(20, len(chains)), log, workers_after)


@contextmanager
def running_nodes(env: dict[str, str], port: int, nodes: int, workers: int, workdir: Path) -> Iterator[list[Server]]:
    """One server on `port`, or `nodes` servers behind HAProxy listening on `port` (the public URL)."""
    if nodes == 1:
        with running_server(env, port, workers, workdir / "server.log") as server:
            yield [server]
        return
    from tests.e2e.test_load_balancer import HAPROXY_CONFIG

    ports = [free_port() for _ in range(nodes)]
    node_env = env | {"IDP_TRUST_PROXY": "1"}
    with ExitStack() as stack:
        servers = []
        for n, node_port in enumerate(ports):
            log = (workdir / f"node-{n}.log").open("ab")
            stack.callback(log.close)
            process = subprocess.Popen(  # noqa: S603
                [IDP, "serve", "--host", "127.0.0.1", "--port", str(node_port), "--workers", str(workers)],
                env=node_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            stack.callback(_stop, process)
            servers.append(Server(process, node_port, workdir / f"node-{n}.log"))
        for server in servers:
            _wait_for(f"http://127.0.0.1:{server.port}/readyz")
        backends = "\n".join(f"  server n{n} 127.0.0.1:{p}" for n, p in enumerate(ports))
        config = HAPROXY_CONFIG.format(port=port, a=ports[0], b=ports[1]).split("  server a ")[0] + backends + "\n"
        (workdir / "haproxy.cfg").write_text(config)
        proxy = subprocess.Popen([shutil.which("haproxy") or "/usr/sbin/haproxy", "-f",  # noqa: S603
                                  str(workdir / "haproxy.cfg"), "-db"], stdout=subprocess.DEVNULL)
        stack.callback(_stop, proxy)
        _wait_for(f"http://127.0.0.1:{port}/healthz")
        yield servers


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _stored_emails(database_url: str) -> Counter[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return Counter(str(email) for email in connection.scalars(text("SELECT email FROM users")))
    finally:
        engine.dispose()


def _refreshes(port: int, seeded: Seed, token: str) -> bool:
    status, _, _ = request(port, "POST", f"/a/{ACCOUNT}/token", {"grant_type": "refresh_token", "refresh_token": token},
                           {"Authorization": basic_auth(seeded.web_id, seeded.web_secret)})
    return status == 200


def report(args: argparse.Namespace, tally: Tally, elapsed: float, fault: str, survivors: int, tried: int,
           log: str, workers_after: int) -> int:
    statuses = Counter(status for (_, status), n in tally.answers.items() for _ in range(n))
    server_errors = sum(n for status, n in statuses.items() if status >= 500 and status != 503)
    nodes = f"{args.nodes} nodes behind HAProxy, " if args.nodes > 1 else ""
    print(f"scenario {args.scenario}: {args.users} users, {elapsed:.0f} s, {nodes}{args.workers} workers"
          + (f"; {fault}" if fault else ""))
    print(f"visits completed {tally.visits} ({tally.visits / elapsed:.2f}/s), failed {tally.failed_visits}; "
          f"answers by status {dict(sorted(statuses.items()))}; 5xx other than 503: {server_errors}; "
          f"refresh chains intact afterwards {survivors}/{tried}; workers at the end {workers_after}; "
          f"tracebacks in the log {log.count('Traceback')}")
    for error, n in Counter(tally.errors).most_common(5):
        print(f"  {n} x {error}")
    ok = server_errors == 0 and "Traceback" not in log and survivors == tried and workers_after == args.workers
    ok = ok and not [e for e in tally.errors if e.startswith("mail:")]
    if args.scenario == "steady":
        ok = ok and tally.failed_visits == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
