# The README's commands. Everything installs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo walkthrough sandbox test lint bench bench-store clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/redtrust demo

walkthrough: $(STAMP)
	$(BIN)/redtrust walkthrough

sandbox: $(STAMP)
	$(BIN)/redtrust sandbox

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The Starlette/ASGI benchmark (benchmarks/); needs wrk (apt-get install wrk) for the socket
# half. BENCH_ARGS=--quick for a short run, --no-sockets without wrk.
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# RedisStore next to MemoryStore per signed-in request, and Redis commands per request;
# starts a throwaway redis-server (apt-get install redis-server). BENCH_ARGS=--quick.
bench-store: $(STAMP)
	$(BIN)/python -m benchmarks store $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
