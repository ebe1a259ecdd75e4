"""Where a live `idp serve` worker spends a token grant: py-spy samples it under wrk load.

    .venv/bin/python -m bench.profile_live --grant refresh_token        # or client_credentials

The database and seed are those of bench.token_endpoint (PostgreSQL at --pg-url, whose public
schema is dropped). One worker serves while wrk drives the grant over 8 connections; py-spy
samples the worker for --seconds and the samples are summed per function (inclusive) and per
package (the innermost frame). py-spy samples wall time of the Python thread, so time spent
waiting on the database socket shows up as psycopg; read CPU from bench.profile_token.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench import harness
from bench import token_endpoint as te
from bench.harness import ACCOUNT

PACKAGES = ("sqlalchemy", "psycopg", "werkzeug", "flask_sqlalchemy", "flask", "authlib", "joserfc",
            "cryptography", "granian", "/idp/", "json", "logging")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_live")
    parser.add_argument("--grant", default="refresh_token", choices=["client_credentials", "refresh_token"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pg-url", default=harness.DEFAULT_PG_URL)
    parser.add_argument("--top", type=int, default=40, help="functions to list")
    args = parser.parse_args(argv)
    py_spy = Path(sys.executable).with_name("py-spy")
    wrk = shutil.which("wrk")
    if not py_spy.exists() or wrk is None:
        print("error: needs py-spy in the venv and wrk (`make bench` installs both)", file=sys.stderr)
        return 1
    with harness.workdir() as tmp:
        backend = harness.make_backend("postgresql", tmp, args.pg_url)
        port = harness.free_port()
        env = harness.idp_env(backend, port, harness.new_master_key())
        seed = harness.seed(env)
        with harness.running_server(env, port, 1, tmp / "serve.log") as server:
            script = tmp / "load.lua"
            script.write_text(_script(args.grant, port, seed))
            load = subprocess.Popen(  # noqa: S603
                [wrk, "-t8", "-c8", f"-d{args.seconds + 4}s", "-s", str(script),
                 f"http://127.0.0.1:{port}/a/{ACCOUNT}/token"], stdout=subprocess.DEVNULL)
            time.sleep(2)
            samples = tmp / "samples.txt"
            subprocess.run([str(py_spy), "record", "-p", str(server.worker_pids()[0]), "-d", str(args.seconds),  # noqa: S603
                            "-r", "250", "-f", "raw", "-o", str(samples), "--nonblocking"],
                           check=True, capture_output=True)
            load.wait()
            print(summary(samples.read_text(), args.top))
    return 0


def _script(grant: str, port: int, seed: harness.Seed) -> str:
    if grant == "client_credentials":
        return te.CLIENT_CREDENTIALS_LUA.format(
            account=ACCOUNT, authorization=harness.basic_auth(seed.service_id, seed.service_secret), setup="")
    tokens = [harness.obtain_refresh_token(port, seed) for _ in range(8)]
    return te.REFRESH_LUA.format(
        account=ACCOUNT, authorization=harness.basic_auth(seed.web_id, seed.web_secret),
        tokens=", ".join(f'"{t}"' for t in tokens),
        setup='next_token = (next_token or 0) + 1\n  thread:set("token", pool[next_token])')


def summary(raw: str, top: int) -> str:
    total = 0
    inclusive: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", re.sub(r" \(.*/site-packages/", " (", f)) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        innermost[_package(stack.split(";")[-1])] += n
    out = [f"{total} samples of the worker's Python threads (the request thread is under `_runner`)", "",
           "innermost frame by package:"]
    out += [f"  {n / total * 100:5.1f}%  {name}" for name, n in innermost.most_common(12)]
    out += ["", "inclusive, by function:"]
    out += [f"  {n / total * 100:5.1f}%  {name[:140]}" for name, n in inclusive.most_common(top)]
    return "\n".join(out)


def _package(frame: str) -> str:
    match = re.search(r"\((.*?):\d+\)", frame)
    path = match.group(1) if match else frame
    return next((name.strip("/") for name in PACKAGES if name in path), "other: " + path.rsplit("/", 1)[-1])


if __name__ == "__main__":
    sys.exit(main())
