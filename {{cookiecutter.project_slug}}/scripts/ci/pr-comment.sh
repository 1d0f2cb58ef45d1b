#!/usr/bin/env bash
# Posts the data diff (the Markdown pr-diff.sh wrote to PR_COMMENT_FILE) as the pull request's one
# data diff comment: the first push creates it, every later push updates it in place. The comment
# is found again by the marker on its first line, among the comments of COMMENT_AUTHOR (default
# github-actions[bot], the author GITHUB_TOKEN writes as), so nobody else's comment is edited.
# Needs gh and jq (both on GitHub's runners), GH_TOKEN allowed to write pull requests, GH_REPO
# (owner/name) and GITHUB_PR_NUMBER. Usage: pr-comment.sh <markdown file>
# shellcheck source=scripts/ci/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

comment_file="${1:?usage: pr-comment.sh <markdown file>}"
require_variables GH_TOKEN GH_REPO GITHUB_PR_NUMBER
if [[ ! -s "${comment_file}" ]]; then
    echo "No data diff in ${comment_file}: run pr-diff.sh with PR_COMMENT_FILE set first." >&2
    exit 1
fi
marker='<!-- sqlmesh-dagster:pr-diff -->'
author="${COMMENT_AUTHOR:-github-actions[bot]}"

# --paginate prints one JSON list per page: slurp them, keep the first comment that matches.
existing="$(gh api --paginate "repos/${GH_REPO}/issues/${GITHUB_PR_NUMBER}/comments" |
    jq -rs --arg marker "${marker}" --arg author "${author}" \
        '[.[][] | select(.user.login == $author and (.body | startswith($marker))) | .id]
         | first // empty')"
payload="$(jq -n --arg marker "${marker}" --rawfile body "${comment_file}" \
    '{body: ($marker + "\n" + $body)}')"

if [[ -n "${existing}" ]]; then
    log "Updating the data diff comment ${existing} of pull request ${GITHUB_PR_NUMBER}"
    gh api --method PATCH "repos/${GH_REPO}/issues/comments/${existing}" --input - \
        <<<"${payload}" >/dev/null
else
    log "Commenting the data diff on pull request ${GITHUB_PR_NUMBER}"
    gh api --method POST "repos/${GH_REPO}/issues/${GITHUB_PR_NUMBER}/comments" --input - \
        <<<"${payload}" >/dev/null
fi
