# Everything a fresh machine needs: a virtualenv with the package and its test tools.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test fuzz install tools sandbox migrate bench clean

$(STAMP): pyproject.toml emulators/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e ./emulators
	touch $(STAMP)

install: $(STAMP)

## Start the service in embedded mode (asked for by --embedded): embedded Postgres, built-in
## Shopify sandbox, dev secrets, no API keys needed, listening on 127.0.0.1 only.
run: $(STAMP)
	$(BIN)/giftcard-adapter serve --embedded

## Command-line tools the deployment checks use: promtool (Debian's prometheus package).
## Installed when possible; otherwise the checks that need it are skipped with a loud message.
tools:
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null 2>&1 \
	      || echo "!!! could not install promtool: the alert-rule checks will be SKIPPED !!!"; \
	  else echo "!!! promtool is missing and cannot be installed here: the alert-rule checks will be SKIPPED !!!"; fi; }

## The whole suite: unit, integration (real Postgres, sandbox over HTTP), deployment and chaos.
test: $(STAMP) tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Only the schemathesis run against a live adapter (part of `test`); SCHEMATHESIS_SEED replays one.
fuzz: $(STAMP)
	$(BIN)/python -m pytest -m fuzz tests/fuzz $(PYTEST_ARGS)

sandbox: $(STAMP)
	$(BIN)/giftcard-adapter sandbox --port 8089

migrate: $(STAMP)
	$(BIN)/giftcard-adapter migrate --embedded

bench: $(STAMP)
	$(BIN)/python -m bench.latency

clean:
	rm -rf $(VENV) .data .pytest_cache
