#!/usr/bin/env bash
# The main job, end to end, on the embedded default: build secr, start
# `secr server` (SQLite under $XDG_DATA_HOME/secr), sign up, create an org
# and a project, set secrets, and `secr run` a program that prints them.
# Everything lives in a temporary HOME that is deleted at the end; your own
# secr login and data are not touched.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> building secr"
CGO_ENABLED=0 go build -o "$work/bin/" ./cmd/secr ./cmd/secr-server   # secr server runs secr-server
export PATH="$work/bin:$PATH" HOME="$work/home"
unset XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME SECR_TOKEN SECR_ENV SECR_API_URL SECR_ORG SECR_PROJECT
mkdir -p "$HOME" "$work/web"

echo "==> secr server (embedded SQLite; port 7700, or a free one if 7700 is taken)"
listen=127.0.0.1:7700
if (exec 3<>/dev/tcp/127.0.0.1/7700) 2>/dev/null; then listen=127.0.0.1:0; fi
secr server --listen "$listen" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
  url=$(sed -n 's/.*msg="secr server listening" url=\([^ ]*\).*/\1/p' "$work/server.log")
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { cat "$work/server.log"; echo "server did not start" >&2; exit 1; }
export SECR_API_URL=$url
echo "    $url, database $(sed -n 's/.* db=\([^ ]*\).*/\1/p' "$work/server.log")"

echo "==> secr signup"
printf '%s\n' 'correct horse battery staple' | secr signup --email ada@example.com --password-stdin >/dev/null
echo "==> secr orgs create acme && secr projects create web --org acme"
secr orgs create acme
secr projects create web --org acme
cd "$work/web"
echo "==> secr init --org acme --project web"
secr init --org acme --project web
echo "==> secr secrets set ..."
secr secrets set DATABASE_URL=postgres://u:p@db/web STRIPE_SECRET_KEY=sk_test_123
secr secrets set --env production DATABASE_URL=postgres://prod
echo "==> secr run -- sh -c 'echo ...'"
out=$(secr run -- sh -c 'echo "DATABASE_URL=$DATABASE_URL STRIPE_SECRET_KEY=$STRIPE_SECRET_KEY"')
echo "    the program saw: $out"
prod=$(secr run --env production -- sh -c 'echo "$DATABASE_URL"')
echo "    with --env production: DATABASE_URL=$prod"
if [ "$out" = "DATABASE_URL=postgres://u:p@db/web STRIPE_SECRET_KEY=sk_test_123" ] && [ "$prod" = "postgres://prod" ]; then
  echo "OK: secr works end to end"
else
  echo "FAILED: unexpected values" >&2
  exit 1
fi
