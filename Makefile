# The two commands the README promises: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LISTEN ?= --listen udp:127.0.0.1:5060 --listen tcp:127.0.0.1:5060
UPSTREAM ?= --upstream sip:127.0.0.1:5080

.PHONY: run test deps sysdeps lint bench clean

$(BIN)/antibot: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/antibot
	$(BIN)/antibot run $(LISTEN) $(UPSTREAM) $(ARGS)

# System packages the tests drive for real: sipp (Debian's sip-tester), redis-server, Chromium.
sysdeps:
	@if ! command -v sipp >/dev/null || ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester redis-server chromium; fi

test: sysdeps $(BIN)/antibot
	$(BIN)/ruff check antibot api tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -ra $(PYTEST_ARGS)

bench: $(BIN)/antibot
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
