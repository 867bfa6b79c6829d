# mtuscope — the two commands of the quick start are `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYSTEM_PACKAGES := tshark tcpdump nftables iproute2 ethtool iputils-ping iputils-tracepath scamper time chromium chromium-driver postgresql

.PHONY: demo monitor-demo test venv dev system-deps check lint typecheck pytest bench bench-many bench-paths bench-ingest examples clean

$(BIN)/mtuscope: pyproject.toml setup.py src/mtuscope/capture/_walker.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e .
	@touch $@

venv: $(BIN)/mtuscope

dev: venv
	$(BIN)/pip install -q -r requirements-dev.txt

## Analyse the bundled example captures (no root, no system packages needed).
## Exit code 1 only means "found an error-severity problem", which is the point of the demo.
demo: venv
	@for f in examples/*-server.pcap examples/*-client.pcap; do \
	  echo; echo "=== mtuscope analyze $$f"; \
	  $(BIN)/mtuscope analyze "$$f"; rc=$$?; \
	  if [ $$rc -gt 1 ]; then exit $$rc; fi; \
	done
	@echo; echo "=== mtuscope compare examples/clamp-client.pcap examples/clamp-server.pcap"
	@$(BIN)/mtuscope compare examples/clamp-client.pcap examples/clamp-server.pcap; [ $$? -le 1 ]
	@echo; echo "=== mtuscope calc --link-mtu 1500 pppoe ipsec-tunnel:aes-gcm-128 gre"
	@$(BIN)/mtuscope calc --link-mtu 1500 pppoe ipsec-tunnel:aes-gcm-128 gre

## A lab, `mtuscope serve` and an agent, until Ctrl-C; prints the dashboard's URL and token (root).
## Options go in DEMO_ARGS, e.g. make monitor-demo DEMO_ARGS="--scenario blackhole --listen 127.0.0.1:8078"
monitor-demo: venv
	$(BIN)/mtuscope lab demo $(DEMO_ARGS)

## Install what the tests need (Debian packages too, when root) and run lint, types and the suite.
test: system-deps dev check pytest

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: skipping Debian packages:$$missing (tests that need them will skip)"; fi; \
	fi

check: lint typecheck

lint:
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/codespell src tests docs bench scripts README.md examples/README.md Makefile

typecheck:
	$(BIN)/mypy

## PYTEST_JOBS worker processes (pytest-xdist); tests/conftest.py groups the tests by module
## (--dist loadgroup: a module's shared labs, clusters and servers start once), slow ones first.
## Most lab tests wait on the network, not the CPU, so there are more workers than cores.
PYTEST_JOBS ?= 4
pytest:
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(PYTEST_JOBS) --dist loadgroup --no-loadscope-reorder

bench: dev
	$(BIN)/python bench/run.py

## analyze DIR on 1 process, 2 processes and a 2-worker Dask cluster (8 captures x 250k packets in /tmp).
bench-many: dev
	$(BIN)/python bench/many.py

## mtuscope, tracepath and scamper side by side on every lab scenario (root).
bench-paths: dev system-deps
	$(BIN)/python bench/paths.py

## Server ingest: results/s through POST /api/v1/results on SQLite and PostgreSQL (root for PostgreSQL).
bench-ingest: dev
	$(BIN)/python bench/ingest.py

## Re-create examples/*.pcap in a lab of network namespaces (root).
examples: venv
	$(BIN)/python scripts/make_examples.py

clean:
	rm -rf $(VENV) build src/*.egg-info src/mtuscope/capture/_walker*.so
