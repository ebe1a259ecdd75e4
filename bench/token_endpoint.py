"""Token-endpoint benchmark: client_credentials and refresh_token grants/s and p50/p99 latency
against a running `idp serve`, over loopback, at 1 and 2 worker processes, on SQLite and
PostgreSQL. Results and machine details go in bench/RESULTS.md (by hand, from this output).

    make bench                                  # everything, defaults below
    .venv/bin/python -m bench.token_endpoint --backends postgresql --workers 2 --duration 15

For each backend the database is made from scratch (a temp SQLite file; PostgreSQL: the public
schema of --pg-url is dropped and recreated, so give it a database of its own) and seeded with
the real CLI: `idp db upgrade`, `idp tenant create`, `idp client create` (a client_credentials
service and a first-party confidential web client), `idp user create`.

Load comes from `wrk` (Debian package `wrk`), an epoll C client with Lua scripts:
- client_credentials: every connection POSTs the same form with client_secret_basic.
- refresh_token: wrk runs one connection per thread, so each connection chains its own grant:
  its Lua state holds the current refresh token and replaces it with the one in each response
  (tokens rotate on every use; a reuse would revoke the grant and show up as failures). The
  grants come from the real code flow over HTTP (authorize + PKCE, sign-in form with its CSRF
  token, code exchange), one sign-in per grant, a fresh pool for the warm-up and for the run.

Every response is checked (200 with an access token; for refresh, a new refresh token); a run
with any failure is reported as invalid. CPU is read from /proc: the server process and its workers,
the PostgreSQL backends of the benchmark database, wrk itself (rusage) and the whole machine, so
grants per server CPU-second ("per core") can be compared with the targets even though the load
generator shares the machine's cores.

`idp serve` keeps HTTP/1.1 connections alive (Granian workers, one Python request thread each), so each
wrk connection is reused for its requests, as a relying party's HTTP pool reuses its own.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import ACCOUNT, BenchError

TARGET_PER_CORE = 480  # grants/s per CPU core on PostgreSQL, both grants (issue 3)

WRK_DONE = r"""
function done(summary, latency, requests)
  local ok, bad, sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("ok")
    bad = bad + thread:get("bad")
    if thread:get("last_bad") ~= "" then sample = thread:get("last_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {{\"requests\":%d,\"duration_us\":%d,\"ok\":%d,\"bad\":%d,\"connect_errors\":%d," ..
    "\"read_errors\":%d,\"write_errors\":%d,\"status_errors\":%d,\"timeouts\":%d," ..
    "\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"max_us\":%d,\"mean_us\":%.1f}}\n",
    summary.requests, summary.duration, ok, bad, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  if sample ~= "" then io.write("BENCH_BAD " .. sample .. "\n") end
end
"""  # every script's summary: one BENCH_JSON line wrk prints at the end

WRK_COMMON = r"""
wrk.method = "POST"
wrk.path = "/a/{account}/token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "{authorization}"
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
  {setup}
end
function init(args)
  ok = 0
  bad = 0
  last_bad = ""
end
""" + WRK_DONE

CLIENT_CREDENTIALS_LUA = WRK_COMMON + r"""
wrk.body = "grant_type=client_credentials&scope=users%3Awrite"
function response(status, headers, body)
  if status == 200 and string.find(body, '"access_token"', 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    last_bad = status .. " " .. string.sub(body, 1, 200)
  end
end
"""

REFRESH_LUA = WRK_COMMON + r"""
pool = {{ {tokens} }}
function request()
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end
function response(status, headers, body)
  local rotated = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if status == 200 and rotated and string.find(body, '"access_token"', 1, true) then
    token = rotated
    ok = ok + 1
  else
    bad = bad + 1
    last_bad = status .. " " .. string.sub(body, 1, 200)
  end
end
"""


@dataclass
class Result:
    backend: str
    workers: int
    grant: str
    connections: int
    duration_s: float
    grants: int
    grants_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    failures: int
    server_cpu_s: float  # `idp serve` and its worker processes
    db_cpu_s: float  # PostgreSQL backends of the benchmark database (0 for SQLite: in-process)
    wrk_cpu_s: float
    machine_cpu_s: float  # every process on the machine, all cores
    grants_per_server_core: float  # grants / (server + db CPU seconds)
    grants_per_idp_core: float = 0.0  # grants / server CPU seconds: how Keycloak's sizing counts (RESULTS.md)
    sample_failure: str = ""
    loadavg_before: str = ""  # 1-minute load before the run: other work on the machine skews results
    rsa_sign_ms_after: float = 0.0  # one RSA-2048 signature right after the run: the machine's speed then

    @property
    def valid(self) -> bool:
        return self.failures == 0 and self.grants > 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.token_endpoint", description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker process counts")
    parser.add_argument("--grants", default="client_credentials,refresh_token")
    parser.add_argument("--duration", type=int, default=15, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=4, help="seconds of warm-up before each run")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (wrk threads)")
    parser.add_argument("--pg-url", default=harness.DEFAULT_PG_URL,
                        help="a PostgreSQL database of the benchmark's own: its public schema is dropped")
    parser.add_argument("--json", type=Path, default=harness.ROOT / "var" / "bench" / "token_endpoint.json",
                        help="where to write the raw results")
    args = parser.parse_args(argv)

    wrk = shutil.which("wrk")
    if wrk is None:
        print("error: wrk is not installed (Debian: apt-get install wrk; `make bench` does it)", file=sys.stderr)
        return 1
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    grants = [g.strip() for g in args.grants.split(",") if g.strip()]
    unknown = set(grants) - {"client_credentials", "refresh_token"}
    if unknown:
        parser.error(f"unknown grant(s): {', '.join(sorted(unknown))}")
    workers_list = [int(w) for w in args.workers.split(",")]

    machine = harness.machine_info(args.pg_url if "postgresql" in backends else None)
    for key, value in machine.items():
        print(f"# {key}: {value}", flush=True)
    results: list[Result] = []
    try:
        for backend_name in backends:
            with harness.workdir() as tmp:
                backend = harness.make_backend(backend_name, tmp, args.pg_url)
                port = harness.free_port()
                env = harness.idp_env(backend, port, harness.new_master_key())
                seed = harness.seed(env)
                for workers in workers_list:
                    with harness.running_server(env, port, workers, tmp / "serve.log") as server:
                        for grant in grants:
                            result = run_grant(wrk, server, backend, seed, grant, workers, args)
                            results.append(result)
                            print(row(result), flush=True)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print()
    print(table(results))
    print()
    print(verdict(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "settings": {
        "duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
    }, "results": [asdict(r) for r in results]}, indent=2))
    print(f"\nraw results: {args.json}")
    return 0 if all(r.valid for r in results) else 1


def run_grant(wrk: str, server: harness.Server, backend: harness.Backend, seed: harness.Seed, grant: str,
              workers: int, args: argparse.Namespace) -> Result:
    if grant == "client_credentials":
        script = CLIENT_CREDENTIALS_LUA.format(
            account=ACCOUNT, authorization=harness.basic_auth(seed.service_id, seed.service_secret), setup="")
        warm_script = script
    else:
        def refresh_script() -> str:
            tokens = [harness.obtain_refresh_token(server.port, seed) for _ in range(args.connections)]
            return REFRESH_LUA.format(
                account=ACCOUNT, authorization=harness.basic_auth(seed.web_id, seed.web_secret),
                tokens=", ".join(f'"{t}"' for t in tokens),
                setup='next_token = (next_token or 0) + 1\n  thread:set("token", pool[next_token])',
            )
        warm_script, script = refresh_script(), refresh_script()

    url = f"http://127.0.0.1:{server.port}/a/{ACCOUNT}/token"
    _wrk(wrk, warm_script, url, args.warmup, args.connections, backend.workdir)
    harness.analyze(backend)
    time.sleep(0.5)

    loadavg = Path("/proc/loadavg").read_text().split()[0]
    database = harness.libpq_url(backend.url).rsplit("/", 1)[1].split("?")[0]
    server_cpu = harness.CpuMeter(server.pids)
    db_cpu = harness.CpuMeter(lambda: harness.postgres_backends(database) if backend.is_postgres else [])
    server_cpu.start()
    db_cpu.start()
    machine_before = harness.machine_busy_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stats = _wrk(wrk, script, url, args.duration, args.connections, backend.workdir)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_cpu = harness.machine_busy_seconds() - machine_before
    server_s, db_s = server_cpu.stop(), db_cpu.stop()
    wrk_s = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)

    seconds = stats["duration_us"] / 1e6
    failures = stats["bad"] + stats["connect_errors"] + stats["read_errors"] + stats["write_errors"] + \
        stats["timeouts"]
    return Result(
        backend=backend.name, workers=workers, grant=grant, connections=args.connections,
        duration_s=round(seconds, 2), grants=stats["ok"], grants_per_s=round(stats["ok"] / seconds, 1),
        p50_ms=stats["p50_us"] / 1000, p90_ms=stats["p90_us"] / 1000, p99_ms=stats["p99_us"] / 1000,
        max_ms=stats["max_us"] / 1000, failures=failures,
        server_cpu_s=round(server_s, 2), db_cpu_s=round(db_s, 2), wrk_cpu_s=round(wrk_s, 2),
        machine_cpu_s=round(machine_cpu, 2),
        grants_per_server_core=round(stats["ok"] / (server_s + db_s), 1) if server_s + db_s else 0.0,
        grants_per_idp_core=round(stats["ok"] / server_s, 1) if server_s else 0.0,
        sample_failure=stats.get("sample", ""), loadavg_before=loadavg,
        rsa_sign_ms_after=round(harness.rsa_sign_ms(), 3),
    )


def _wrk(wrk: str, script: str, url: str, seconds: int, connections: int, tmp: Path) -> dict[str, Any]:
    path = tmp / "bench.lua"
    path.write_text(script)
    result = subprocess.run(  # noqa: S603
        [wrk, "-t", str(connections), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
         "-s", str(path), url],
        capture_output=True, text=True, check=False,
    )
    match = re.search(r"^BENCH_JSON (\{.*\})$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    stats: dict[str, Any] = json.loads(match.group(1))
    bad = re.search(r"^BENCH_BAD (.*)$", result.stdout, re.MULTILINE)
    stats["sample"] = bad.group(1)[:200] if bad else ""
    return stats


def row(r: Result) -> str:
    flag = "" if r.valid else f"  INVALID: {r.failures} failures, e.g. {r.sample_failure}"
    return (f"{r.backend:<10} workers={r.workers} {r.grant:<18} {r.grants_per_s:7.1f} grants/s  "
            f"p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms  cpu: server {r.server_cpu_s:.1f}s "
            f"db {r.db_cpu_s:.1f}s wrk {r.wrk_cpu_s:.1f}s machine {r.machine_cpu_s:.1f}s  "
            f"{r.grants_per_server_core:.0f} grants/server-core-s ({r.grants_per_idp_core:.0f} without db)  "
            f"load {r.loadavg_before}  "
            f"rsa {r.rsa_sign_ms_after:.2f} ms{flag}")


def table(results: list[Result]) -> str:
    lines = [
        "| database | workers | grant | grants/s | p50 ms | p90 ms | p99 ms | failures | server CPU s | DB CPU s "
        "| wrk CPU s | machine CPU s (of 2×duration) | grants per server core-second | of which IdP only "
        "| load before | RSA sign ms after |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.workers} | {r.grant} | {r.grants_per_s:.0f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.failures} | {r.server_cpu_s:.1f} | {r.db_cpu_s:.1f} | {r.wrk_cpu_s:.1f} "
            f"| {r.machine_cpu_s:.1f} / {2 * r.duration_s:.0f} | {r.grants_per_server_core:.0f} "
            f"| {r.grants_per_idp_core:.0f} | {r.loadavg_before} "
            f"| {r.rsa_sign_ms_after:.2f} |"
        )
    return "\n".join(lines)


def verdict(results: list[Result]) -> str:
    """The target read both ways: CPU of `idp serve` alone (how Keycloak's sizing, the issue's yardstick,
    counts: its database is sized apart) and of `idp serve` plus its PostgreSQL backends."""
    out = [f"targets: >= {TARGET_PER_CORE} grants/s per CPU core on PostgreSQL"]
    for grant in ("client_credentials", "refresh_token"):
        pg = [r for r in results if r.backend == "postgresql" and r.grant == grant and r.valid]
        if not pg:
            continue
        for label, figure in (("idp serve CPU only", lambda r: r.grants_per_idp_core),
                              ("idp serve + PostgreSQL CPU", lambda r: r.grants_per_server_core)):
            best = max(pg, key=figure)
            met = "met" if figure(best) >= TARGET_PER_CORE else "NOT met"
            out.append(f"  {grant}, {label}: best {figure(best):.0f} grants per core-second "
                       f"({best.workers} worker(s), {best.grants_per_s:.0f} grants/s) - {met}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
