# Two commands matter (README): `make repro` runs the pipeline, `make test` runs the tests.
# Both create the virtual environment and install the project first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
DEBIAN_DATASET := /usr/share/datasets/fashion-mnist

.PHONY: install data repro chains cells benchmark protocols readme test exp-show speed gan-step parallel-cells clean

install: $(VENV)/.installed .dvc/plots_page.html

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# `dvc plots show`'s page with Vega inline (.dvc/config names it): the plots render offline.
.dvc/plots_page.html: $(VENV)/.installed src/fmnist_ad/plots_page.py
	$(BIN)/python -m fmnist_ad.plots_page $@

# Best effort: Debian's package is the offline source; without it the download stage falls back
# to $$FASHION_MNIST_DIR or the official download.
data:
	@if [ ! -d $(DEBIAN_DATASET) ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
		|| echo "note: dataset-fashion-mnist not installed; will try FASHION_MNIST_DIR or the official download"; \
	fi

# Cells of the sweeps (and the default pipeline's chains) JOBS at a time (default: one per core),
# each with cores/JOBS torch threads.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
JOB_THREADS = $(shell n=$$(nproc 2>/dev/null || echo 1); t=$$((n / $(JOBS))); echo $$((t > 0 ? t : 1)))

# The default pipeline with its detectors side by side. After `prepare`, each detector's stages
# (train or fit, score, threshold, evaluate) need nothing of another detector's, so these chains
# run JOBS at a time (at most 3: the networks are what takes long), slowest first, each stage a
# `dvc --wait-for-lock repro -s` with cores/JOBS torch threads; then `dvc repro` runs `compare`
# and whatever a chain left (a detector missing from SLOWEST_FIRST), and checks that all is done.
# With nothing stale (`dvc status -q`), no chain starts: 24 `dvc repro -s` would cost ~1 s each.
# The results are plain `dvc repro`'s at that thread count (docs/speed.md: the GAN's depend on it).
SLOWEST_FIRST := gan vae ae gbt knn iforest
repro: install data
	$(MAKE) chains JOBS=$$(( $(JOBS) < 3 ? $(JOBS) : 3 ))

chains:
	$(BIN)/dvc repro prepare
	$(if $(FORCE),,$(BIN)/dvc status -q dvc.yaml ||) printf '%s\n' $(SLOWEST_FIRST) | \
		OMP_NUM_THREADS=$(JOB_THREADS) xargs -P $(JOBS) -I '{}' sh -c \
		'for stage in $$($(BIN)/dvc stage list --name-only | grep "@{}$$"); do \
			$(BIN)/dvc --wait-for-lock repro -s $(if $(FORCE),-f) $$stage || exit 1; done'
	$(BIN)/dvc repro

test: install
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# Every stage of PIPELINE (a dvc.yaml) but its summary, JOBS at a time, each a `dvc repro -s`:
# DVC runs the cell, releasing its repo lock while the command runs (--wait-for-lock queues the
# rest), and records it when it ends, so a killed run resumes at the unfinished cells and a
# finished one is skipped. Then `dvc repro PIPELINE`: the summary, and a check that all is done.
# CELLS=REGEX runs only the cells whose stage name matches (grep -E) and skips the summary;
# FORCE=1 reruns them even when DVC has them up to date (what measure/parallel_cells.py times).
CELLS ?=
FORCE ?=
cells:
	$(BIN)/dvc repro download
	$(BIN)/dvc stage list --name-only $(PIPELINE) | grep -v ':summary$$' | grep -E '$(or $(CELLS),.)' | \
		OMP_NUM_THREADS=$(JOB_THREADS) xargs -r -P $(JOBS) -n 1 $(BIN)/dvc --wait-for-lock repro -s $(if $(FORCE),-f)
	$(if $(CELLS),,$(BIN)/dvc repro $(PIPELINE))

# The ten-class table (README "Ten-class benchmark"): a second DVC pipeline, cached per cell.
benchmark: install data
	$(MAKE) cells PIPELINE=benchmark/dvc.yaml

# The report's protocols and the unseen-anomaly protocol over seeds (README "Protocols").
protocols: install data
	$(MAKE) cells PIPELINE=protocols/dvc.yaml

# Copy the result tables from metrics/*.md (written by the pipelines) into the README.
readme: install
	$(BIN)/python -m fmnist_ad.readme README.md

# `dvc exp show` cut to the headline: each detector's test AUROC (main score) and the epochs.
HEADLINE := Experiment|Created|params.yaml:(ae|vae|gan)\.epochs$$|metrics/(ae|vae|gan|knn|iforest|gbt)\.json:auroc$$
exp-show: install
	$(BIN)/dvc exp show --drop '.*' --keep '$(HEADLINE)'

# Training and scoring throughput (docs/speed.md); prints figures, changes no pipeline output.
speed: install data
	$(BIN)/python measure/speed.py

# One GAN training step against the machine's matrix-product rate (docs/speed.md).
gan-step: install
	$(BIN)/python measure/gan_step.py --ceiling

# The benchmark's AE cells rerun one and two at a time: wall times, same results (docs/speed.md).
parallel-cells: install data
	$(BIN)/python measure/parallel_cells.py

clean:
	rm -rf $(VENV) .pytest_cache
