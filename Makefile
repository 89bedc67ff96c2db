# The two commands the README promises: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LISTEN ?= --listen udp:127.0.0.1:5060 --listen tcp:127.0.0.1:5060
UPSTREAM ?= --upstream sip:127.0.0.1:5080

.PHONY: run test test-pure print-compiled deps sysdeps lint bench pgo clean

# The compiled set, declared once in pyproject.toml ([tool.antibot]; read with tomllib, so
# $(PY) >= 3.11): the modules setup.py compiles with mypyc (the per-packet path) and its C
# extensions. The stamp rebuilds them when one changes.
toml_list = $(shell $(PY) -c 'import sys, tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["antibot"][sys.argv[1]])' $(1))
HOT_MODULES := $(call toml_list,compiled)
HOT_C := $(call toml_list,c-extensions)
ifeq ($(strip $(HOT_MODULES)),)
$(error no [tool.antibot] compiled list read from pyproject.toml (needs $(PY) >= 3.11))
endif
HOT_SRC := $(HOT_MODULES) $(HOT_C) $(HOT_C:.c=.pyi) models/antibot-gbt.json pyproject.toml
# The tests of every package holding a compiled module (tests mirror the package layout).
PURE_TESTS := $(sort $(foreach m,$(HOT_MODULES),tests/$(word 2,$(subst /, ,$(m)))))
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
	@mkdir -p build && rm -f build/.pgo && touch $@

# The same, profile-guided (GCC): an instrumented build, real calls through it
# (bench/pgo_train.sh, sipp), then the build that uses the profile: 6-11% less CPU per call
# (docs/performance.md). A wheel built with ANTIBOT_PROFILE_USE=$(CURDIR)/build/pgo uses it too.
pgo: $(BIN)/antibot sysdeps
	rm -rf build/pgo
	ANTIBOT_PROFILE_GENERATE=$(CURDIR)/build/pgo $(BIN)/python setup.py -q build_ext --inplace --force >/dev/null
	PY=$(CURDIR)/$(BIN)/python bench/pgo_train.sh .  # not make's PY (exported to recipes), which built the venv
	ANTIBOT_PROFILE_USE=$(CURDIR)/build/pgo $(BIN)/python setup.py -q build_ext --inplace --force >/dev/null
	@touch $(COMPILED) build/.pgo

run: $(COMPILED)
	$(BIN)/antibot run $(LISTEN) $(UPSTREAM) $(ARGS)

# System packages the tests drive for real: sipp (Debian's sip-tester), redis-server, Chromium,
# socat and openssl (the TLS tests: socat carries sipp's TCP over TLS).
sysdeps:
	@if ! command -v sipp >/dev/null || ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null \
	  || ! command -v socat >/dev/null || ! command -v openssl >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester redis-server chromium socat openssl; fi

test: sysdeps $(COMPILED)
	$(BIN)/ruff check antibot api tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -ra --durations=12 $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-pure

# The same compiled modules as pure Python (the fallback without a C compiler): the tests of
# their packages run on a copy of the package without the compiled extensions.
PURE := build/pure
test-pure: $(BIN)/antibot
	@rm -rf $(PURE) && mkdir -p $(PURE)/repo
	@cp -r antibot tests models pyproject.toml $(PURE)/repo/ && find $(PURE)/repo -name '*.so' -delete
	@ln -sfn $(abspath ..)/shared $(PURE)/shared
	cd $(PURE)/repo && $(abspath $(BIN))/python -m pytest -q -p no:cacheprovider $(PURE_TESTS)

# What the rules above derive from pyproject.toml (tests/test_build.py checks it).
print-compiled:
	@echo "hot-src $(HOT_SRC)"
	@echo "pure-tests $(PURE_TESTS)"

bench: $(COMPILED)
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
	find antibot -name '*.so' -delete
