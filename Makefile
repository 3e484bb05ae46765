# Every target that needs Python builds .venv first, so `make demo` and `make test`
# are the only commands a fresh machine needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
GMMBG := $(VENV)/bin/gmmbg

.PHONY: install demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) sample_media/make_samples.py --out sample_media
	mkdir -p demo-out
	$(GMMBG) segment sample_media/flowers.png -k 5 -o demo-out/flowers-segmented.png --labels demo-out/flowers-labels.png --force
	$(GMMBG) extract-background sample_media/street.gif -o demo-out/street-background.png --force
	$(GMMBG) subtract sample_media/street.gif -o demo-out/street-masks.gif --force
	$(GMMBG) subtract sample_media/street.gif --method online -o demo-out/street-online-masks.gif --force
	$(GMMBG) compare sample_media/street.gif --ground-truth sample_media/street-groundtruth \
		--background-truth sample_media/street-background.png -o demo-out/street-compare --force
	@echo "demo results are in demo-out/"

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check gmmbg tests benchmarks sample_media
	$(VENV)/bin/ruff format --check gmmbg tests benchmarks sample_media

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/bench_segment.py
	$(PY) benchmarks/bench_pixel_em.py
	$(PY) benchmarks/bench_online.py
	$(PY) benchmarks/bench_many.py
	$(PY) benchmarks/bench_memory.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
