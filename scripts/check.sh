#!/usr/bin/env bash
# Builds hardend and runs its main job on this host: a one-shot audit
# (`hardend --check`) with the embedded default policy. Extra arguments go to
# hardend, e.g. `scripts/check.sh --format json` or `--fail-on critical`.
# Exit status is hardend's: 0 nothing at/above the threshold failed, 1 something
# did, 2 it could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null; then
	echo "check.sh: Go 1.26 must be on PATH (e.g. /usr/local/go/bin)" >&2
	exit 2
fi
version=$(sed -n 's/^## \[\([0-9][0-9.]*\)\].*/\1/p' CHANGELOG.md | head -n1)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-X main.version=${version:-dev} -X main.commit=${commit}" \
	-o bin/hardend ./cmd/hardend
exec ./bin/hardend --check "$@"
