#!/usr/bin/env bash
# Checks that the repository's GitHub settings are the ones the workflows rely on (environments and
# their reviewers and branches, no repository-level secrets, `main` protected with the checks, a
# read-only default token, approval for fork pull requests): one PASS or FAIL line per rule, with
# the fix; exits 1 if any rule fails (scripts/ci/github_settings.py). Needs GH_TOKEN (read access to
# the repository's administration, environments, secrets and actions settings) and GH_REPO
# (owner/name); gh and python3 (both on GitHub's runners). The weekly workflow
# .github/workflows/github-settings.yml runs it; so can you.
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_variables GH_TOKEN GH_REPO
log "GitHub settings of ${GH_REPO}"
python3 scripts/ci/github_settings.py
