#!/usr/bin/env bash
# Regenerates clients/typescript/src/gen/ from protos/ (plus the vendored
# google/rpc status and error-detail protos) with @bufbuild/protoc-gen-es.
#
# Needs node/npm (installs the locked devDependencies with `npm ci` when
# node_modules is missing or stale; that is the only network access) and the buf CLI:
# $BUF, else the repository's .venv/bin/buf (buf-bin wheel), else buf on PATH.
#
#   ./generate.sh          regenerate src/gen/ in place
#   ./generate.sh --check  regenerate into a scratch folder and fail if src/gen/ differs
set -euo pipefail

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ -n "${BUF:-}" ]; then
  buf="$BUF"
elif [ -x "$root/.venv/bin/buf" ]; then
  buf="$root/.venv/bin/buf"
elif command -v buf >/dev/null 2>&1; then
  buf="$(command -v buf)"
else
  echo "generate.sh: buf CLI not found (run 'make install' or set BUF)" >&2
  exit 1
fi

# npm records what it installed in node_modules/.package-lock.json: reinstall
# when that is missing or older than the lockfile.
if [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

generate() {  # $1: base directory the template's `out` is relative to
  (cd "$root" && "$buf" generate \
    --template clients/typescript/buf.gen.yaml \
    --output "$1" \
    --path protos/learning \
    --path third_party/googleapis/google/rpc/status.proto \
    --path third_party/googleapis/google/rpc/error_details.proto)
}

gen=clients/typescript/src/gen
if $check; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  generate "$tmp"
  if diff -r "$tmp/$gen" "$root/$gen" >/dev/null; then
    echo "$gen is up to date"
  else
    diff -r "$tmp/$gen" "$root/$gen" | head -20
    echo "$gen is stale: run 'make generate' (or clients/typescript/generate.sh) and commit the result" >&2
    exit 1
  fi
else
  generate "$root"
  echo "generated $(find "$root/$gen" -name '*.ts' | wc -l | tr -d ' ') files in $gen"
fi
