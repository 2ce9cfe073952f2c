# Set-up and the two entry points. Each target installs what it needs, once.
PYTHON ?= python3.11
VENV := .venv
LS_VENV := .venv-label-studio
LABEL_STUDIO_VERSION := 1.23.2

.PHONY: run test test-fast lint bench phantom-goals clean-state

run: $(VENV)/.installed $(LS_VENV)/.installed
	$(VENV)/bin/python -m local_stack.run

test: $(VENV)/.installed $(LS_VENV)/.installed chromium
	$(VENV)/bin/python -m pytest -ra

test-fast: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -ra -m "not label_studio and not browser"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# Train on phantom clips from scratch, evaluate on clips held out by clip, print the goals.
phantom-goals: $(VENV)/.installed
	$(VENV)/bin/python bench/phantom_goals.py

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/training_throughput.py
	$(VENV)/bin/python bench/predict_latency.py
	$(VENV)/bin/python bench/ingest_throughput.py

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# Label Studio pins many packages of its own, so it lives in a venv of its own.
$(LS_VENV)/.installed:
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install --quiet label-studio==$(LABEL_STUDIO_VERSION)
	touch $@

# The browser test drives Debian's Chromium; Playwright never downloads a browser.
chromium:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

clean-state:
	rm -rf var
