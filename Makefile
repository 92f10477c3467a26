# stingy-book — every entry point. The README's two commands: `make book` and `make test`.
# Each target creates .venv and installs into it when missing, so a fresh clone needs nothing else.

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= cpu
JOBS    ?= 2
FORCE   ?= --force
EXTRAS  ?= book,test,ray,lab
LAB_ARGS ?=
# Jupyter refuses to run as root unless told: containers and CI machines often are root.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

# torch: this project's machines serve the tested pair (torch 2.14.1, torchvision 0.29.1) from local
# disk; anywhere else pip picks the newest torch for your platform. Override with e.g.
#   make test TORCH_SPEC="torch==2.5.1 torchvision==0.20.1"
LOCAL_TORCH := $(wildcard /opt/pypi-more/files/torch-2.14.1-*.whl)
TORCH_SPEC  ?= $(if $(LOCAL_TORCH),torch==2.14.1 torchvision==0.29.1,torch torchvision)

STAMP := $(VENV)/.stingy-installed

.PHONY: install test book book-html results data bench bench-all lab kernel clean help

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

install: $(STAMP)  ## create .venv and install stingylib with its extras

test: $(STAMP)  ## run every test (unit tests, notebooks with the smoke profile, the book build)
	$(PY) -m pytest

data: $(STAMP)  ## make PROFILE's datasets available (Debian package or download)
	$(PY) -m stingylib fetch --profile $(PROFILE)

book: data  ## execute the notebooks for PROFILE (default cpu) and build the book into _build/html
	$(PY) book/build.py --profile $(PROFILE)

results: data  ## retrain every run of PROFILE into data/results/PROFILE (FORCE= keeps finished runs)
	$(PY) -m stingylib run all --profile $(PROFILE) --jobs $(JOBS) $(FORCE)

book-html: $(STAMP)  ## rebuild only the book's HTML, from the notebooks already executed
	$(PY) book/build.py --skip-notebooks

bench: $(STAMP)  ## run the CPU benchmarks
	$(PY) benchmarks/bench_transforms.py
	$(PY) benchmarks/bench_models.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_fastpath.py --check

bench-all: bench  ## also the long ones: the fast-path table, the cpu-grid estimate, bf16 vs fp32 accuracy
	$(PY) benchmarks/bench_fastpath.py
	$(PY) benchmarks/bench_grid.py
	$(PY) benchmarks/bench_precision.py

lab: $(STAMP)  ## open JupyterLab on notebooks/ with this environment's kernel (e.g. LAB_ARGS=--no-browser)
	JUPYTER_PREFER_ENV_PATH=1 $(PY) -m jupyter lab --ServerApp.root_dir="$(CURDIR)/notebooks" $(LAB_ROOT) $(LAB_ARGS)

kernel: $(STAMP)  ## register this environment as the Jupyter kernel "stingy-book" for your own Jupyter
	$(PY) -m ipykernel install --user --name stingy-book --display-name "Python 3 (stingy-book)"

clean:  ## remove the built book and executed notebooks (keeps .venv, data and results)
	rm -rf _build book/_generated book/_extra
