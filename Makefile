# Vern: `make run` serves the demo on http://127.0.0.1:5000, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint typecheck translations messages bench clean help

help:
	@echo "make run    - set up .venv, migrate, sync courses, load the demo, serve on http://$(HOST):$(PORT)"
	@echo "make test   - set up .venv with dev extras and run the whole test suite"
	@echo "make lint   - ruff and mypy"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	@touch $(VENV)/.installed $@

# Ralph, the LRS the xAPI tests send statements to, in a virtualenv of its own: it pins
# FastAPI, httpx and others that Vern's own dependencies must not have to agree with.
LRS_VENV := .venv-lrs
$(LRS_VENV)/.installed:
	$(PYTHON) -m venv $(LRS_VENV)
	$(LRS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LRS_VENV)/bin/python -m pip install --quiet 'ralph-malph[cli,lrs]==5.1.0' requests
	@touch $@

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d translations -f

# Web server and scheduler side by side (the embedded default); Ctrl-C stops both.
# Without LMS_SMTP_HOST, mail is printed by the scheduler instead of sent.
run: $(VENV)/.installed translations
	$(FLASK) lms db upgrade
	$(FLASK) lms courses sync
	$(FLASK) lms demo --if-empty
	$(FLASK) lms ledger init --if-missing
	@trap 'kill 0' INT TERM EXIT; \
	$(FLASK) lms scheduler & \
	$(FLASK) run --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev $(LRS_VENV)/.installed translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks (never timed tests): results and the machine are appended to docs/performance.md.
bench: $(VENV)/.installed-dev translations
	$(BIN)/python -m bench.run --write docs/performance.md $(BENCH_ARGS)
	$(BIN)/python -m bench.ledger --write docs/performance.md
	$(BIN)/python -m bench.http --write docs/performance.md  # needs wrk (apt-get install wrk)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check lms tests app.py migrations bench
	$(BIN)/ruff format --check lms tests app.py migrations bench
	$(BIN)/mypy
	@if [ -f ../shared/tools/layers.py ]; then $(BIN)/python ../shared/tools/layers.py lms; fi

# Re-extract the UI strings after adding or changing any; then translate translations/nb.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -o translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --ignore-obsolete --no-wrap

clean:
	rm -rf $(VENV) $(LRS_VENV) .pytest_cache .mypy_cache .ruff_cache
