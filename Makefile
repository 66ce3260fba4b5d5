# Everything a fresh machine needs: a virtualenv with the package and its test tools.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test install sandbox migrate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Start the service on embedded defaults: embedded Postgres, built-in Shopify sandbox.
run: $(STAMP)
	$(BIN)/giftcard-adapter serve

## The whole suite: unit, integration (real Postgres, sandbox over HTTP) and chaos.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

sandbox: $(STAMP)
	$(BIN)/giftcard-adapter sandbox --port 8089

migrate: $(STAMP)
	$(BIN)/giftcard-adapter migrate

bench: $(STAMP)
	$(BIN)/python -m bench.latency

clean:
	rm -rf $(VENV) .data .pytest_cache
