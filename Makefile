# Two commands on a fresh machine: `make demo` and `make test`.
# Debian's python3.11 lives in a world-readable path, which a sandboxed kernel
# running as another uid needs; fall back to whatever python3 is on PATH.
PYTHON ?= $(shell test -x /usr/bin/python3.11 && echo /usr/bin/python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# These builds lie on this machine's disk; elsewhere, override TORCH with your own build.
TORCH ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: demo test clean system test-system

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The sandbox runs every kernel in bubblewrap (SECURITY.md); the review pages' browser test drives Debian's
# chromium through chromium-driver; the Slurm executor's tests start a real single-node Slurm (tests/slurm_cluster.py).
# Installed here when missing: command:package pairs.
SANDBOX_PACKAGES := bwrap:bubblewrap
BROWSER_PACKAGES := chromium:chromium chromedriver:chromium-driver
SLURM_PACKAGES := sbatch:slurm-client slurmctld:slurmctld slurmd:slurmd munged:munge
define apt_install
	@missing=""; for pair in $(1); do \
	  command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) $$missing >/dev/null; \
	  else \
	    echo "the grader needs:$$missing (sudo apt-get install$$missing)" >&2; exit 1; \
	  fi; \
	fi
endef

system:
	$(call apt_install,$(SANDBOX_PACKAGES))

test-system:
	$(call apt_install,$(BROWSER_PACKAGES))
	$(call apt_install,$(SLURM_PACKAGES),--no-install-recommends)

# Offline stand-ins for the model weights and datasets that notebooks download (`grader assets fetch` gets the
# real ones on a machine with internet; real ones are kept). Without a GPU, .cuda() cells run on the CPU.
demo: system $(STAMP)
	$(BIN)/grader assets synth
	$(BIN)/grader grade submissions/dl2022-midterm --rubric rubrics/dl2022-midterm --out reports --cpu-fallback
	$(BIN)/grader release rubrics/dl2022-midterm --out reports/student-bundle
	$(BIN)/grader grade submissions/dl2022-final --rubric rubrics/dl2022-final --out reports/dl2022-final

# Lint and types first (seconds), then the suite; the import contracts run inside it (tests/test_architecture.py).
test: system test-system $(STAMP)
	$(BIN)/ruff check grader tests scripts benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf reports/* .pytest_cache
