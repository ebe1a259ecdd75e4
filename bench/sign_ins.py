"""Password sign-ins against the argon2id limit (issue 16, measurement 2).

N people sign in at once, each again and again, the whole way a browser goes: GET /authorize
(PKCE) → the sign-in page (its CSRF token and cookie) → POST the password → the redirects of the
sign-in pipeline → the code at the redirect URI → the code exchanged for tokens. The server's CPU
(`idp serve` and its workers; apart from that, its PostgreSQL backends) is read from /proc, so
the result is sign-ins per CPU-second of the server, whatever else the machine runs. Beside it,
in the same run, the raw argon2id verify rate at the same parameters (idp.accounts.passwords),
per CPU-second of one core. Goal: sign-ins ≥ 0.85 × verifies, i.e. the hash is nearly all a
sign-in costs.

    .venv/bin/python -m bench.sign_ins [--users 4] [--seconds 20]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from bench import harness
from bench.harness import ACCOUNT, REDIRECT_URI, USER_PASSWORD, BenchError, Browser

GOAL = 0.85


def sign_in_once(port: int, seed: harness.Seed, email: str, account: str = ACCOUNT) -> None:
    """One whole browser sign-in of `email` at `account`'s web client (`seed.web_id`)."""
    browser = Browser(port)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({
        "response_type": "code", "client_id": seed.web_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    status, location, page = browser.go("GET", f"/a/{account}/authorize?{query}")
    signed_in = False
    for _ in range(12):
        if location.startswith(REDIRECT_URI):
            code = parse_qs(urlsplit(location).query)["code"][0]
            status, _, body = harness.request(port, "POST", f"/a/{account}/token", {
                "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier}, {"Authorization": harness.basic_auth(seed.web_id, seed.web_secret)})
            if status != 200 or b'"id_token"' not in body:
                raise BenchError(f"code exchange failed: HTTP {status} {body[:200]!r}")
            return
        if status in (302, 303):
            parts = urlsplit(location)
            status, location, page = browser.go("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            continue
        if status == 200 and not signed_in and b'name="password"' in page:
            parser = harness._Inputs()
            parser.feed(page.decode())
            status, location, page = browser.go("POST", f"/a/{account}/login", {
                **parser.values, "email": email, "password": USER_PASSWORD})
            signed_in = True
            continue
        raise BenchError(f"unexpected step: HTTP {status} {location} {page[:200]!r}")
    raise BenchError("the sign-in did not reach the redirect URI")


def argon2_verifies_per_core_second(seconds: float = 3.0) -> float:
    """argon2id verifies per CPU-second of one core, at the product's parameters."""
    from idp.accounts.passwords import HASHER

    stored = HASHER.hash(USER_PASSWORD)
    done, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        HASHER.verify(stored, USER_PASSWORD)
        done += 1
    return done / (time.process_time() - start)


def _profile(pid: int, seconds: int, tmp: Path) -> None:
    """py-spy samples one worker while the people sign in (`--profile`): where a sign-in's time goes."""
    from bench.profile_live import summary

    samples = tmp / "samples.txt"
    subprocess.run([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid), "-d", str(seconds),  # noqa: S603
                    "-r", "250", "-f", "raw", "-o", str(samples), "--nonblocking"], check=True, capture_output=True)
    print(summary(samples.read_text(), 45))


def run(args: argparse.Namespace) -> dict[str, object]:
    with harness.workdir() as tmp:
        backend = harness.make_backend("postgresql", tmp, args.pg_url)
        port = harness.free_port()
        env = harness.idp_env(backend, port, harness.new_master_key())
        seed = harness.seed(env)
        emails = [f"signer{i}@example.com" for i in range(args.users)]
        for email in emails:
            harness.cli(env, "user", "create", "--tenant", ACCOUNT, "--email", email, "--password", USER_PASSWORD,
                        "--verified", "--json")
        database = harness.libpq_url(backend.url).rsplit("/", 1)[1].split("?")[0]
        with harness.running_server(env, port, args.workers, tmp / "server.log") as server:
            for email in emails:  # warm: every worker's caches, every account's first sign-in
                sign_in_once(port, seed, email)
            harness.analyze(backend)
            before = argon2_verifies_per_core_second()
            server_cpu = harness.CpuMeter(server.pids)
            db_cpu = harness.CpuMeter(lambda: harness.postgres_backends(database))
            counts = [0] * args.users
            failures: list[BaseException] = []
            stop = time.monotonic() + args.seconds

            def person(i: int) -> None:
                try:
                    while time.monotonic() < stop:
                        sign_in_once(port, seed, emails[i])
                        counts[i] += 1
                except BaseException as error:  # noqa: BLE001 - reported below
                    failures.append(error)

            server_cpu.start()
            db_cpu.start()
            started = time.monotonic()
            threads = [threading.Thread(target=person, args=(i,)) for i in range(args.users)]
            for thread in threads:
                thread.start()
            if args.profile:
                _profile(server.worker_pids()[0], max(args.seconds - 4, 1), tmp)
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            server_s, db_s = server_cpu.stop(), db_cpu.stop()
            after = argon2_verifies_per_core_second()
        if failures:
            raise BenchError(f"{len(failures)} sign-ins failed, e.g. {failures[0]}")
    total = sum(counts)
    argon2 = (before + after) / 2
    per_core = total / server_s
    per_core_db = total / (server_s + db_s)
    return {
        "machine": harness.machine_info(args.pg_url), "users": args.users, "workers": args.workers,
        "seconds": round(elapsed, 1), "sign_ins": total, "sign_ins_per_s": round(total / elapsed, 1),
        "server_cpu_s": round(server_s, 2), "db_cpu_s": round(db_s, 2),
        "sign_ins_per_core_second": round(per_core, 2), "counting_postgresql": round(per_core_db, 2),
        "argon2id_verifies_per_core_second": round(argon2, 2),
        "argon2id_before_after": [round(before, 2), round(after, 2)],
        "ratio": round(per_core / argon2, 2), "ratio_counting_postgresql": round(per_core_db / argon2, 2),
        "goal": GOAL,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=4, help="people signing in at once")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg-url", default=harness.DEFAULT_PG_URL)
    parser.add_argument("--profile", action="store_true", help="py-spy one worker meanwhile and print where time goes")
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = harness.ROOT / "var" / "bench" / "sign_ins.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    met = "met" if result["ratio"] >= GOAL else "NOT met"  # type: ignore[operator]
    print(f"password sign-ins: {result['sign_ins']} in {result['seconds']} s by {args.users} people; "
          f"{result['sign_ins_per_core_second']} per server core-second "
          f"({result['counting_postgresql']} counting PostgreSQL), argon2id verifies "
          f"{result['argon2id_verifies_per_core_second']} per core-second: ratio {result['ratio']} "
          f"(goal >= {GOAL}: {met}; {result['ratio_counting_postgresql']} counting PostgreSQL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
