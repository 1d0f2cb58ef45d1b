# Sourced by demo.sh and test.sh: `find_uv` sets `uv_bin` to the full path of a uv that works in
# any folder. The uv on PATH is used when it works; a pyenv shim is resolved to its file, because
# inside a project whose .python-version names another Python the shim looks for uv there and
# fails. Without a uv, pip installs one into `python3`.

find_uv() {
    uv_bin="$(command -v uv || true)"
    if [ -n "$uv_bin" ] && command -v pyenv >/dev/null 2>&1 \
        && [ "$uv_bin" = "$(pyenv root)/shims/uv" ]; then
        uv_bin="$(pyenv which uv 2>/dev/null || true)"
    fi
    if [ -n "$uv_bin" ] && "$uv_bin" --version >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        echo "uv is not installed and there is no python3 to install it with pip: install uv" \
            "(https://docs.astral.sh/uv/getting-started/installation/), then run this again." >&2
        return 1
    fi
    if ! python3 -c 'import uv' 2>/dev/null && ! python3 -m pip install --quiet uv; then
        echo "uv is not installed and pip cannot install it into $(command -v python3):" \
            "install uv another way (pipx install uv, or uv's standalone installer)," \
            "then run this again." >&2
        return 1
    fi
    uv_bin="$(python3 -c 'import uv; print(uv.find_uv_bin())')"
}
