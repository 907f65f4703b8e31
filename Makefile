# The README's commands. Everything installs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# demo-django: the sandbox and the example Django site (runserver) on 127.0.0.1:8000.
# bench-django: Django's SessionMiddleware + AuthenticationMiddleware + login_required vs ours.
.PHONY: bench-django bench-memory demo demo-django walkthrough sandbox test lint bench bench-store clean
.PHONY: matrix

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/redtrust demo

demo-django: $(STAMP)
	$(BIN)/redtrust sandbox --access-ttl 60 & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	REDTRUST_REFRESH_LEEWAY=30 $(BIN)/python examples/django_site/manage.py runserver 127.0.0.1:8000 --noreload

walkthrough: $(STAMP)
	$(BIN)/redtrust walkthrough

sandbox: $(STAMP)
	$(BIN)/redtrust sandbox

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# -- the version matrix ------------------------------------------------------------------------
# The core, session, Django and web tests on every Python >= 3.11 found (pyenv, PATH), Django
# 5.2 on 3.11 and 6.x on 3.12+, each in .venv-matrix/<python>-django<major> (see .ci/matrix).
matrix:
	.ci/matrix

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
bench-django: $(STAMP)
	$(BIN)/python -m benchmarks.bench_django $(BENCH_ARGS)

bench-store: $(STAMP)
	$(BIN)/python -m benchmarks store $(BENCH_ARGS)

# Logins per second with MemoryStore empty and with its pending-login namespace full
# (100,000 entries), both drivers; target: full within 10 % of empty. BENCH_ARGS=--quick.
bench-memory: $(STAMP)
	$(BIN)/python -m benchmarks memory $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-matrix .mypy_cache .pytest_cache .ruff_cache
