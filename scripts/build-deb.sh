#!/usr/bin/env bash
# Builds the hardend Debian package from this repository in one command:
#
#   scripts/build-deb.sh            -> dist/hardend_<version>_amd64.deb (path printed last)
#
# HARDEND_DIST=DIR puts the package (and its staging directory) in DIR instead of
# dist/ (the packaging tests build into a temporary directory).
#
# A static binary (CGO_ENABLED=0, -trimpath) with the version and commit stamped
# in through -ldflags, the man page and changelog gzipped, then nfpm (run as a Go
# module at a pinned version, so it never enters go.mod) packs packaging/nfpm.yaml.
# The first run downloads and builds nfpm (~35 s); later runs take a few seconds.
#
# Version: the newest "## [X.Y.Z]" heading of CHANGELOG.md. A build of the commit
# tagged vX.Y.Z from a clean tree is X.Y.Z; anything else is
# X.Y.Z~dev.<commit time>.<short commit>[.dirty], which dpkg orders before X.Y.Z
# and after every earlier dev build. HARDEND_VERSION=... overrides it.
set -euo pipefail
cd "$(dirname "$0")/.."

nfpm=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

base=$(sed -n 's/^## \[\([0-9][0-9.]*\)\].*/\1/p' CHANGELOG.md | head -n1)
if [ -z "$base" ]; then
	echo "build-deb: no '## [X.Y.Z]' heading in CHANGELOG.md" >&2
	exit 1
fi
commit=unknown stamp=$(date -u +%Y%m%d%H%M%S) epoch=$(date +%s) dirty=
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	commit=$(git rev-parse HEAD)
	stamp=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S)
	epoch=$(git log -1 --format=%ct)
	if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		dirty=1
	fi
fi
if [ -z "${HARDEND_VERSION:-}" ]; then
	if [ -z "$dirty" ] && [ "$commit" != unknown ] &&
		[ "$(git tag --points-at HEAD | grep -Fx "v$base" || true)" = "v$base" ]; then
		HARDEND_VERSION=$base
	else
		HARDEND_VERSION="$base~dev.$stamp.${commit:0:7}${dirty:+.dirty}"
	fi
fi
export HARDEND_VERSION
export SOURCE_DATE_EPOCH=$epoch # reproducible mtimes inside the package

dist=${HARDEND_DIST:-dist}
stage=$dist/stage
export HARDEND_STAGE=$stage # nfpm.yaml's source paths
rm -rf "$stage"
mkdir -p "$stage"

echo "build-deb: hardend $HARDEND_VERSION (commit $commit${dirty:+, uncommitted changes})" >&2
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath \
	-ldflags "-s -w -X main.version=$HARDEND_VERSION -X main.commit=$commit${dirty:+-dirty}" \
	-o "$stage/hardend" ./cmd/hardend
gzip -9n <docs/hardend.8 >"$stage/hardend.8.gz"
gzip -9n <CHANGELOG.md >"$stage/changelog.gz"

deb="$dist/hardend_${HARDEND_VERSION}_amd64.deb"
rm -f "$deb"
go run "$nfpm" pkg --packager deb --config packaging/nfpm.yaml --target "$deb" >&2
echo "$deb"
