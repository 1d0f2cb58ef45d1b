#!/usr/bin/env bash
# Demo: render the template with its defaults and run the generated project's quickstart end to end
# (install, apply the SQLMesh models to a local DuckDB file, materialize every asset with Dagster).
# Needs only Python 3.11+ and git; installs uv with pip when it is missing.
#   bash scripts/demo.sh [OUTPUT_DIR]       (default: a new temporary folder)
# The quickstart is read from the generated README's first ```bash block, so the demo runs exactly
# what the README tells a user to run.
set -euo pipefail

template_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output_dir="${1:-$(mktemp -d "${TMPDIR:-/tmp}/sqlmesh-dagster-demo.XXXXXX")}"
mkdir -p "$output_dir"

if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
    # pip may put the uv script in a folder that is not on PATH; `python3 -m uv` always works.
    uv() { python3 -m uv "$@"; }
fi

uv tool run --from "cookiecutter==2.7.1" cookiecutter --no-input "$template_dir" --output-dir "$output_dir"
project_dir="$(find "$output_dir" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
cd "$project_dir"

quickstart="$(python3 - <<'PY'
import re, pathlib
text = pathlib.Path("README.md").read_text(encoding="utf-8")
block = re.search(r"^```bash\n(.*?)^```", text, re.MULTILINE | re.DOTALL).group(1)
print("\n".join(l for l in block.splitlines() if l.strip() and not l.lstrip().startswith("#")))
PY
)"

while IFS= read -r command <&3; do
    printf '$ %s\n' "$command"
    eval "$command" </dev/null
done 3<<<"$quickstart"

printf '\nDemo project: %s\nOpen the Dagster UI with: cd %s && uv run dg dev\n' "$project_dir" "$project_dir"
