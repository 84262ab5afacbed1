#!/usr/bin/env bash
# The secr GitHub Action's step: find or install secr, then register every
# value with the log masker and append the variables to $GITHUB_ENV.
set -euo pipefail

if [ -z "${SECR_TOKEN:-}" ]; then
  echo "::error title=secr::the 'token' input is empty: pass a service token, e.g. token: \${{ secrets.SECR_TOKEN }}"
  exit 1
fi
# Empty inputs must not override .secr.json or the token's own environment.
for v in SECR_ORG SECR_PROJECT SECR_ENV SECR_API_URL; do
  [ -n "${!v:-}" ] || unset "$v"
done

if ! command -v secr >/dev/null 2>&1; then
  version=${SECR_ACTION_VERSION:-0.1.0}
  prefix="${RUNNER_TEMP:-/tmp}/secr-cli"
  echo "Installing @secr/cli@$version"
  npm install --global --prefix "$prefix" --no-audit --no-fund "@secr/cli@$version" >/dev/null
  export PATH="$prefix/bin:$PATH"
  echo "$prefix/bin" >> "${GITHUB_PATH:-/dev/null}"
fi

secr secrets export --format github-actions
