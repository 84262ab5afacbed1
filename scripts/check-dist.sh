#!/usr/bin/env bash
# check-dist.sh [DIST]: checks that a snapshot or release left every artifact
# in DIST (default dist) and lists them: archives for the five platforms,
# checksums.txt covering them, an SBOM per binary, .deb/.rpm/.apk for
# amd64 and arm64, the Homebrew formula, the image tarballs, the npm
# tarballs. `make snapshot` runs it last.
set -euo pipefail
dist=${1:-dist}
v=$(node -p 'require(process.argv[1]).version' "$(cd "$dist" && pwd)/metadata.json")
missing=0
need() {
  if [ ! -s "$dist/$1" ]; then
    echo "check-dist.sh: missing $dist/$1" >&2
    missing=1
  else
    printf '%10s  %s\n' "$(du -h "$dist/$1" | cut -f1)" "$1"
  fi
}
for p in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64; do need "secr_${v}_$p.cdx.json"; need "secr-server_${v}_$p.cdx.json"; done
for p in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64; do need "secr_${v}_$p.tar.gz"; done
need "secr_${v}_windows_amd64.zip"
# Every archive holds both programs: secr server runs secr-server beside secr.
for p in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64; do
  f="$dist/secr_${v}_$p.tar.gz"
  [ -f "$f" ] && for b in secr secr-server; do
    tar -tzf "$f" | grep -qx "$b" || { echo "check-dist.sh: $(basename "$f") holds no $b" >&2; missing=1; }
  done
done
need checksums.txt
for f in "$dist"/secr_"$v"_*.tar.gz "$dist"/secr_"$v"_*.zip; do
  grep -q " $(basename "$f")\$" "$dist/checksums.txt" || { echo "check-dist.sh: $(basename "$f") is not in checksums.txt" >&2; missing=1; }
done
for pattern in "*_amd64.deb" "*_arm64.deb" "*.x86_64.rpm" "*.aarch64.rpm" "*_x86_64.apk" "*_aarch64.apk"; do
  # shellcheck disable=SC2086
  f=$(cd "$dist" && ls $pattern 2>/dev/null | head -n 1) || true
  if [ -z "$f" ]; then echo "check-dist.sh: no $pattern" >&2; missing=1; else need "$f"; fi
done
need homebrew/Formula/secr.rb
need "secr_${v}_oci.tar"; need "secr_${v}_linux_amd64.docker.tar"; need "secr_${v}_linux_arm64.docker.tar"
for p in cli cli-linux-x64 cli-linux-arm64 cli-darwin-x64 cli-darwin-arm64 cli-win32-x64 vercel netlify-plugin; do
  need "npm/secr-$p-$v.tgz"
done
if [ "$missing" != 0 ]; then
  exit 1
fi
echo "check-dist.sh: $dist holds every artifact of secr $v"
