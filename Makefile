# CohortService: `make run` serves, `make test` tests; both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

PROTOS := $(shell find protos -name '*.proto')
PROTOC := $(BIN)/python -m grpc_tools.protoc -I protos -I third_party/googleapis
BUF := $(BIN)/buf
# Descriptor set for gateways and dynamic clients; reflection serves the same descriptors.
DESCRIPTOR_SET := generated/descriptors/learning_v1.binpb
BUILD_DESCRIPTORS = $(BUF) build --path protos/learning --exclude-source-info -o
# The OpenAPI document of the HTTP/JSON face, generated from the contract's comments and
# annotations (so from a descriptor set with source info, google/rpc included).
OPENAPI := learning/v1/cohort_service.openapi.json
define write_openapi
$(BUF) build --path protos/learning --path third_party/googleapis/google/rpc -o $(1)/source.binpb && \
$(BIN)/python -m cohorts.gateway.openapi $(1)/source.binpb > $(1)/$(OPENAPI) && rm $(1)/source.binpb
endef
# The contract as last released: `buf breaking` compares protos/ with it.
BASELINE := protos/baseline/learning_v1.binpb

.PHONY: help install lock run test lint format generate check-generated breaking baseline bench bench-quick clean

help:
	@echo "make run       serve gRPC on $${COHORTS_LISTEN:-127.0.0.1:50051} and HTTP/JSON on $${COHORTS_HTTP_LISTEN-127.0.0.1:8080} (embedded PostgreSQL unless COHORTS_DATABASE_URL is set)"
	@echo "make test      run the test suite against a PostgreSQL the session starts itself"
	@echo "make lint      ruff and mypy --strict (src, tests, bench), buf lint, generated-code and lock freshness"
	@echo "make generate  regenerate generated/ from protos/"
	@echo "make bench     throughput vs ceilings and deep-page latency (docs/performance.md)"

# Installs exactly the versions uv.lock holds (hashes checked), the project editable.
# uv itself comes from PyPI at a pinned version; --inexact keeps it (and pip) in the venv.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
$(STAMP): pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --quiet --frozen --inexact --extra dev --python $(BIN)/python
	touch $@

# After changing dependencies in pyproject.toml (or to take newer releases: make lock
# LOCK_ARGS=--upgrade), then commit uv.lock.
lock: $(STAMP)
	$(UV) lock $(LOCK_ARGS)

install: $(STAMP)

# Metrics and the HTTP/JSON + gRPC-Web gateway are on for `make run` (off unless configured
# elsewhere, e.g. in tests); COHORTS_HTTP_LISTEN= (empty) turns the gateway off.
# exec: the server is make's own child, so it stops when make is stopped (README: Stopping).
run: $(STAMP)
	exec env COHORTS_METRICS_LISTEN=$${COHORTS_METRICS_LISTEN:-127.0.0.1:9464} \
	COHORTS_HTTP_LISTEN=$${COHORTS_HTTP_LISTEN-127.0.0.1:8080} \
	$(BIN)/cohorts serve

# pytest exits 5 when it collected no tests: that must fail, not pass.
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

lint: $(STAMP) check-generated breaking
	$(UV) lock --check --quiet || (echo "uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock" >&2; exit 1)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BUF) lint

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

generate: $(STAMP)
	rm -rf generated/learning
	mkdir -p generated
	$(PROTOC) --python_out=generated --grpc_python_out=generated \
	  --mypy_out=generated --mypy_grpc_out=generated $(PROTOS)
	mkdir -p $(dir $(DESCRIPTOR_SET))
	$(BUILD_DESCRIPTORS) $(DESCRIPTOR_SET)
	$(call write_openapi,generated)
	if command -v npm >/dev/null; then clients/typescript/generate.sh; else echo "npm not found: skipping TypeScript generation"; fi

# Regenerates into a scratch folder and compares, so CI fails on stale code.
check-generated: $(STAMP)
	@tmp=$$(mktemp -d) && \
	$(PROTOC) --python_out=$$tmp --grpc_python_out=$$tmp \
	  --mypy_out=$$tmp --mypy_grpc_out=$$tmp $(PROTOS) >/dev/null && \
	$(BUILD_DESCRIPTORS) $$tmp/descriptors.binpb && \
	$(call write_openapi,$$tmp) && \
	if diff -r $$tmp/learning generated/learning >/dev/null \
	  && cmp -s $$tmp/descriptors.binpb $(DESCRIPTOR_SET); then \
	  echo "generated/ is up to date"; rm -rf $$tmp; \
	else \
	  diff -r $$tmp/learning generated/learning | head -20; rm -rf $$tmp; \
	  echo "generated/ is stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi

# Every RPC against the echo and database ceilings (h2load from Debian's nghttp2-client,
# and gcc for its shim: it says how to install them if missing), then ListCohorts page 1
# vs page 200 at 1,000,000 rows. Both rewrite
# their sections of docs/performance.md. BENCH_ARGS are passed to bench.run.
bench: $(STAMP)
	$(BIN)/python -m bench.run --growth $(BENCH_ARGS)
	$(BIN)/python -m bench.list_depth

# The harness smoke test CI runs: tiny data, a few seconds per scenario, no speed asserted.
bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick
	$(BIN)/python -m bench.list_depth --quick --no-doc

# Fails on changes that would break generated clients (renumbered or retyped
# fields, removed methods, renamed packages); see docs/contract.md.
breaking: $(STAMP)
	@tmp=$$(mktemp -d) && $(BUILD_DESCRIPTORS) $$tmp/current.binpb && \
	$(BUF) breaking $$tmp/current.binpb --against $(BASELINE); rc=$$?; rm -rf $$tmp; \
	if [ $$rc -eq 0 ]; then echo "contract is compatible with $(BASELINE)"; fi; exit $$rc

# Run only after an additive, released change: it moves the compatibility baseline.
baseline: $(STAMP)
	mkdir -p $(dir $(BASELINE))
	$(BUILD_DESCRIPTORS) $(BASELINE)

clean:
	rm -rf $(VENV) .cohorts .pytest_cache .mypy_cache .ruff_cache
