# One target per task; CI (.ci/run) calls them. Python targets expect the package installed
# editable with its dev tools: pip install -e '.[dev]' (`make dev`).

PYTHON ?= python
PY_SOURCES := python tests benches scripts tools

.PHONY: dev lint typecheck test test-slow rust wheels aarch64 ci

dev:  ## the package (editable), its test extra and the pinned dev tools
	$(PYTHON) -m pip install -e '.[dev]'

lint:  ## ruff on every Python file (rules in pyproject.toml)
	$(PYTHON) -m ruff check $(PY_SOURCES)

typecheck:  ## mypy --strict on the package; the stubs (_native.pyi) against the compiled module
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest ncnnq._native

test:  ## the README's test command: every check but the slow ones
	$(PYTHON) -m pytest tests

test-slow:  ## the slow checks (accuracy on the shared data, the largest architectures, stubtest)
	$(PYTHON) -m pytest tests -m slow

rust:  ## format, lints (with and without the Python binding, and the aarch64 code), tests
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	cargo clippy --target aarch64-unknown-linux-gnu --all-targets -- -D warnings
	cargo test

wheels:  ## abi3 manylinux_2_17 wheels for x86_64 and aarch64 in dist/
	scripts/build-wheels.sh

aarch64:  ## the aarch64 wheel under qemu: Rust tests, a broken NEON kernel caught, pytest -m emulated, parity
	scripts/test-aarch64.sh rust broken python parity

ci: rust lint typecheck test test-slow wheels aarch64  ## everything CI runs, in its order
