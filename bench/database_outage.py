"""PostgreSQL stopped under load, second by second: what clients are told, and how soon it is over.

A real `idp serve` (2 workers) runs on a PostgreSQL server of its own (tests/pg_cluster.py, so
the shared one is never touched). Threads send four kinds of request in a loop
(tests/e2e/outage_load.py: token endpoint, discovery, the sign-in page, an admin API write).
After a healthy start the database is stopped with `pg_ctl stop -m fast` (a restart or failover:
every session ended) for `--outage` seconds, then started again. The report counts answers by
second and status, and says how long after the restart every kind succeeded again, whether any
answer was not 200/201/503, whether any 503 lacked Retry-After, and whether any creation that
answered 201 is missing from the database afterwards.

    .venv/bin/python -m bench.database_outage [--outage 5] [--before 3] [--after 10] [--threads 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from bench.harness import ACCOUNT, Backend, free_port, idp_env, new_master_key, running_server, seed
from tests.e2e.outage_load import KINDS, Load
from tests.pg_cluster import PrivatePostgres


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the database is down")
    parser.add_argument("--before", type=float, default=3.0, help="healthy seconds before the outage")
    parser.add_argument("--after", type=float, default=10.0, help="seconds measured after the restart")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with PrivatePostgres() as postgres, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        env = idp_env(Backend("postgresql", postgres.url, workdir), port, new_master_key())
        seeded = seed(env)
        with running_server(env, port, args.workers, workdir / "server.log") as server:
            base = f"http://127.0.0.1:{server.port}/a/{ACCOUNT}"
            auth = (seeded.service_id, seeded.service_secret)
            bearer = requests.post(f"{base}/token", data={"grant_type": "client_credentials"}, auth=auth,
                                   timeout=15).json()["access_token"]
            workers_before = sorted(server.worker_pids())
            load = Load(base, auth, bearer)
            threads = load.start(args.threads)
            started = time.monotonic()
            time.sleep(args.before)
            down_at = time.monotonic()
            postgres.stop(mode="fast")
            time.sleep(args.outage)
            postgres.start()
            up_at = time.monotonic()
            time.sleep(args.after)
            load.stopping.set()
            for thread in threads:
                thread.join(timeout=30)
            log = (workdir / "server.log").read_text(errors="replace")
            print(f"worker processes before: {workers_before}, after: {sorted(server.worker_pids())}")
        engine = create_engine(postgres.url)
        with engine.connect() as conn:
            stored = set(conn.scalars(text("SELECT email FROM users")))
        engine.dispose()
    return report(load, started, down_at, up_at, stored, log)


def report(load: Load, started: float, down_at: float, up_at: float, stored: set[str], log: str) -> int:
    per_second: dict[int, Counter[int]] = defaultdict(Counter)
    for answer in load.answers:
        per_second[int(answer.at - started)][answer.status] += 1
    statuses = sorted({a.status for a in load.answers})
    print(f"database down at {down_at - started:.1f} s, back at {up_at - started:.1f} s")
    print("second  " + "  ".join(f"{status:>5}" for status in statuses))
    for second in sorted(per_second):
        print(f"{second:>6}  " + "  ".join(f"{per_second[second][status]:>5}" for status in statuses))
    recovery = {kind: min((a.at - up_at for a in load.answers if a.kind == kind and a.at >= up_at
                           and a.status in (200, 201)), default=None) for kind in KINDS}
    for kind, seconds in recovery.items():
        print(f"{kind:>9}: first success {seconds:.2f} s after the restart" if seconds is not None
              else f"{kind:>9}: never succeeded again")
    unexpected = [a for a in load.answers if a.status not in (200, 201, 503)]
    no_retry_after = [a for a in load.answers if a.status == 503 and not a.retry_after]
    lost = set(load.created) - stored
    print(f"answers: {len(load.answers)}; not 200/201/503: {len(unexpected)}; 503 without Retry-After: "
          f"{len(no_retry_after)}; creations answered 201: {len(load.created)}, lost: {len(lost)}; "
          f"tracebacks in the server log: {log.count('Traceback')}")
    for answer in unexpected[:5]:
        print(f"  {answer.kind} at {answer.at - started:.2f} s: {answer.status} {answer.content_type}")
    if unexpected or "Traceback" in log:  # what the server said besides its access lines
        kept = "\n".join(line for line in log.splitlines()
                          if '" 20' not in line and '" 503 ' not in line and "database unavailable" not in line)
        Path("var/bench").mkdir(parents=True, exist_ok=True)
        Path("var/bench/database_outage.log").write_text(kept)
        print(kept[-4000:])
    ok = "Traceback" not in log and not unexpected and not no_retry_after and not lost
    ok = ok and all(v is not None for v in recovery.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
