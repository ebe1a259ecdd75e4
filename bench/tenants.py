"""Many tenants at the cost of few (issue 16, measurement 4): provision N tenants (signing keys,
two clients, ten users each), then drive discovery, the authorization endpoint, client_credentials
and whole password sign-ins with every request for a tenant picked at random among all N, and
compare throughput and p99 with the smallest N. Also: the resident memory of each worker after
the run, and how long provisioning took.

    .venv/bin/python -m bench.tenants [--counts 10,1000] [--seconds 10] [--workers 2]

Provisioning runs in this process through the services (`create_tenant`, `register_client`,
`create_user`), as `idp tenant apply` does, minus a process per tenant. The ten users of a tenant
share one argon2id hash made once.

Before measuring, every worker meets every tenant (a server that has run for a while has): wrk
sends each tenant's service a client_credentials grant and its web client a token request with
a made-up code, tenants at random, until each (tenant, worker) pair has been drawn about 4.6
times on average, so that fewer than 1 % of pairs stay cold. Without it, a 13-second run at
10,000 tenants is mostly each worker's first request for a tenant.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import shutil
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench import harness
from bench.harness import BenchError
from bench.sign_ins import sign_in_once
from bench.token_endpoint import WRK_DONE, _wrk

GOAL = 0.10  # throughput and p99 at the largest count within 10 % of the smallest
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(b"bench-verifier" * 4).digest()).rstrip(b"=").decode()

PRELUDE = r"""
accounts = {{ {accounts} }}
auths = {{ {auths} }}
webs = {{ {webs} }}
webauths = {{ {webauths} }}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0 bad = 0 n = 0 last_bad = "" math.randomseed(os.time() + math.random(1000)) end
"""  # every tenant's account, service "Basic …", web client id and web client "Basic …"

LUA = PRELUDE + r"""
function request()
  local i = math.random(#accounts)
  {request}
end
function response(status, headers, body)
  if status == {expect} then ok = ok + 1 else bad = bad + 1 last_bad = status .. " " .. string.sub(body, 1, 200) end
end
""" + WRK_DONE

WARM_LUA = PRELUDE + r"""
function request()
  local i = math.random(#accounts)
  n = n + 1
  local form = {{["Content-Type"] = "application/x-www-form-urlencoded"}}
  if n % 2 == 0 then
    form["Authorization"] = auths[i]
    return wrk.format("POST", "/a/" .. accounts[i] .. "/token", form,
                      "grant_type=client_credentials&scope=users%3Aread")
  end
  form["Authorization"] = webauths[i]
  return wrk.format("POST", "/a/" .. accounts[i] .. "/token", form,
                    "grant_type=authorization_code&code=warm-up&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb")
end
function response(status, headers, body)
  if status == 200 or (status == 400 and string.find(body, "invalid_grant", 1, true)) then ok = ok + 1
  else bad = bad + 1 last_bad = status .. " " .. string.sub(body, 1, 200) end
end
""" + WRK_DONE
WARM_DRAWS = math.log(100)  # draws per (tenant, worker, client): e^-4.6 = 1 % stay cold

SCENARIOS = {
    "discovery": ('return wrk.format("GET", "/a/" .. accounts[i] .. "/.well-known/openid-configuration")', 200),
    "authorize": ('return wrk.format("GET", "/a/" .. accounts[i] .. "/authorize?response_type=code&client_id=" '
                  '.. webs[i] .. "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid&state=s&nonce=n'
                  f'&code_challenge={CHALLENGE}&code_challenge_method=S256")', 303),
    "client_credentials": ('return wrk.format("POST", "/a/" .. accounts[i] .. "/token", {["Authorization"] = auths[i], '
                           '["Content-Type"] = "application/x-www-form-urlencoded"}, '
                           '"grant_type=client_credentials&scope=users%3Aread")', 200),
}


def provision(env: dict[str, str], count: int) -> tuple[list[tuple[str, str, str, str]], float]:
    """`count` tenants, each with its keys, a service and a web client, ten users. Returns
    (account, "Basic …" of the service, web client id, its secret) for each, and the seconds it
    took."""
    os.environ.update(env)
    from idp.accounts.passwords import hash_password
    from idp.accounts.service import create_user
    from idp.app import create_app
    from idp.db import db
    from idp.oauth.clients import register_client
    from idp.provisioning.tenants import create_tenant
    from idp.unit_of_work import unit_of_work

    shared_hash = hash_password(harness.USER_PASSWORD)
    app = create_app()
    made = []
    started = time.monotonic()
    with app.app_context():
        with unit_of_work():
            create_tenant(harness.ACCOUNT, "Bench")  # the one the harness probes for "up"; no traffic
        for start in range(0, count, 50):
            with unit_of_work():
                for i in range(start, min(start + 50, count)):
                    tenant = create_tenant(f"tenant-{i:05d}", f"Tenant {i}")
                    service = register_client(tenant, {"client_name": "svc", "grant_types": ["client_credentials"],
                                                       "scope": "users:read"})
                    web = register_client(tenant, {"client_name": "web", "redirect_uris": [harness.REDIRECT_URI],
                                                   "grant_types": ["authorization_code", "refresh_token"],
                                                   "scope": "openid profile email"}, first_party=True)
                    for u in range(10):
                        user = create_user(tenant, email=f"person{u}@tenant-{i:05d}.example", email_verified=True)
                        user.password_hash = shared_hash
                    made.append((tenant.account, harness.basic_auth(service.client.client_id,
                                                                     str(service.client_secret)),
                                 web.client.client_id, str(web.client_secret)))
        db.session.remove()
    return made, time.monotonic() - started


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def warm_up(lists: dict[str, str], count: int, args: argparse.Namespace, wrk: str, url: str, tmp: Path) -> None:
    """Every worker meets every tenant's service and web client (see the module's docstring)."""
    script = WARM_LUA.format(**lists)
    calibration = _wrk(wrk, script, url, args.warmup, args.connections, tmp)
    rate = calibration["ok"] / (calibration["duration_us"] / 1e6)
    needed = WARM_DRAWS * args.workers * count * 2 - calibration["ok"]
    if needed > 0:
        seconds = math.ceil(needed / rate)
        print(f"{count:>6} tenants  warming every worker's caches: {seconds} s", flush=True)
        stats = _wrk(wrk, script, url, seconds, args.connections, tmp)
        if stats["bad"]:
            raise BenchError(f"warm-up at {count} tenants: {stats['bad']} failures, e.g. {stats.get('sample')}")


def sign_ins(made: list[tuple[str, str, str, str]], port: int, args: argparse.Namespace,
             server: harness.Server) -> dict[str, float]:
    """`args.people` people signing in the whole way, each time at a tenant and as a person picked at
    random: sign-ins per second, p99 of one sign-in, and per server CPU-second."""
    durations: list[float] = []
    failures: list[BaseException] = []
    stop = time.monotonic() + args.seconds

    def person() -> None:
        pick = random.Random()  # noqa: S311 - which tenant to visit, not a secret
        try:
            while time.monotonic() < stop:
                account, _, web_id, web_secret = pick.choice(made)
                started = time.monotonic()
                sign_in_once(port, harness.Seed("", "", web_id, web_secret),
                             f"person{pick.randrange(10)}@{account}.example", account)
                durations.append(time.monotonic() - started)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    cpu = harness.CpuMeter(server.pids)
    cpu.start()
    started = time.monotonic()
    people = [threading.Thread(target=person) for _ in range(args.people)]
    for thread in people:
        thread.start()
    for thread in people:
        thread.join()
    elapsed, server_s = time.monotonic() - started, cpu.stop()
    if failures:
        raise BenchError(f"{len(failures)} sign-ins failed, e.g. {failures[0]}")
    durations.sort()
    p99 = durations[min(len(durations) - 1, math.ceil(len(durations) * 0.99) - 1)]
    return {"per_s": round(len(durations) / elapsed, 1), "p99_ms": round(p99 * 1000, 1),
            "per_core": round(len(durations) / server_s, 1) if server_s else 0.0}


@dataclass
class Deployment:
    """One count's own database, provisioned, and its `idp serve` running."""

    count: int
    port: int
    made: list[tuple[str, str, str, str]]
    lists: dict[str, str]
    server: harness.Server
    tmp: Path
    provisioning_s: float
    rounds: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def database_url(pg_url: str, count: int) -> str:
    head, _, tail = pg_url.rpartition("/")
    name, sep, query = tail.partition("?")
    return f"{head}/{name}_{count}{sep}{query}"


def deploy(count: int, args: argparse.Namespace, wrk: str, stack: ExitStack) -> Deployment:
    tmp = stack.enter_context(harness.workdir())
    backend = harness.make_backend("postgresql", tmp, database_url(args.pg_url, count))
    port = harness.free_port()
    env = harness.idp_env(backend, port, harness.new_master_key())
    harness.cli(env, "db", "upgrade")
    made, provisioning_s = provision(env, count)
    print(f"{count:>6} tenants  provisioned in {provisioning_s:.1f} s", flush=True)
    lists = {
        "accounts": ", ".join(f'"{account}"' for account, _, _, _ in made),
        "auths": ", ".join(f'"{auth}"' for _, auth, _, _ in made),
        "webs": ", ".join(f'"{web}"' for _, _, web, _ in made),
        "webauths": ", ".join(f'"{harness.basic_auth(web, secret)}"' for _, _, web, secret in made),
    }
    server = stack.enter_context(harness.running_server(env, port, args.workers, tmp / "server.log"))
    deployment = Deployment(count, port, made, lists, server, tmp, provisioning_s)
    warm_up(lists, count, args, wrk, f"http://127.0.0.1:{port}/", tmp)
    harness.analyze(backend)
    return deployment


def measure(deployment: Deployment, name: str, args: argparse.Namespace, wrk: str) -> dict[str, float]:
    if name == "sign_in":
        return sign_ins(deployment.made, deployment.port, args, deployment.server)
    request, expect = SCENARIOS[name]
    script = LUA.format(request=request, expect=expect, **deployment.lists)
    url = f"http://127.0.0.1:{deployment.port}/"
    _wrk(wrk, script, url, args.warmup, args.connections, deployment.tmp)
    cpu = harness.CpuMeter(deployment.server.pids)
    cpu.start()
    stats = _wrk(wrk, script, url, args.seconds, args.connections, deployment.tmp)
    server_s = cpu.stop()
    failures = stats["bad"] + stats["connect_errors"] + stats["read_errors"] + stats["timeouts"]
    if failures:
        raise BenchError(f"{name} at {deployment.count} tenants: {failures} failures, e.g. {stats.get('sample')}")
    seconds = stats["duration_us"] / 1e6
    return {"per_s": round(stats["ok"] / seconds, 1), "p99_ms": stats["p99_us"] / 1000,
            "per_core": round(stats["ok"] / server_s, 1) if server_s else 0.0}


def compare(deployments: list[Deployment], names: list[str]) -> list[str]:
    """Each count against the smallest, round by round (the two measured minutes apart), as the
    median of the rounds' ratios."""
    small, lines = deployments[0], []
    for large in deployments[1:]:
        for name in names:
            pairs = list(zip(small.rounds[name], large.rounds[name], strict=True))
            throughput = statistics.median(b["per_s"] / a["per_s"] for a, b in pairs)
            per_core = statistics.median(b["per_core"] / a["per_core"] for a, b in pairs)
            p99 = statistics.median(b["p99_ms"] / a["p99_ms"] for a, b in pairs)
            met = "met" if throughput >= 1 - GOAL and p99 <= 1 + GOAL else "NOT met"
            lines.append(f"  {name}: {large.count} tenants vs {small.count}: throughput x{throughput:.2f} "
                         f"(per core x{per_core:.2f}), p99 x{p99:.2f} (goal: within 10 %: {met})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="10,1000", help="tenant counts, comma-separated, smallest first")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each count, alternated")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--people", type=int, default=4, help="people signing in at once")
    parser.add_argument("--scenarios", default=",".join((*SCENARIOS, "sign_in")),
                        help="which to measure, comma-separated")
    parser.add_argument("--pg-url", default=harness.DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("error: wrk is not installed (`make bench` installs it)", file=sys.stderr)
        return 1
    names = [name for name in args.scenarios.split(",") if name]
    unknown = set(names) - {*SCENARIOS, "sign_in"}
    if unknown:
        print(f"error: unknown scenarios {', '.join(sorted(unknown))}", file=sys.stderr)
        return 1
    try:
        with ExitStack() as stack:
            deployments = [deploy(int(count), args, wrk, stack) for count in args.counts.split(",")]
            for name in names:
                for _ in range(args.rounds):
                    for deployment in deployments:
                        got = measure(deployment, name, args, wrk)
                        deployment.rounds.setdefault(name, []).append(got)
                        print(f"{deployment.count:>6} tenants  {name:<18} {got['per_s']:8.1f}/s  p99 "
                              f"{got['p99_ms']:6.1f} ms  {got['per_core']:8.1f} per server core-second", flush=True)
            rss = {d.count: [round(rss_mib(pid), 1) for pid in d.server.worker_pids()] for d in deployments}
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for deployment in deployments:
        print(f"{deployment.count:>6} tenants  provisioned in {deployment.provisioning_s:.1f} s "
              f"({deployment.provisioning_s / deployment.count * 1000:.1f} ms a tenant); RSS per worker "
              f"{rss[deployment.count]} MiB", flush=True)
    print("tenant count (median of alternated rounds):\n" + "\n".join(compare(deployments, names)))
    out = harness.ROOT / "var" / "bench" / "tenants.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = [{"tenants": d.count, "provisioning_s": round(d.provisioning_s, 1), "rss_mib_per_worker": rss[d.count],
             "rounds": d.rounds} for d in deployments]
    out.write_text(json.dumps({"machine": harness.machine_info(args.pg_url), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
