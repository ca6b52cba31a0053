#!/usr/bin/env bash
# Builds hardend and runs its main job on this host: a one-shot audit with the
# embedded default policy. Extra arguments go to hardend (e.g. --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -trimpath -ldflags "-X main.version=$(git describe --always --dirty 2>/dev/null || echo dev)" -o bin/hardend ./cmd/hardend
exec ./bin/hardend --check "$@"
