#!/usr/bin/env bash
# sync-action.sh VERSION DIR: lays out the content of the secr-dev/secr-action
# repository in DIR (a checkout of it; its .git is kept) from
# integrations/github-action, with VERSION (v-prefix optional) as the default
# @secr/cli version the action installs. The release workflow commits the
# result and moves the action's v1 tag.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 VERSION DIR" >&2; exit 2; }
version=${1#v}
dir=$2
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "sync-action.sh: $1 is not a release version" >&2
  exit 2
fi
src=$(cd "$(dirname "$0")/../integrations/github-action" && pwd)
mkdir -p "$dir"
find "$dir" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
cp "$src/action.yml" "$src/secr-action.sh" "$src/README.md" "$dir/"
sed -i "s|^\(    default: \)\"[^\"]*\" # release version:.*\$|\1\"$version\"|" "$dir/action.yml"
if ! grep -q "^    default: \"$version\"\$" "$dir/action.yml"; then
  echo "sync-action.sh: the version input's default line was not found in action.yml" >&2
  exit 1
fi
echo "sync-action.sh: $dir holds the action with @secr/cli $version as its default" >&2
