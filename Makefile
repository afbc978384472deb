# Thin named targets; the work lives in scripts/ and the Python packages.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
# HOST and PORT are passed to the mock only when given (make run PORT=9000, or in the
# environment); otherwise it reads IMAGEN_MOCK_HOST / IMAGEN_MOCK_PORT, then its defaults.
BASE_URL ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint generate contract drift fuzz bench lock clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed tools/node_modules/.installed ## Create .venv/ with pinned dependencies and node tools (quick when up to date)
	scripts/install-browser.sh
	scripts/install-redis.sh

# One .venv, two steps: .runtime holds what serving needs (requirements-run.lock and the
# project), .installed adds the development tools (the rest of requirements.lock) on top.
$(VENV)/.runtime: requirements-run.lock pyproject.toml
	@scripts/install-python.sh runtime "$(PYTHON)" "$(VENV)"
	@touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements.lock pyproject.toml generated_client/pyproject.toml
	@scripts/install-python.sh dev "$(PYTHON)" "$(VENV)"
	@touch $@

tools/node_modules/.installed: tools/package.json tools/package-lock.json
	scripts/install-node-tools.sh
	@touch $@

run: $(VENV)/.runtime ## Install only what serving needs, then serve the mock (HOST=, PORT=, IMAGEN_MOCK_*)
	@$(BIN)/imagen-mock serve $(if $(HOST),--host "$(HOST)") $(if $(PORT),--port "$(PORT)")

test: install lint ## Lint, type-check, check the generated client is fresh, run every test
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: $(VENV)/.installed ## The quick tier for the edit-test loop: unit/ and http/ (no servers, no lint)
	$(BIN)/pytest -m "(unit or http) and not slow" contract_tests/unit contract_tests/http $(PYTEST_ARGS)

lint: install ## Lint the spec (openapi-spec-validator, Redocly) and the code (ruff, mypy)
	$(BIN)/openapi-spec-validator openapi/openapi.yaml
	scripts/redocly.sh lint openapi/openapi.yaml --config redocly.yaml
	$(BIN)/openapi-spec-validator openapi/admin.yaml
	scripts/redocly.sh lint openapi/admin.yaml --config redocly.yaml
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

generate: $(VENV)/.installed ## Regenerate generated_client/ from openapi/openapi.yaml
	$(BIN)/python scripts/generate_client.py generated_client

contract: $(VENV)/.installed ## Contract suite + drift report against BASE_URL (token: REPLICATE_API_TOKEN; BUDGET=2, DRY_RUN=1)
	$(BIN)/python -m contract_tests.live --base-url "$(BASE_URL)" $(if $(BUDGET),--budget "$(BUDGET)") $(if $(CA_FILE),--ca-file "$(CA_FILE)") $(if $(DRY_RUN),--dry-run)

drift: $(VENV)/.installed ## Compare the live API at BASE_URL with the mock (report in artifacts/drift/; BUDGET, CA_FILE)
	$(BIN)/python -m contract_tests.drift --live "$(BASE_URL)" $(if $(BUDGET),--budget "$(BUDGET)") $(if $(CA_FILE),--ca-file "$(CA_FILE)") $(DRIFT_ARGS)

fuzz: $(VENV)/.installed ## schemathesis over HTTP at a higher example count (FUZZ_EXAMPLES=1000, FUZZ_MOCK_ARGS)
	IMAGEN_FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),1000) IMAGEN_FUZZ_MOCK_ARGS="$(FUZZ_MOCK_ARGS)" \
		$(BIN)/pytest contract_tests/contract/test_schemathesis_http.py $(PYTEST_ARGS)

bench: install ## Benchmark the mock against bare Flask and Prism (wrk, loopback)
	scripts/install-bench-tools.sh
	scripts/install-redis.sh
	$(BIN)/python scripts/bench/run.py

lock: $(VENV)/.installed ## Re-resolve requirements.lock (everything) and requirements-run.lock (serving) from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --group build --constraint requirements.lock --generate-hashes --python-version 3.11 -o requirements-run.lock

clean: ## Remove the virtualenv, node tools and caches
	rm -rf $(VENV) tools/node_modules .mypy_cache .ruff_cache .hypothesis .schemathesis
