"""Where the time of a token request goes: the token endpoint in-process under cProfile.

    .venv/bin/python -m bench.profile_token --backend postgresql --requests 1000

The database is made and seeded exactly as in bench.token_endpoint (real CLI); refresh tokens
come from the real code flow against a short-lived `idp serve`. Then the Flask app is built in
this process (`create_app`, same configuration) and driven through its WSGI interface with
Flask's test client, so there is no HTTP server or socket in the picture: first without the
profiler (wall time per request), then under cProfile, grouped into the parts of the request.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import harness
from bench.harness import ACCOUNT

# (label, predicate on the pstats key (file, line, function)); cumulative times, so parts nest.
PARTS: list[tuple[str, Callable[[tuple[str, int, str]], bool]]] = [
    ("whole WSGI request (TenantRouter.__call__)", lambda k: k[2] == "__call__" and k[0].endswith("middleware.py")
     and "tenancy" in k[0]),
    ("  before_request load_tenant (tenant lookup)", lambda k: k[2] == "load_tenant"),
    ("  before_request load_browser_session", lambda k: k[2] == "load_browser_session"),
    ("  before_request csrf.protect", lambda k: k[2] == "protect" and k[0].endswith("csrf.py")),
    ("  token view: create_token_response", lambda k: k[2] == "create_token_response"
     and "authorization_server" in k[0]),
    ("    client lookup (Server.query_client)", lambda k: k[2] == "query_client" and k[0].endswith("server.py")),
    ("    client secret check (HMAC)", lambda k: k[2] == "check_client_secret" and k[0].endswith("clients.py")),
    ("    spend_refresh_token", lambda k: k[2] == "spend_refresh_token"),
    ("    get_user", lambda k: k[2] == "get_user" and "accounts" in k[0]),
    ("    issue_refresh_token", lambda k: k[2] == "issue_refresh_token"),
    ("    build_id_token (incl. its signature)", lambda k: k[2] == "build_id_token"),
    ("    tokens.sign (all JWTs)", lambda k: k[2] == "sign" and k[0].endswith("oauth/tokens.py")),
    ("      active_key (DB + unseal)", lambda k: k[2] == "active_key"),
    ("      RSA private-key sign (OpenSSL)", lambda k: k[2].startswith("<method 'sign'") and "RSA" in k[2]),
    ("  unit of work: commit or roll back (idp.unit_of_work.finish)", lambda k: k[2] == "finish"
     and k[0].endswith("unit_of_work.py")),
    ("  after_request hooks (csrf cookie, security headers)", lambda k: k[2] in ("set_cookie", "add_security_headers")
     and ("csrf.py" in k[0] or "headers.py" in k[0])),
    ("all SQL statements through SQLAlchemy (execute)", lambda k: k[2] == "_execute_context"),
    ("  of which in the DB driver (cursor.execute)", lambda k: k[2].startswith("<method 'execute' of")
     and ("sqlite3" in k[2] or "psycopg" in k[2] or "Cursor" in k[2])),
    ("session teardown (remove / close)", lambda k: k[2] == "remove" and k[0].endswith("orm/scoping.py")),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_token")
    parser.add_argument("--backend", default="postgresql", choices=["sqlite", "postgresql"])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--pg-url", default=harness.DEFAULT_PG_URL)
    parser.add_argument("--top", type=int, default=0, help="lines of the raw profile to print")
    args = parser.parse_args(argv)

    with harness.workdir() as tmp:
        backend = harness.make_backend(args.backend, tmp, args.pg_url)
        port = harness.free_port()
        env = harness.idp_env(backend, port, harness.new_master_key())
        seed = harness.seed(env)
        with harness.running_server(env, port, 1, tmp / "serve.log"):
            tokens = [harness.obtain_refresh_token(port, seed) for _ in range(2)]
        micro(env)
        from idp.app import create_app
        from idp.config import load_config

        app = create_app(load_config(env))
        client = app.test_client()
        cc_headers = {"Authorization": harness.basic_auth(seed.service_id, seed.service_secret),
                      "Host": f"127.0.0.1:{port}"}
        rt_headers = {"Authorization": harness.basic_auth(seed.web_id, seed.web_secret), "Host": f"127.0.0.1:{port}"}
        cc_body = {"grant_type": "client_credentials", "scope": "users:write"}

        def cc() -> None:
            response = client.post(f"/a/{ACCOUNT}/token", data=cc_body, headers=cc_headers)
            assert response.status_code == 200, response.get_data(as_text=True)

        chain = {"token": tokens[0]}

        def refresh() -> None:
            response = client.post(f"/a/{ACCOUNT}/token", headers=rt_headers,
                                   data={"grant_type": "refresh_token", "refresh_token": chain["token"]})
            assert response.status_code == 200, response.get_data(as_text=True)
            chain["token"] = response.get_json()["refresh_token"]

        for name, call in (("client_credentials", cc), ("refresh_token", refresh)):
            profile(name, call, args.requests, args.top,
                    harness.libpq_url(backend.url).rsplit('/', 1)[1] if backend.is_postgres else None)
    return 0


def micro(env: dict[str, str]) -> None:
    """The floor under each part: one RSA-2048 signature, one empty DB round trip, one HMAC."""
    from sqlalchemy import create_engine, text

    n = 500
    rsa_ms = harness.rsa_sign_ms(n)
    engine = create_engine(env["IDP_DATABASE_URL"])
    with engine.connect() as conn:
        for _ in range(50):
            conn.execute(text("SELECT 1"))
        start = time.perf_counter()
        for _ in range(n):
            conn.execute(text("SELECT 1")).scalar()
        rt_ms = (time.perf_counter() - start) / n * 1000
    engine.dispose()
    print(f"micro: RSA-2048 PKCS#1 v1.5 sign {rsa_ms:.3f} ms CPU; SQLAlchemy 'SELECT 1' round trip {rt_ms:.3f} ms")


def profile(name: str, call: Callable[[], None], n: int, top: int, database: str | None) -> None:
    for _ in range(50):
        call()  # warm caches, pools, lazy imports, psycopg's prepared statements
    db_cpu = harness.CpuMeter(lambda: harness.postgres_backends(database) if database else [])
    db_cpu.start()
    cpu_start, start = time.process_time(), time.perf_counter()
    for _ in range(n):
        call()
    plain_ms = (time.perf_counter() - start) / n * 1000
    app_cpu_ms = (time.process_time() - cpu_start) / n * 1000
    db_cpu_ms = db_cpu.stop() / n * 1000

    print(f"\n=== {name}, {n} requests, in-process (Flask test client, no HTTP) ===")
    print(f"wall {plain_ms:.2f} ms/req; CPU: app {app_cpu_ms:.2f} ms/req + PostgreSQL backend {db_cpu_ms:.2f} ms/req"
          f" = {app_cpu_ms + db_cpu_ms:.2f} ms/req -> {1000 / (app_cpu_ms + db_cpu_ms):.0f} grants per CPU-second")
    for label, timer in (("wall-clock", time.perf_counter), ("CPU (process_time)", time.process_time)):
        profiler = cProfile.Profile(timer)
        profiler.enable()
        for _ in range(n):
            call()
        profiler.disable()
        raw: dict[tuple[str, int, str], Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        print(f"--- {label} profile (cProfile adds overhead to Python code; read the shares) ---")
        whole = None
        for part, match in PARTS:
            keys = [k for k in raw if match(k)]
            calls = sum(raw[k][1] for k in keys)
            cumulative = sum(raw[k][3] for k in keys)
            if whole is None:
                whole = cumulative or 1.0
            if keys:
                print(f"{part:<58} {cumulative / n * 1000:7.3f} ms/req  {cumulative / whole * 100:5.1f}%  "
                      f"({calls / n:.1f} calls/req)")
        print(f"SQL statements per request: {sql_count(raw) / n:.1f}; Python function calls per request: "
              f"{sum(v[1] for v in raw.values()) / n:.0f}")
        total = sum(v[2] for v in raw.values()) or 1.0
        by_package: dict[str, float] = {}
        for key, value in raw.items():
            by_package[package_of(key)] = by_package.get(package_of(key), 0.0) + value[2]
        print("own time by package: " + ", ".join(
            f"{name} {t / total * 100:.0f}%" for name, t in sorted(by_package.items(), key=lambda kv: -kv[1])))
        if top:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
            print("\n".join(out.getvalue().splitlines()[:top + 12]))


def package_of(key: tuple[str, int, str]) -> str:
    path, _, function = key
    if "werkzeug/test.py" in path or "flask/testing.py" in path or "/bench/" in path:
        return "test client (not in the server)"
    for marker, name in (("/sqlalchemy/", "SQLAlchemy"), ("/psycopg", "psycopg"), ("/flask_sqlalchemy/", "Flask"),
                         ("/werkzeug/", "Werkzeug"), ("/flask/", "Flask"), ("/authlib/", "Authlib"),
                         ("/joserfc/", "joserfc"), ("/cryptography/", "cryptography"), ("/idp/", "idp")):
        if marker in path:
            return name
    if "sqlite3" in function:
        return "sqlite3 (C)"
    if "cryptography" in function or "openssl" in function:
        return "cryptography (OpenSSL)"
    if "psycopg" in function:
        return "psycopg"
    return "stdlib and other"


def sql_count(raw: dict[tuple[str, int, str], Any]) -> int:
    return sum(v[1] for k, v in raw.items()
               if k[2] == "_execute_context" or (k[2] == "first" and k[0].endswith("idp/db.py")))


if __name__ == "__main__":
    sys.exit(main())
