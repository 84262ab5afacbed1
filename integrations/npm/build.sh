#!/usr/bin/env bash
# Lays out and packs every npm package from the binaries GoReleaser already
# built (this script compiles nothing):
#   @secr/cli (the launcher), @secr/cli-<platform> (one per platform, holding
#   the CGO_ENABLED=0 binary), @secr/vercel and @secr/netlify-plugin.
# Usage: integrations/npm/build.sh [DIST]   (default: dist, as `make snapshot`
# or `goreleaser release` leave it). Every package gets GoReleaser's version
# (DIST/metadata.json): the tag without its "v" on a release, the snapshot
# version otherwise. A platform whose binary is not in DIST/artifacts.json
# (a --single-target build) gets no package; the launcher still lists all five.
# Output: one `npm pack` tarball per package in DIST/npm/.
set -euo pipefail
cd "$(dirname "$0")/../.."
dist=${1:-dist}
for f in metadata.json artifacts.json; do
  if [ ! -f "$dist/$f" ]; then
    echo "build.sh: no $dist/$f: run 'make snapshot' (or goreleaser) first" >&2
    exit 1
  fi
done
mkdir -p "$dist/npm"
out=$(cd "$dist/npm" && pwd)
build=$out/build
rm -rf "$build" && mkdir -p "$build"
rm -f "$out"/*.tgz

# One line per platform binary: npm-platform os cpu path.
node - "$dist" "$build" <<'JS'
const fs = require('fs'), path = require('path');
const [dist, build] = process.argv.slice(2);
const meta = JSON.parse(fs.readFileSync(path.join(dist, 'metadata.json'), 'utf8'));
const artifacts = JSON.parse(fs.readFileSync(path.join(dist, 'artifacts.json'), 'utf8'));
const version = meta.version;
const npmOS = { linux: 'linux', darwin: 'darwin', windows: 'win32' };
const npmCPU = { amd64: 'x64', arm64: 'arm64' };
const repository = (dir) => ({ type: 'git', url: 'git+https://github.com/secr-dev/secr.git', directory: dir });
fs.writeFileSync(path.join(build, 'VERSION'), version + '\n');
for (const a of artifacts) {
  if (a.type !== 'Binary' || !npmOS[a.goos] || !npmCPU[a.goarch]) continue;
  // The CLI only: secr-server (the server) ships in the archives and the image.
  if (a.name.replace(/\.exe$/, '') !== 'secr') continue;
  const os = npmOS[a.goos], cpu = npmCPU[a.goarch], p = `${os}-${cpu}`;
  const dir = path.join(build, `cli-${p}`);
  const exe = a.goos === 'windows' ? 'secr.exe' : 'secr';
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(a.path, path.join(dir, 'bin', exe));
  fs.chmodSync(path.join(dir, 'bin', exe), 0o755);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({
    name: `@secr/cli-${p}`,
    version,
    description: `The secr binary for ${os}/${cpu} (installed by @secr/cli)`,
    license: 'Apache-2.0',
    homepage: 'https://github.com/secr-dev/secr',
    repository: repository('integrations/npm'),
    os: [os],
    cpu: [cpu],
    files: ['bin'],
    preferUnplugged: true,
    publishConfig: { access: 'public' },
  }, null, 2) + '\n');
  console.error(`build.sh: @secr/cli-${p}@${version} from ${a.path}`);
}
JS
version=$(cat "$build/VERSION") && rm "$build/VERSION"

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
  (cd "$dir" && npm pack --silent --pack-destination "$out" >/dev/null)
done
ls "$dist"/npm/*.tgz
