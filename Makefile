# Two commands do all the set-up on a fresh machine:
#   make demo   installs into .venv, then runs every capability on the shipped examples
#   make test   installs into .venv (and the system packages the tests need), then runs the tests
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install system-deps test lint demo app docs clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools<81' wheel
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) scripts/link_ffmpeg.py
	touch $(STAMP)

install: $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

lint: install
	$(VENV)/bin/ruff check sonomorph tests benchmarks scripts

test: install system-deps lint
	$(PY) scripts/gen_results.py --check
	$(PY) -m pytest -q --durations=15

demo: install
	$(PY) -m sonomorph.demo

app: install
	$(VENV)/bin/sonomorph app

clean:
	rm -rf $(VENV) build dist *.egg-info
