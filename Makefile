# Both targets are idempotent: they create .venv when missing and (re)install the package.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test typecheck bench man clean
MAN := $(VENV)/share/man/man1/git-vault.1

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml man/man1/git-vault.1
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@# an editable install leaves out data files: put the man page where `man` finds it from PATH
	@# (`git vault --help` runs `man git-vault`; a wheel install puts it there itself)
	install -D -m 644 man/man1/git-vault.1 $(MAN)
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m gitvault.scaffold.demo
	@echo
	@echo "git vault is installed in $(CURDIR)/$(BIN); to run it as printed above, put that folder on PATH first:"
	@echo "  export PATH=\"$(CURDIR)/$(BIN):\$$PATH\"    # or: . $(BIN)/activate"

# One worker more than the CPUs (a good part of the suite waits on git, tmux, ssh and other
# subprocesses), each test file on one worker (its module fixtures, such as demo vaults, built
# once): better than one worker per CPU with tests spread one by one (measured 3:49 against 4:10).
WORKERS ?= $(shell python3 -c "import os; print((os.cpu_count() or 1) + 1)")

# Bytecode first: the suite starts hundreds of `git vault` processes and three workers, and where
# PYTHONDONTWRITEBYTECODE is set (as on this project's machines) each would compile every module again.
test: $(STAMP)
	$(BIN)/python -m compileall -q gitvault cli tui mcp_server hooks tests >/dev/null
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider -n $(WORKERS) --dist loadfile

typecheck: $(STAMP)
	$(BIN)/python -m mypy

bench: $(STAMP)
	for b in bench/*_bench.py; do PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python $$b || exit 1; done

man: $(STAMP)  # regenerate the man page from the parser (commit man/man1/git-vault.1)
	$(BIN)/python -m gitvault.cli.manpage
	install -D -m 644 man/man1/git-vault.1 $(MAN)

clean:
	rm -rf $(VENV) build *.egg-info
