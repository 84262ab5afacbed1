#!/usr/bin/env bash
# Lays out and packs every npm package with one version number:
#   @secr/cli (the launcher), @secr/cli-<platform> (one per platform, holding
#   the CGO_ENABLED=0 binary), @secr/vercel and @secr/netlify-plugin.
# Usage: integrations/npm/build.sh [PLATFORM...]   (default: all five)
# PLATFORM is one of linux-x64 linux-arm64 darwin-x64 darwin-arm64 win32-x64.
# Output: one `npm pack` tarball per package in dist/npm/.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${SECR_VERSION:-$(cat VERSION)}
platforms=("$@")
[ ${#platforms[@]} -gt 0 ] || platforms=(linux-x64 linux-arm64 darwin-x64 darwin-arm64 win32-x64)
out=dist/npm
build=$out/build
rm -rf "$build" && mkdir -p "$build"
rm -f "$out"/*.tgz

for p in "${platforms[@]}"; do
  case $p in
    linux-x64) goos=linux goarch=amd64 os=linux cpu=x64 ;;
    linux-arm64) goos=linux goarch=arm64 os=linux cpu=arm64 ;;
    darwin-x64) goos=darwin goarch=amd64 os=darwin cpu=x64 ;;
    darwin-arm64) goos=darwin goarch=arm64 os=darwin cpu=arm64 ;;
    win32-x64) goos=windows goarch=amd64 os=win32 cpu=x64 ;;
    *) echo "unknown platform $p" >&2; exit 2 ;;
  esac
  exe=secr; [ "$goos" = windows ] && exe=secr.exe
  dir=$build/cli-$p
  mkdir -p "$dir/bin"
  echo "building $p" >&2
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath \
    -ldflags "-s -w -X github.com/secr-dev/secr/internal/cli.Version=$version" -o "$dir/bin/$exe" ./cmd/secr
  cat > "$dir/package.json" <<JSON
{
  "name": "@secr/cli-$p",
  "version": "$version",
  "description": "The secr binary for $os/$cpu (installed by @secr/cli)",
  "license": "Apache-2.0",
  "homepage": "https://github.com/secr-dev/secr",
  "os": ["$os"],
  "cpu": ["$cpu"],
  "files": ["bin"],
  "preferUnplugged": true
}
JSON
done

# The JavaScript packages, with every version set to the one number.
for pkg in cli vercel netlify-plugin; do
  src=integrations/npm/$pkg
  [ "$pkg" = cli ] || src=integrations/${pkg%-plugin}
  cp -r "$src" "$build/$pkg"
  rm -rf "$build/$pkg/node_modules" "$build/$pkg/test"
  node -e '
    const fs = require("fs"), file = process.argv[1], v = process.argv[2];
    const p = JSON.parse(fs.readFileSync(file, "utf8"));
    p.version = v;
    for (const deps of [p.dependencies, p.optionalDependencies]) {
      for (const name of Object.keys(deps || {})) if (name.startsWith("@secr/")) deps[name] = v;
    }
    fs.writeFileSync(file, JSON.stringify(p, null, 2) + "\n");
  ' "$build/$pkg/package.json" "$version"
done

for dir in "$build"/*/; do
  (cd "$dir" && npm pack --silent --pack-destination "$OLDPWD/$out" >/dev/null)
done
ls "$out"/*.tgz
