# Two commands matter: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

# Re-install only when the declared dependencies or the lock change, so a second `make setup` is instant.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,postgres]'
	touch $(STAMP)

demo: setup
	$(BIN)/python -m evals.demo

test: setup
	$(BIN)/ruff check .
	@# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
	$(BIN)/python -m pytest -n 2 tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m evals.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
