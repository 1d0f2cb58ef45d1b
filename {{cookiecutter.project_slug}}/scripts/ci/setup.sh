#!/usr/bin/env bash
# Installs the project exactly as locked (uv.lock must be committed) with the Python version the
# project was generated for (the system's if it has one, else uv downloads it). Every CI job runs
# this first; the other scripts then use `uv run --frozen`.
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

log "uv sync --locked (Python ${PYTHON_VERSION})"
uv sync --locked --python "${PYTHON_VERSION}"
