# Two commands matter: `make run` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-postgres postgres lint wrk bench bench-postgres soak browser clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

# The mail sink and serve share one shell, so its trap stops the sink when serve exits; the sink
# steps aside when SMTP_HOST/SMTP_PORT are not the defaults or port 1025 is taken.
run: install
	mkdir -p data
	$(BIN)/magnetiq db upgrade
	@echo
	@echo "  Magnetiq is starting on http://localhost:3036 (docs at /docs)."
	@echo "  Mail goes to the development mail sink: printed here and saved in data/mail."
	@echo "  First time? In another terminal create an admin:"
	@echo "    $(BIN)/magnetiq create-admin --email admin@example.com --password 'a-long-unique-passphrase'"
	@echo
	$(BIN)/magnetiq mail-sink --only-if-default & sink=$$!; \
	trap 'kill $$sink 2>/dev/null' EXIT INT TERM; \
	$(BIN)/magnetiq serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The docs test drives Debian's headless Chromium; install it when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

test: install browser lint
	$(BIN)/pytest features tests

# The same suite on PostgreSQL (issue 13): Debian's server, installed when missing, in a throwaway
# cluster that tests/postgres_cluster.py starts as an unprivileged user on a loopback port and stops.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q postgresql; }

test-postgres: install browser postgres
	$(BIN)/python -m tests.postgres_cluster features tests

# Load generator for the benchmarks: Debian's wrk.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q wrk; }

bench: install wrk
	$(BIN)/python -m tests.benchmarks.run

# The HTTP benchmarks on PostgreSQL with 1, 2 and 4 API processes, and the registration against
# SQLite at 4 (tests/benchmarks/postgres.py): a throwaway cluster with durability on, stopped and
# deleted when the run ends, whatever its outcome. About 8 minutes.
bench-postgres: install wrk postgres
	$(BIN)/python -m tests.benchmarks.postgres

# The soak test with faults (tests/soak): SOAK_SECONDS long (default 600), its report printed.
SOAK_SECONDS ?= 600
soak: install
	SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/python -m tests.soak

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
