# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
INDEX  ?= index
POSTS  ?= samples/posts
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: serve test install index bench typecheck clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Build the index from the bundled sample posts when index/ holds none yet.
index: $(STAMP)
	@if [ ! -f $(INDEX)/CURRENT ]; then $(BIN)/searchsvc reindex --posts $(POSTS) --index $(INDEX); fi

serve: index
	$(BIN)/searchsvc serve --index $(INDEX) --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_index.py

clean:
	rm -rf $(VENV) build *.egg-info
