# Two commands: `make run` (install, index corpus/, serve the chat page and API) and `make test` (install, run the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test bench bench-paraphrase screenshots clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned and installed first: pip takes a CPU-only 2.13.0 (2.13.0+cpu) where its configuration offers one
	# (find-links, an extra index); PyPI's own Linux build of torch pulls GBs of CUDA packages
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

# The paraphrase pairs (../shared/benchmarks, not copied here: their licence is unstated): each -para figure beside its -orig one
PARA ?= ../shared/benchmarks
bench-paraphrase: install
	for set in adv dev; do for form in orig para; do \
	  $(VENV)/bin/qa eval --benchmark $(PARA)/paraphrase-squad-$$set-$$form.json --json evals/reports/paraphrase-$$set-$$form.json --report evals/reports/paraphrase-$$set-$$form.md || exit 2; \
	done; done

screenshots: install
	$(PY) -m evals.screenshots

clean:
	rm -rf $(VENV) .qa
