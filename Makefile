# The two commands the README promises: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LISTEN ?= --listen udp:127.0.0.1:5060 --listen tcp:127.0.0.1:5060
UPSTREAM ?= --upstream sip:127.0.0.1:5080

.PHONY: run test test-pure deps sysdeps lint bench clean

# Sources setup.py compiles with mypyc (the per-packet path); the stamp rebuilds them when they change.
HOT_SRC := $(wildcard antibot/sip/*.py antibot/sip/*.c antibot/transaction/*.py antibot/proxy/*.py antibot/transport/latency.py antibot/transport/loop.py antibot/transport/udp.py) \
  models/antibot-gbt.json $(addprefix antibot/detect/,corroboration.py counting.py engine.py features.py fingerprint.py lists.py logform.py model.py numbers.py observation.py outcomes.py rules.py unscored.py windowed.py) antibot/store/commands.py antibot/store/keys.py
COMPILED := build/.compiled

$(BIN)/antibot: pyproject.toml setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools>=77'
	ANTIBOT_PURE=1 $(BIN)/pip install -q -e '.[test]'
	touch $@

# The editable install is pure Python; compile the hot path in place (ANTIBOT_PURE=1 skips it).
$(COMPILED): $(BIN)/antibot $(HOT_SRC) setup.py
	@if [ "$$ANTIBOT_PURE" = 1 ]; then find antibot -name '*.so' -delete; \
	else $(BIN)/python setup.py -q build_ext --inplace >/dev/null; fi
	@mkdir -p build && touch $@

run: $(COMPILED)
	$(BIN)/antibot run $(LISTEN) $(UPSTREAM) $(ARGS)

# System packages the tests drive for real: sipp (Debian's sip-tester), redis-server, Chromium.
sysdeps:
	@if ! command -v sipp >/dev/null || ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester redis-server chromium; fi

test: sysdeps $(COMPILED)
	$(BIN)/ruff check antibot api tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -ra $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-pure

# The same compiled modules as pure Python (the fallback without a C compiler): their unit
# tests run on a copy of the package without the compiled extensions.
PURE := build/pure
test-pure: $(BIN)/antibot
	@rm -rf $(PURE) && mkdir -p $(PURE)/repo
	@cp -r antibot tests models pyproject.toml $(PURE)/repo/ && find $(PURE)/repo -name '*.so' -delete
	@ln -sfn $(abspath ..)/shared $(PURE)/shared
	cd $(PURE)/repo && $(abspath $(BIN))/python -m pytest -q -p no:cacheprovider tests/sip tests/transaction tests/proxy tests/transport tests/detect tests/store/test_commands.py

bench: $(COMPILED)
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
	find antibot -name '*.so' -delete
