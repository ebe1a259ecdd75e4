# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install xmlsec browser upstream loadbalancer peer bench loadtest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The demo's public URL follows HOST and PORT unless IDP_PUBLIC_URL is set.
run: export IDP_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: $(STAMP) xmlsec
	$(BIN)/idp db upgrade
	$(BIN)/idp tenant apply tenants/demo.toml --announce
	$(BIN)/idp serve --host $(HOST) --port $(PORT)

# Debian's xmlsec1: pysaml2 signs AuthnRequests and verifies assertions with it (SAML connections).
xmlsec:
	@command -v xmlsec1 >/dev/null 2>&1 || { \
	  echo "installing Debian's xmlsec1 for SAML connections"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1; } \
	  || { echo "ERROR: could not install xmlsec1; SAML connections cannot work" >&2; exit 1; }; }

# Debian's HAProxy: the load balancer in front of two nodes in tests/e2e/test_load_balancer.py.
loadbalancer:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { \
	  echo "installing Debian's haproxy for the several-nodes tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; } \
	  || { echo "ERROR: could not install haproxy; the several-nodes tests cannot run" >&2; exit 1; }; }

# Debian's Chromium for the end-to-end tests; installed here so a fresh machine needs nothing else.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || { echo "ERROR: could not install chromium; the browser tests cannot run" >&2; exit 1; }; }

# The federation tests' upstream OpenID Provider (node-oidc-provider, from npm, pinned by its lock file).
UPSTREAM := tests/federation/upstream
$(UPSTREAM)/node_modules/.installed: $(UPSTREAM)/package.json $(UPSTREAM)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian's nodejs and npm for the federation tests' upstream provider"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; } \
	  || { echo "ERROR: could not install npm; the federation tests cannot run" >&2; exit 1; }; }
	npm ci --prefix $(UPSTREAM) --no-audit --no-fund --loglevel=error
	touch $@

upstream: $(UPSTREAM)/node_modules/.installed

# The benchmark's reference peer (node-oidc-provider from npm, pinned by its lock file): bench/peer_compare.py.
PEER := bench/peer
$(PEER)/node_modules/.installed: $(PEER)/package.json $(PEER)/package-lock.json $(UPSTREAM)/node_modules/.installed
	npm ci --prefix $(PEER) --no-audit --no-fund --loglevel=error
	touch $@

peer: $(PEER)/node_modules/.installed

# PostgreSQL runs when a server answers on 127.0.0.1:5432; under CI it must.
test: $(STAMP) xmlsec browser upstream loadbalancer lint
	@if $(BIN)/python -m tests.pg_probe "$(PG_URL)"; then \
	  echo "PostgreSQL answers: the suite runs on SQLite and PostgreSQL"; \
	  IDP_TEST_DATABASE_URL="$(PG_URL)" IDP_TEST_REQUIRE_POSTGRES=1 $(BIN)/pytest $(PYTEST_ARGS); \
	elif [ -n "$$CI" ]; then \
	  echo "ERROR: CI expects PostgreSQL on 127.0.0.1:5432 and none answers" >&2; exit 1; \
	else \
	  echo "No PostgreSQL on 127.0.0.1:5432: the suite runs on SQLite only"; \
	  $(BIN)/pytest $(PYTEST_ARGS); \
	fi

lint: $(STAMP)
	$(BIN)/ruff check idp tests migrations $(wildcard bench)
	$(BIN)/mypy idp

# Full visits by 50 people for 60 s: steady, then with PostgreSQL restarted, a worker killed and
# SMTP stopped mid-run (bench/load.py; figures in bench/RESULTS.md). About six minutes.
loadtest: $(STAMP)
	for scenario in steady postgres-restart kill-worker smtp-stop; do \
	  $(BIN)/python -m bench.load --scenario $$scenario --users 50 --seconds 60 || exit 1; done

# The benchmarks (bench/README.md), each printing its goal beside its figure: client_credentials
# against node-oidc-provider per core; password sign-ins against argon2id; the token endpoint
# (refresh per core on PostgreSQL) at 1 and 2 workers on both databases; 10 to 10,000 tenants. wrk is the load
# generator. BENCH_ARGS go to bench.token_endpoint, e.g. "--backends postgresql"; BENCH_TENANTS
# are the tenant counts of bench.tenants (10,000 take about 8 minutes to provision, 2 to warm).
BENCH_TENANTS ?= 10,1000,10000
bench: $(STAMP) peer
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk, the benchmark's load generator"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } \
	  || { echo "ERROR: could not install wrk; the benchmark cannot run" >&2; exit 1; }; }
	@test -x $(BIN)/py-spy || $(BIN)/pip install --quiet 'py-spy>=0.4'  # for bench.profile_live
	$(BIN)/python -m bench.peer_compare
	$(BIN)/python -m bench.peer_compare --peer-tokens jwt
	$(BIN)/python -m bench.sign_ins
	$(BIN)/python -m bench.token_endpoint $(BENCH_ARGS)
	$(BIN)/python -m bench.tenants --counts $(BENCH_TENANTS)

clean:
	rm -rf $(VENV) var build *.egg-info
