# Two commands on a fresh machine:  make book   and   make test
# Both create .venv when missing and install what they need (torch first, so pip never pulls a CUDA build here).

PYTHON  ?= python3
PROFILE ?= smoke
CHAPTERS ?=
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.brainfm-installed
# The torch build to install before anything that depends on it (a CPU wheel on this project's CI machines;
# on a GPU server, e.g. `make book PROFILE=full TORCH_SPEC="torch==2.13.0 --index-url ..."`).
TORCH_SPEC ?= torch==2.13.0

.PHONY: book test test-fast lint check-install setup clean help

help:
	@echo "make book [PROFILE=smoke|reference|colab|full] [CHAPTERS='01_data']  execute the chapters and render _build/html"
	@echo "make test                                                   run the whole test suite (includes the book at smoke)"
	@echo "make test-fast                                              the tests without the book (pytest -m 'not book')"
	@echo "make lint                                                   ruff check (settings in pyproject.toml)"
	@echo "make check-install                                          plain 'pip install .' in a fresh venv: every module imports"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e '.[book,dev]'
	@touch $(STAMP)

book: $(STAMP)
	$(PY) data_scripts/run_book.py --profile $(PROFILE) $(if $(CHAPTERS),--chapters $(CHAPTERS),)

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not book"

lint: $(STAMP)
	$(PY) -m ruff check brainfm_lite tests benchmarks data_scripts

check-install:
	TORCH_SPEC="$(TORCH_SPEC)" PYTHON=$(PYTHON) .ci/check_install.sh

clean:
	rm -rf _build
