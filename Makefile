# torchkata: `make check` proves every reference passes, every stub fails every hidden test,
# and every catalog mistake (tests/mutants) is caught.
PY ?= .venv/bin/python
JOBS ?= auto

.PHONY: setup check test kata fuzz lint catalog clean

setup: .venv/.installed

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1 || $(PY) -m pip install -q "torch>=2.4" "torchvision>=0.19"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# Everything: lint, the tooling's own tests, then the mutation check over every kata.
check: setup lint
	$(PY) -m pytest tooling_tests -q -n $(JOBS)
	$(PY) -m torchkata verify --jobs $(JOBS)

test: check

lint: setup
	$(PY) -m ruff check .

# One kata against reference, stub and its mutants: make kata K=03_autograd
# Part of it while iterating (pytest's -k over the labels and test names):
#   make kata K=10_optimizers M="mutant12 and test_step"
kata: setup
	$(PY) -m pytest tests/test_$(K).py --torchkata-verify -q --tb=line -rN $(if $(M),-k "$(M)")

# Random seeds and many examples (TORCHKATA_FUZZ_EXAMPLES, default 400) over every suite and
# every mutant: for finding what the derandomized ci/verify/grade profiles miss. Not in CI.
fuzz: setup
	$(PY) -m pytest tests --torchkata-verify --hypothesis-profile fuzz -q --tb=short -rN -p no:cacheprovider -n $(JOBS)

catalog:
	python3 ../shared/tools/check_catalog.py .

clean:
	rm -rf .venv build *.egg-info src/*.egg-info .pytest_cache .hypothesis
