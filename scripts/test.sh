#!/usr/bin/env bash
# The template's tests: every tox environment of tox.ini (lint, py), run with uv's tox and tox-uv.
# Needs only uv, or Python 3.11+ with pip (it installs uv with pip when missing, see uv.sh).
#   bash scripts/test.sh                          every environment (the README's test command)
#   bash scripts/test.sh -e py -- -m "not slow"   arguments go to tox: here the fast tests only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/uv.sh
source scripts/uv.sh
find_uv
# The uv binary itself, not `python3 -m uv`: that sets UV_INTERNAL__PARENT_INTERPRETER, which makes
# tox-uv install into the Python that launched uv.
exec "$uv_bin" tool run --with tox-uv tox "$@"
