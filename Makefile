# Two commands: `make run` (install, index corpus/, serve the chat page and API) and `make test` (install, run the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test bench bench-paraphrase quality answer-model screenshots clean

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

# The Quality table of docs/evals.md: both answerers on every set, in one run (about an hour on two cores).
# A floor missed is reported and the loop goes on (the floors are the default's); an error stops it.
QA_EVAL ?= $(VENV)/bin/qa eval
QUALITY_RUNS := gold: gold-rgb:--distractors@rgb dated:--gold@evals/gold-dated.json \
  squad2:--benchmark@squad2@--limit@1000 squad2-unanswerable:--benchmark@squad2@--limit@1000@--unanswerable@300 \
  rgb:--benchmark@rgb $(foreach s,adv dev,$(foreach f,orig para,paraphrase-$(s)-$(f):--benchmark@$(PARA)/paraphrase-squad-$(s)-$(f).json))
quality: install
	mkdir -p evals/reports/quality
	for m in trained linear; do for run in $(QUALITY_RUNS); do \
	  QA_ANSWER_MODEL=$$m $(QA_EVAL) $$(echo $${run#*:} | tr @ ' ') --json evals/reports/quality/$$m-$${run%%:*}.json; \
	  rc=$$?; [ $$rc -le 1 ] || exit $$rc; \
	done; done

# The shipped answer model retrained from the bundled weights, seeded (about 10 hours on two cores; run again to resume).
answer-model: install
	$(PY) -m evals.retrain_answer_model

screenshots: install
	$(PY) -m evals.screenshots

clean:
	rm -rf $(VENV) .qa
