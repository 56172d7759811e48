# The two commands: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install lint locales bench bench-rag bench-rag-eval bench-rag-fil bench-updates clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# torch first, pinned, so pip takes the local CPU wheel instead of a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/learnbot demo

# After changing a text in bot/: re-extract, merge into every language's .po (new or changed
# texts come out empty or fuzzy: translate them), compile. The bot compiles the .po files itself
# on start too, so a forgotten compile can't ship stale texts.
locales: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -c TRANSLATORS: --add-location=file --sort-output \
		--project=learnbot --copyright-holder=learnbot -o locales/learnbot.pot .
	$(VENV)/bin/pybabel update -i locales/learnbot.pot -d locales -D learnbot --width=100
	$(VENV)/bin/pybabel compile -d locales -D learnbot --statistics

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Two processes share the suite (pytest-xdist), each with its own embedded PostgreSQL; the
# tests that measure rates run afterwards alone, so the other half can't steal their CPU.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	HF_HUB_OFFLINE=1 $(PY) -m pytest -n 2 -m "not solo"
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m solo

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/delivery.py

bench-rag: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/rag.py

bench-rag-eval: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/rag_eval.py

bench-rag-fil: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/rag_fil.py

bench-updates: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/updates.py

clean:
	rm -rf $(VENV) .data
