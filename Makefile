# make run    set up everything on a fresh machine and serve the product on http://127.0.0.1:8000
# make test   set up the test tools and run the whole test suite
# make serve  the production command (gunicorn -c gunicorn.conf.py), after migrate and collectstatic
# make bench  the relay benchmark (bench/run.py; BENCH_ARGS=--help), results in docs/benchmarks.md

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run serve test lint migrate static bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when the requirements change.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

migrate: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput

static: $(VENV)/.runtime
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

run: migrate static
	$(BIN)/python manage.py ensureadmin
	$(BIN)/gunicorn -c gunicorn.conf.py

serve: migrate static
	$(BIN)/gunicorn -c gunicorn.conf.py

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Not part of `make test`: it takes minutes and its numbers depend on the machine.
bench: $(VENV)/.runtime
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .test-db*.sqlite3*
