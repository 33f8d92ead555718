# The two commands of the README. Each installs what it needs first (scripts/bootstrap).
.PHONY: demo test lint bench bootstrap

bootstrap:
	@scripts/bootstrap

demo: bootstrap
	.venv/bin/computerouter demo

lint: bootstrap
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy

test: lint
	.venv/bin/pytest

bench: bootstrap
	.venv/bin/python bench/lifecycle.py
	.venv/bin/python bench/turns.py
	.venv/bin/python bench/pool.py
	.venv/bin/python bench/ensure.py
	.venv/bin/python bench/ledger.py
	.venv/bin/python bench/isolation.py
	.venv/bin/python bench/providers.py
	.venv/bin/python bench/gateway.py
	.venv/bin/python bench/remote_gateway.py
	.venv/bin/python bench/density.py
	.venv/bin/python bench/api.py --litellm "$$(scripts/litellm-venv)"
