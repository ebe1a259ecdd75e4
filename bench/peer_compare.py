"""client_credentials against the reference peer, node-oidc-provider, on the same machine in the
same run (issue 16, measurement 1).

Both servers run at once; wrk (the same Lua script, connections and duration) loads one, then the
other, A B A B A B. Each run counts the grants answered and the CPU the server used (for
`idp serve`: its workers, and apart from that its PostgreSQL backends), so the ratio is per core
and does not depend on how many cores each can use: node-oidc-provider is one process (one core),
`idp serve` runs two workers. Ratio = our grants per CPU-second ÷ the peer's; the median of the
rounds is the result.

    .venv/bin/python -m bench.peer_compare [--rounds 3] [--duration 10] [--connections 8] [--peer-tokens jwt]

The peer lives in bench/peer/ (npm, pinned by its lock file; `make peer` installs it): one
client_credentials client, its in-memory adapter, its defaults otherwise (opaque access tokens
kept in memory). Ours issue signed JWT access tokens (ES256) and keep nothing: what each does by
default, which is what a person choosing between them would run. `--peer-tokens jwt` has the
peer sign ES256 JWT access tokens too (its resource indicators feature with one default
resource), for the same work per grant on both sides.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import harness
from bench.harness import ACCOUNT, BenchError
from bench.token_endpoint import CLIENT_CREDENTIALS_LUA, _wrk

PEER = Path(__file__).resolve().parent / "peer"
GOAL = 1.0


@dataclass
class Run:
    server: str  # "portcullis" or "node-oidc-provider"
    round: int
    grants: int
    grants_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    db_cpu_s: float
    failures: int

    @property
    def per_core(self) -> float:
        return self.grants / self.server_cpu_s if self.server_cpu_s else 0.0

    @property
    def per_core_with_db(self) -> float:
        cpu = self.server_cpu_s + self.db_cpu_s
        return self.grants / cpu if cpu else 0.0


def start_peer(port: int, client_id: str, secret: str, log: Path, tokens: str = "opaque") -> subprocess.Popen[bytes]:
    node = shutil.which("node")
    if node is None or not (PEER / "node_modules" / "oidc-provider").is_dir():
        raise BenchError("the peer is not installed: run `make peer` (npm ci in bench/peer)")
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603
            [node, str(PEER / "peer.mjs"), str(port), client_id, secret, "users:write", tokens],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the peer exited with {process.returncode}; see {log}")
        try:
            status, _, _ = harness.request(port, "GET", "/.well-known/openid-configuration")
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"the peer did not answer within 30 s; see {log}")


def measure(name: str, round_: int, wrk: str, script: str, url: str, pids: object, db_pids: object,
            args: argparse.Namespace, tmp: Path) -> Run:
    _wrk(wrk, script, url, args.warmup, args.connections, tmp)
    time.sleep(0.5)
    server_cpu, db_cpu = harness.CpuMeter(pids), harness.CpuMeter(db_pids)
    server_cpu.start()
    db_cpu.start()
    stats = _wrk(wrk, script, url, args.duration, args.connections, tmp)
    server_s, db_s = server_cpu.stop(), db_cpu.stop()
    seconds = stats["duration_us"] / 1e6
    failures = stats["bad"] + stats["connect_errors"] + stats["read_errors"] + stats["write_errors"] + stats["timeouts"]
    if failures:
        raise BenchError(f"{name}: {failures} failed requests, e.g. {stats.get('sample', '')}")
    return Run(name, round_, stats["ok"], round(stats["ok"] / seconds, 1), stats["p50_us"] / 1000,
               stats["p99_us"] / 1000, round(server_s, 2), round(db_s, 2), failures)


def compare(args: argparse.Namespace) -> dict[str, object]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed (`make bench` installs it)")
    with harness.workdir() as tmp:
        backend = harness.make_backend("postgresql", tmp, args.pg_url)
        port, peer_port = harness.free_port(), harness.free_port()
        env = harness.idp_env(backend, port, harness.new_master_key())
        seed = harness.seed(env)
        script = CLIENT_CREDENTIALS_LUA.format(
            account=ACCOUNT, authorization=harness.basic_auth(seed.service_id, seed.service_secret), setup="")
        peer_script = script.replace(f'wrk.path = "/a/{ACCOUNT}/token"', 'wrk.path = "/token"')
        assert peer_script != script
        database = harness.libpq_url(backend.url).rsplit("/", 1)[1].split("?")[0]
        peer = start_peer(peer_port, seed.service_id, seed.service_secret, tmp / "peer.log", args.peer_tokens)
        _check_peer_tokens(peer_port, seed, args.peer_tokens)
        runs: list[Run] = []
        try:
            with harness.running_server(env, port, args.workers, tmp / "server.log") as server:
                for round_ in range(1, args.rounds + 1):
                    runs.append(measure("portcullis", round_, wrk, script, f"http://127.0.0.1:{port}/a/{ACCOUNT}/token",
                                        server.pids, lambda: harness.postgres_backends(database), args, tmp))
                    print(_line(runs[-1]), flush=True)
                    runs.append(measure("node-oidc-provider", round_, wrk, peer_script,
                                        f"http://127.0.0.1:{peer_port}/token", lambda: [peer.pid], lambda: [],
                                        args, tmp))
                    print(_line(runs[-1]), flush=True)
        finally:
            peer.send_signal(signal.SIGTERM)
            peer.wait(timeout=10)
    ours = [r for r in runs if r.server == "portcullis"]
    theirs = [r for r in runs if r.server != "portcullis"]
    ratios = [a.per_core / b.per_core for a, b in zip(ours, theirs, strict=True)]
    ratios_db = [a.per_core_with_db / b.per_core for a, b in zip(ours, theirs, strict=True)]
    throughput = [a.grants_per_s / b.grants_per_s for a, b in zip(ours, theirs, strict=True)]
    return {
        "machine": harness.machine_info(args.pg_url), "workers": args.workers, "connections": args.connections,
        "duration_s": args.duration, "runs": [asdict(r) | {"per_core": round(r.per_core, 1),
                                                         "per_core_with_db": round(r.per_core_with_db, 1)}
                                            for r in runs],
        "ratio_per_core": round(statistics.median(ratios), 2),
        "ratio_per_core_counting_postgresql": round(statistics.median(ratios_db), 2),
        "ratio_throughput": round(statistics.median(throughput), 2),
        "peer_access_tokens": args.peer_tokens,
        "goal": GOAL,
    }


def _check_peer_tokens(port: int, seed: harness.Seed, tokens: str) -> None:
    """The peer issues what it was asked to: an opaque token, or an ES256 JWT."""
    authorization = harness.basic_auth(seed.service_id, seed.service_secret)
    status, _, body = harness.request(port, "POST", "/token", headers={"Authorization": authorization},
                                      body={"grant_type": "client_credentials", "scope": "users:write"})
    token = json.loads(body).get("access_token", "") if status == 200 else ""
    is_jwt = token.count(".") == 2
    if not token or is_jwt != (tokens == "jwt"):
        raise BenchError(f"the peer did not issue {tokens} access tokens: {status} {body[:200]!r}")
    if is_jwt:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        if header.get("alg") != "ES256":
            raise BenchError(f"the peer signs its access tokens with {header.get('alg')}, not ES256")


def _line(r: Run) -> str:
    return (f"round {r.round} {r.server:<19} {r.grants_per_s:7.1f} grants/s  p50 {r.p50_ms:5.1f} ms  "
            f"p99 {r.p99_ms:6.1f} ms  cpu {r.server_cpu_s:5.1f} s (+db {r.db_cpu_s:4.1f} s)  "
            f"{r.per_core:6.0f} per core ({r.per_core_with_db:.0f} counting the database)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="idp serve worker processes")
    parser.add_argument("--pg-url", default=harness.DEFAULT_PG_URL)
    parser.add_argument("--peer-tokens", choices=["opaque", "jwt"], default="opaque",
                        help="the peer's access tokens: its default (opaque), or ES256 JWTs as ours")
    args = parser.parse_args(argv)
    try:
        result = compare(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = harness.ROOT / "var" / "bench" / f"peer_compare_{args.peer_tokens}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    met = "met" if result["ratio_per_core"] >= GOAL else "NOT met"  # type: ignore[operator]
    print(f"client_credentials vs node-oidc-provider ({args.peer_tokens} access tokens), median of {args.rounds} "
          f"alternated rounds: "
          f"{result['ratio_per_core']} per core (goal >= {GOAL}: {met}); "
          f"{result['ratio_per_core_counting_postgresql']} counting PostgreSQL's CPU too; "
          f"{result['ratio_throughput']} in grants/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
