# Two commands: `make run` (install, index corpus/, serve the chat page and API) and `make test` (install, run the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test bench screenshots clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build this machine carries; anything else pulls GBs of CUDA
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/qa ingest
	$(VENV)/bin/qa serve

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m evals.perf --json evals/reports/perf.json

screenshots: install
	$(PY) -m evals.screenshots

clean:
	rm -rf $(VENV) .qa
