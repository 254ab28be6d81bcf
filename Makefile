# make run        set up everything on a fresh machine and serve the product on http://127.0.0.1:8000
# make test       set up the test tools and run the whole test suite (test-js, then pytest)
# make test-fast  the suite without its slow tiers (browser, gunicorn, nginx), to rerun while editing
# make test-js    the unit tests of the page's DOM-free modules (tests/js/), with Node's runner
# make serve      the production command (gunicorn -c gunicorn.conf.py), after migrate and collectstatic
# make ci         what CI runs (.ci/run): the suite on SQLite, PostgreSQL, MariaDB and the newest Django
# make bench      the relay benchmark (bench/run.py; BENCH_ARGS=--help), results in docs/benchmarks.md

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run serve secret-key test test-fast test-js ci browser nginx screenshots messages lint migrate static bench clean

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

# A random SECRET_KEY in .env on the first start (chatproject/secret_key.py), kept afterwards.
secret-key: $(VENV)/.runtime
	$(BIN)/python -m chatproject.secret_key

migrate: secret-key
	$(BIN)/python manage.py migrate --noinput

static: secret-key
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

run: migrate static
	$(BIN)/python manage.py ensureadmin
	$(BIN)/gunicorn -c gunicorn.conf.py

serve: migrate static
	$(BIN)/gunicorn -c gunicorn.conf.py

test: $(VENV)/.dev browser nginx test-js
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The page's modules that need no browser (static/chat/: stream, sse, text, listing), in Node 20+.
test-js:
	node --test tests/js/

# The tests marked browser (Chromium), gunicorn (real gunicorn processes) and nginx (Debian's
# nginx) left out: the rest takes well under a minute. `make test` before committing.
test-fast: $(VENV)/.dev test-js
	$(BIN)/python -m pytest -m "not browser and not gunicorn and not nginx" $(PYTEST_ARGS)

# $(call apt_install,CHECK,PACKAGE,TESTS): when the shell command CHECK fails, install Debian's
# PACKAGE if we can (root, apt-get); if it stays missing, TESTS fail: they never skip.
apt_install = @$(1) || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2); } || \
	echo "$(2) is not installed (apt-get install $(2)): $(3) will fail." >&2

# The browser tests drive Debian's chromium.
browser:
	$(call apt_install,command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1,chromium,the browser tests)

# The proxy tests put Debian's nginx, configured as BaoTa and Debian have it, in front of the
# real gunicorn (tests/test_nginx.py, tests/test_doctor.py: the tests marked nginx).
nginx:
	$(call apt_install,command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ],nginx-light,the proxy tests)

# The README's screenshots, docs/screenshot-{light,dark,phone}.png, of a sample conversation.
# The screenshots in docs/ (tests/screenshots.py); the Chinese one needs a font with its glyphs.
screenshots: $(VENV)/.dev browser
	$(call apt_install,[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ],fonts-wqy-zenhei,the Chinese screenshot)
	$(BIN)/python -m pytest tests/screenshots.py -q

# After changing the page's words: refresh the Chinese catalogue, translate the new entries in
# locale/zh_Hans/LC_MESSAGES/django.po, run it again to compile, commit both files. Needs gettext.
messages: secret-key
	$(BIN)/python manage.py makemessages -l zh_Hans --add-location=file \
		--ignore=.venv --ignore=static --ignore=staticfiles --ignore=tests --ignore=deploy
	$(BIN)/python manage.py compilemessages -l zh_Hans --ignore=.venv

ci:
	bash .ci/run
# Not part of `make test`: it takes minutes and its numbers depend on the machine.
bench: $(VENV)/.runtime
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .venv-django6 staticfiles .pytest_cache .test-db*.sqlite3*
