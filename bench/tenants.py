"""Many tenants at the cost of few (issue 16, measurement 4): provision N tenants (signing keys,
two clients, ten users each), then drive discovery, the authorization endpoint and
client_credentials with every request for a tenant picked at random among all N, and compare
throughput and p99 with the smallest N. Also: the resident memory of each worker after the run,
and how long provisioning took.

    .venv/bin/python -m bench.tenants [--counts 10,1000] [--seconds 10] [--workers 2]

Provisioning runs in this process through the services (`create_tenant`, `register_client`,
`create_user`), as `idp tenant apply` does, minus a process per tenant. The ten users of a tenant
share one argon2id hash made once: sign-ins are measured by bench/sign_ins.py, not here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench import harness
from bench.harness import BenchError
from bench.token_endpoint import WRK_DONE, _wrk

GOAL = 0.10  # throughput and p99 at the largest count within 10 % of the smallest
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(b"bench-verifier" * 4).digest()).rstrip(b"=").decode()

LUA = r"""
accounts = {{ {accounts} }}
auths = {{ {auths} }}
webs = {{ {webs} }}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0 bad = 0 last_bad = "" math.randomseed(os.time() + math.random(1000)) end
function request()
  local i = math.random(#accounts)
  {request}
end
function response(status, headers, body)
  if status == {expect} then ok = ok + 1 else bad = bad + 1 last_bad = status .. " " .. string.sub(body, 1, 200) end
end
""" + WRK_DONE

SCENARIOS = {
    "discovery": ('return wrk.format("GET", "/a/" .. accounts[i] .. "/.well-known/openid-configuration")', 200),
    "authorize": ('return wrk.format("GET", "/a/" .. accounts[i] .. "/authorize?response_type=code&client_id=" '
                  '.. webs[i] .. "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid&state=s&nonce=n'
                  f'&code_challenge={CHALLENGE}&code_challenge_method=S256")', 303),
    "client_credentials": ('return wrk.format("POST", "/a/" .. accounts[i] .. "/token", {["Authorization"] = auths[i], '
                           '["Content-Type"] = "application/x-www-form-urlencoded"}, '
                           '"grant_type=client_credentials&scope=users%3Aread")', 200),
}


def provision(env: dict[str, str], count: int) -> tuple[list[tuple[str, str, str]], float]:
    """`count` tenants, each with its keys, a service and a web client, ten users. Returns
    (account, "Basic …" of the service, web client id) for each, and the seconds it took."""
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
                                 web.client.client_id))
        db.session.remove()
    return made, time.monotonic() - started


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_count(count: int, args: argparse.Namespace, wrk: str) -> dict[str, object]:
    with harness.workdir() as tmp:
        backend = harness.make_backend("postgresql", tmp, args.pg_url)
        port = harness.free_port()
        env = harness.idp_env(backend, port, harness.new_master_key())
        harness.cli(env, "db", "upgrade")
        made, provisioning_s = provision(env, count)
        lists = {
            "accounts": ", ".join(f'"{account}"' for account, _, _ in made),
            "auths": ", ".join(f'"{auth}"' for _, auth, _ in made),
            "webs": ", ".join(f'"{web}"' for _, _, web in made),
        }
        results: dict[str, object] = {"tenants": count, "provisioning_s": round(provisioning_s, 1)}
        with harness.running_server(env, port, args.workers, tmp / "server.log") as server:
            for name, (request, expect) in SCENARIOS.items():
                script = LUA.format(request=request, expect=expect, **lists)
                url = f"http://127.0.0.1:{port}/"
                _wrk(wrk, script, url, args.warmup, args.connections, tmp)
                cpu = harness.CpuMeter(server.pids)
                cpu.start()
                stats = _wrk(wrk, script, url, args.seconds, args.connections, tmp)
                server_s = cpu.stop()
                failures = stats["bad"] + stats["connect_errors"] + stats["read_errors"] + stats["timeouts"]
                if failures:
                    raise BenchError(f"{name} at {count} tenants: {failures} failures, e.g. {stats.get('sample')}")
                seconds = stats["duration_us"] / 1e6
                results[name] = {"per_s": round(stats["ok"] / seconds, 1), "p99_ms": stats["p99_us"] / 1000,
                                 "per_core": round(stats["ok"] / server_s, 1) if server_s else 0.0}
                print(f"{count:>6} tenants  {name:<18} {stats['ok'] / seconds:8.1f}/s  p99 "
                      f"{stats['p99_us'] / 1000:6.1f} ms", flush=True)
            results["rss_mib_per_worker"] = [round(rss_mib(pid), 1) for pid in server.worker_pids()]
        print(f"{count:>6} tenants  provisioned in {provisioning_s:.1f} s; RSS per worker "
              f"{results['rss_mib_per_worker']} MiB", flush=True)
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="10,1000", help="tenant counts, comma-separated, smallest first")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg-url", default=harness.DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("error: wrk is not installed (`make bench` installs it)", file=sys.stderr)
        return 1
    try:
        runs = [run_count(int(count), args, wrk) for count in args.counts.split(",")]
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    small, large = runs[0], runs[-1]
    lines = []
    for name in SCENARIOS:
        a, b = small[name], large[name]
        throughput = b["per_s"] / a["per_s"]  # type: ignore[index]
        p99 = b["p99_ms"] / a["p99_ms"]  # type: ignore[index]
        met = "met" if throughput >= 1 - GOAL and p99 <= 1 + GOAL else "NOT met"
        lines.append(f"  {name}: {large['tenants']} tenants vs {small['tenants']}: throughput x{throughput:.2f}, "
                     f"p99 x{p99:.2f} (goal: within 10 %: {met})")
    print("tenant count:\n" + "\n".join(lines))
    out = harness.ROOT / "var" / "bench" / "tenants.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": harness.machine_info(args.pg_url), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
