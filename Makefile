# The README's commands. Everything installs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# bench-django: Django's SessionMiddleware + AuthenticationMiddleware + login_required vs ours.
.PHONY: bench-flask demo-flask
.PHONY: bench-django bench-memory demo demo-django docs walkthrough sandbox test lint bench bench-store clean
.PHONY: matrix messages bench-otel bench-storm

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# --- the demos' ports ----------------------------------------------------------------------
# make demo / make demo-django: the app on 127.0.0.1:$(APP_PORT), the sandbox on
# 127.0.0.1:$(SANDBOX_PORT). Move them with e.g. `make demo-django APP_PORT=8001 SANDBOX_PORT=8093`:
# the sandbox then accepts RedirectUrls of the app's port (--redirect-prefix) and the app signs
# in against the sandbox's port.
APP_PORT ?= 8000
SANDBOX_PORT ?= 8083
APP_ORIGINS := http://127.0.0.1:$(APP_PORT)/ http://localhost:$(APP_PORT)/

demo: $(STAMP)
	$(BIN)/redtrust demo --app-port $(APP_PORT) --sandbox-port $(SANDBOX_PORT)

demo-django: $(STAMP)
	$(BIN)/redtrust sandbox --access-ttl 60 --port $(SANDBOX_PORT) \
	    $(foreach origin,$(APP_ORIGINS),--redirect-prefix $(origin)) & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	REDTRUST_SERVER_URL=http://127.0.0.1:$(SANDBOX_PORT) REDTRUST_PUBLIC_URL=http://127.0.0.1:$(APP_PORT) \
	REDTRUST_REFRESH_LEEWAY=30 $(BIN)/python examples/django_site/manage.py runserver 127.0.0.1:$(APP_PORT) --noreload

# The Flask example under gunicorn (threads: the sandbox and the app share one machine).
demo-flask: $(STAMP)
	$(BIN)/redtrust sandbox --access-ttl 60 --port $(SANDBOX_PORT) \
	    $(foreach origin,$(APP_ORIGINS),--redirect-prefix $(origin)) & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	REDTRUST_SERVER_URL=http://127.0.0.1:$(SANDBOX_PORT) REDTRUST_PUBLIC_URL=http://127.0.0.1:$(APP_PORT) \
	REDTRUST_PARTNER=CA_DEMO REDTRUST_SHARED_SECRET=sandbox-demo-secret-0123456789abcdef \
	REDTRUST_REFRESH_LEEWAY=30 $(BIN)/python -m gunicorn examples.flask_app:app \
	    --bind 127.0.0.1:$(APP_PORT) --worker-class gthread --threads 4
# --- end of the demos' ports -----------------------------------------------------------------

# The docs site (MkDocs, mkdocs.yml) into site/; --strict: any warning fails the build.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

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

# Every performance target beside its figure, in one run (benchmarks/suite.py): Starlette
# in-process (one session and 100,000 round-robin), over sockets (uvicorn h11 and httptools +
# uvloop, with wrk: apt-get install wrk), Django and the Redis client-side cache (their own
# processes), the refresh storm with Authlib beside ours. Writes benchmarks/results/bench.json
# and the PNGs; exits 1 when a target is missed (after printing them all). About 10 min on
# 2 cores. BENCH_ARGS=--quick for a smoke run (into benchmarks/results/quick/), --no-sockets
# without wrk, --help for the rest. `python -m benchmarks asgi|storm` runs one section alone.
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# RedisStore next to MemoryStore per signed-in request, and Redis commands per request;
# starts a throwaway redis-server (apt-get install redis-server). BENCH_ARGS=--quick.
bench-django: $(STAMP)
	$(BIN)/python -m benchmarks.bench_django $(BENCH_ARGS)

# Flask: a bare view, Flask's own cookie session and the extension, in-process and under
# gunicorn with wrk (apt-get install wrk). BENCH_ARGS=--quick, --no-sockets without wrk.
bench-flask: $(STAMP)
	$(BIN)/python -m benchmarks.bench_flask $(BENCH_ARGS)

# The refresh storm alone: 1,000 requests at once on one session whose token is due, Authlib's
# usual Starlette setup beside ours; refresh grants and failed requests. BENCH_ARGS=--quick.
bench-storm: $(STAMP)
	$(BIN)/python -m benchmarks storm $(BENCH_ARGS)

bench-store: $(STAMP)
	$(BIN)/python -m benchmarks store $(BENCH_ARGS)

# Logins per second with MemoryStore empty and with its pending-login namespace full
# (100,000 entries), both drivers; target: full within 10 % of empty. BENCH_ARGS=--quick.
bench-memory: $(STAMP)
	$(BIN)/python -m benchmarks memory $(BENCH_ARGS)

# What the OpenTelemetry instrumentation adds to a signed-in request: without OpenTelemetry,
# the SDK with the request unsampled, every span sampled; target: unsampled < 0.5 µs.
# BENCH_ARGS=--quick.
bench-otel: $(STAMP)
	$(BIN)/python -m benchmarks otel $(BENCH_ARGS)

# The pages' translations (GNU gettext: apt-get install gettext): the templates from the
# marked messages (N_() in the core; Django's also its pgettext), each language's .po merged
# with its template (then translate what msgmerge marks new or fuzzy), every .mo compiled
# again. tests/core/test_pages_catalogues.py checks all of it.
PAGES_LOCALE := src/redtrust_middleware/pages/locale
DJANGO_LOCALE := integrations/redtrust_django/locale
PAGES_SOURCES := src/redtrust_middleware/_pages.py src/redtrust_middleware/_hosts.py
XGETTEXT := xgettext -L Python --keyword=N_ --keyword=pgettext:1c,2 --from-code=UTF-8 \
	--no-location --sort-output
messages:
	$(XGETTEXT) -o $(PAGES_LOCALE)/redtrust_middleware.pot $(PAGES_SOURCES)
	$(XGETTEXT) -o $(DJANGO_LOCALE)/django.pot $(PAGES_SOURCES) \
		integrations/redtrust_django/pages.py
	for po in $(PAGES_LOCALE)/*/LC_MESSAGES/redtrust_middleware.po; do \
		msgmerge -q -U --backup=none --no-location -s $$po $(PAGES_LOCALE)/redtrust_middleware.pot \
		&& msgfmt --check -o $${po%.po}.mo $$po || exit 1; done
	for po in $(DJANGO_LOCALE)/*/LC_MESSAGES/django.po; do \
		msgmerge -q -U --backup=none --no-location -s $$po $(DJANGO_LOCALE)/django.pot \
		&& msgfmt --check -o $${po%.po}.mo $$po || exit 1; done
	rm $(DJANGO_LOCALE)/django.pot

clean:
	rm -rf $(VENV) .venv-matrix .mypy_cache .pytest_cache .ruff_cache
