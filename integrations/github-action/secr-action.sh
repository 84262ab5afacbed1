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
  version=${SECR_ACTION_VERSION:-latest}
  prefix="${RUNNER_TEMP:-/tmp}/secr-cli"
  echo "Installing @secr/cli@$version"
  npm install --global --prefix "$prefix" --no-audit --no-fund "@secr/cli@$version" >/dev/null
  export PATH="$prefix/bin:$PATH"
  echo "$prefix/bin" >> "${GITHUB_PATH:-/dev/null}"
fi

# A service token names its org, project and environment. An input that
# disagrees with them is a mistake (a token pasted for the wrong project, say)
# and fails the step, rather than silently loading the token's secrets.
if [ -n "${SECR_ORG:-}${SECR_PROJECT:-}${SECR_ENV:-}" ]; then
  who=$(env -u SECR_ORG -u SECR_PROJECT -u SECR_ENV secr whoami --json)
  # `secr whoami --json` is indented JSON, one key per line; a string value
  # cannot contain a raw newline or quote, so a line that starts with "org":
  # is the key itself.
  field() { printf '%s\n' "$who" | sed -n "s/^ *\"$1\": *\"\([^\"]*\)\",\{0,1\}\$/\1/p" | head -n 1; }
  scope="$(field org)/$(field project)/$(field environment)"
  # Workflow command data escaped as the runner unescapes it, so that an
  # input cannot end the annotation and start another command.
  esc() { local v=${1//%/%25}; v=${v//$'\r'/%0D}; printf '%s' "${v//$'\n'/%0A}"; }
  failed=
  for pair in "org:SECR_ORG:$(field org)" "project:SECR_PROJECT:$(field project)" "environment:SECR_ENV:$(field environment)"; do
    input=${pair%%:*} rest=${pair#*:}
    var=${rest%%:*} have=${rest#*:}
    if [ -n "${!var:-}" ] && [ "${!var}" != "$have" ]; then
      echo "::error title=secr::the '$input' input is '$(esc "${!var}")', but the token is for $scope: use a token for that $input, or correct the input"
      failed=1
    fi
  done
  [ -z "$failed" ] || exit 1
fi

secr secrets export --format github-actions
