# The single entry point: `make demo` and `make test` set everything up from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# promtool (Prometheus' rule tester) for tests/deploy/test_promql.py: unpacked from Debian's
# prometheus package into .tools/, not installed, so no Prometheus service is set up
PROMTOOL := .tools/prometheus/usr/bin/promtool

.PHONY: setup browser redis demo test lint types imports unit bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

$(PROMTOOL):
	apt-cache show prometheus >/dev/null 2>&1 || apt-get update -qq
	mkdir -p .tools
	rm -f .tools/prometheus_*.deb
	cd .tools && apt-get download -qq prometheus
	dpkg-deb -x .tools/prometheus_*.deb .tools/prometheus
	rm -f .tools/prometheus_*.deb
	test -x $@
# The UI's browser tests drive Debian's Chromium (Playwright's own browser downloads are not
# used). Installed once, as root; elsewhere install it yourself (CI=true fails without it).
browser:
	@command -v chromium >/dev/null 2>&1 || { test "$$(id -u)" = 0 && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; } || \
		echo "make browser: install Chromium (apt-get install chromium) for tests/ui/test_browser.py"

# The Redis online store's tests (tests/features/test_online.py) use a Redis server at
# 127.0.0.1:6379 (KEEL_TEST_REDIS): one that answers is used as it is; else, as root, Debian's
# redis-server is installed once and started (no persistence). CI=true fails without it.
redis: setup
	@$(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 6379), 2)" 2>/dev/null || { \
		command -v redis-server >/dev/null 2>&1 || { test "$$(id -u)" = 0 && \
			{ apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }; }; \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null; } || \
		echo "make redis: start a Redis server at 127.0.0.1:6379 for tests/features/test_online.py"

demo: setup
	$(BIN)/python examples/demo/run.py

lint: setup
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

types: setup
	$(BIN)/mypy

imports: setup
	$(BIN)/lint-imports

unit: setup browser redis $(PROMTOOL)
	$(BIN)/pytest -n 2 -q

test: lint types imports unit

bench: setup
	bash benchmarks/setup.sh
	KEEL_CONFORMANCE=full $(BIN)/pytest -q -n 2 -p no:randomly tests/contracts/conformance
	$(BIN)/python benchmarks/contracts/bench_contracts.py --streaming --streaming-variants clean,dirty
	.venv-bench-store/bin/python benchmarks/store/bench_runs.py
	.venv-bench-store/bin/python benchmarks/store/bench_data.py
	.venv-bench-store/bin/python benchmarks/pipeline/bench_pipeline.py
	.venv-bench-store/bin/python benchmarks/registry/bench_registry.py
	$(BIN)/python benchmarks/monitor/bench_monitor.py
	$(BIN)/python benchmarks/serve/bench_serve.py
	$(BIN)/python benchmarks/features/bench_training_set.py
	$(BIN)/python benchmarks/features/bench_online.py
	$(BIN)/python benchmarks/features/bench_skew.py

clean:
	rm -rf $(VENV) .tools .venv-bench .venv-bench-ge .venv-bench-store .venv-bench-monitor .venv-bench-serve .mypy_cache .ruff_cache .pytest_cache
