#!/usr/bin/env bash
# Runs the pinned goreleaser (scripts/tools.sh installs it, and the SBOM
# generator it calls, on first use) from the repository root.
# With --snapshot (make snapshot, the tests):
#   - the version is VERSION's, the release being prepared, as a prerelease:
#     0.2.0-snapshot.g<commit> (GORELEASER_CURRENT_TAG, unless already set);
#   - a clone without a remote (goreleaser then loses the commit and reports
#     "none") gets the project's URL through GIT_CONFIG_* for this process
#     only: nothing is written to .git/config.
set -euo pipefail
cd "$(dirname "$0")/.."
bindir=$(scripts/tools.sh --dir)
scripts/tools.sh goreleaser cyclonedx-gomod >/dev/null
export PATH="$bindir:$PATH"
case " $* " in
  *" --snapshot "*)
    export GORELEASER_CURRENT_TAG=${GORELEASER_CURRENT_TAG:-v$(cat VERSION)}
    if [ -z "$(git remote)" ]; then
      echo "goreleaser.sh: no git remote here; using https://github.com/secr-dev/secr.git for this run" >&2
      export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/secr-dev/secr.git
    fi
    ;;
esac
exec goreleaser "$@"
