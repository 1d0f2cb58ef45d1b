#!/usr/bin/env bash
# Demo: render the template with its defaults and run the generated project's quickstart end to end
# (install, apply the SQLMesh models to a local DuckDB file, materialize every asset with Dagster).
# Needs only uv, or Python 3.11+ with pip (it installs uv with pip when missing, see uv.sh), and git.
#   bash scripts/demo.sh [OUTPUT_DIR]       (default: a new temporary folder)
# The quickstart is read from the generated README's first ```bash block, so the demo runs exactly
# what the README tells a user to run.
set -euo pipefail

template_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output_dir="${1:-$(mktemp -d "${TMPDIR:-/tmp}/sqlmesh-dagster-demo.XXXXXX")}"
mkdir -p "$output_dir"

# shellcheck source=scripts/uv.sh
source "$template_dir/scripts/uv.sh"
find_uv
# The quickstart's `uv` commands run this uv, whatever the project's Python is.
uv() { "$uv_bin" "$@"; }

uv tool run --from "cookiecutter==2.7.1" cookiecutter --no-input "$template_dir" --output-dir "$output_dir"
project_dir="$(find "$output_dir" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
cd "$project_dir"

# The project's Python (.python-version): uv finds it as `uv sync` will, or the demo stops here.
python_version="$(cat .python-version)"
if ! uv python find "$python_version" >/dev/null 2>&1; then
    echo "Python $python_version (the project's .python-version) is not installed: install it with" \
        "\`uv python install $python_version\` or \`pyenv install $python_version\`, then run this again." >&2
    exit 1
fi

# The commands of the README's first ```bash block, without comments and blank lines.
quickstart="$(awk '/^```bash$/ { inside = 1; next } /^```/ && inside { exit } inside' README.md \
    | grep -v -E '^[[:space:]]*(#|$)')"

while IFS= read -r command <&3; do
    printf '$ %s\n' "$command"
    eval "$command" </dev/null
done 3<<<"$quickstart"

# `uv` in the message is the uv on PATH, unless that one does not work in the project (a pyenv shim).
uv_command="uv"
if ! command uv --version >/dev/null 2>&1; then
    uv_command="$uv_bin"
fi
printf '\nDemo project: %s\nOpen the Dagster UI with: cd %s && %s run dg dev\n' \
    "$project_dir" "$project_dir" "$uv_command"
