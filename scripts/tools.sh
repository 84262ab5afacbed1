#!/usr/bin/env bash
# The release tools, pinned here and nowhere else. Prints the path of each
# named tool, installing it with `go install` (through the Go module proxy)
# into $SECR_TOOLS/bin (default ~/.cache/secr-tools/bin) the first time, or
# when its pin below changes. Building goreleaser takes several minutes on
# two cores, so it is done once per machine, outside the repository.
#   scripts/tools.sh goreleaser actionlint
#   PATH="$(scripts/tools.sh --dir):$PATH"     # the directory, for tools that call each other
set -euo pipefail

declare -A pin=(
  [goreleaser]=github.com/goreleaser/goreleaser/v2@v2.15.1
  [actionlint]=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
  [cyclonedx-gomod]=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
)
dir=${SECR_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/secr-tools}/bin
mkdir -p "$dir"

for tool in "$@"; do
  if [ "$tool" = --dir ]; then
    echo "$dir"
    continue
  fi
  spec=${pin[$tool]:-}
  if [ -z "$spec" ]; then
    echo "tools.sh: unknown tool $tool (known: ${!pin[*]})" >&2
    exit 2
  fi
  bin=$dir/$tool
  if [ ! -x "$bin" ] || [ "$(cat "$bin.pin" 2>/dev/null)" != "$spec" ]; then
    echo "tools.sh: installing $spec into $dir (once)" >&2
    tmp=$(mktemp -d)
    # -buildvcs=false: the module cache has no VCS metadata to stamp anyway.
    if ! GOBIN=$tmp GOFLAGS=-buildvcs=false go install "$spec" >&2; then
      rm -rf "$tmp"
      echo "tools.sh: could not install $spec" >&2
      exit 1
    fi
    mv "$tmp/$tool" "$bin"
    rm -rf "$tmp"
    echo "$spec" > "$bin.pin"
  fi
  echo "$bin"
done
