#!/usr/bin/env bash
# Runs every hardend test on a fresh Debian 12 machine, as root: installs what the
# real-engine tests need (docker.io, iptables, busybox-static), then `go test ./...`.
# The Docker package's own service is never started: tests start their own dockerd
# inside a network namespace they create and remove (TESTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v iptables-save >/dev/null || need+=(iptables)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v nsenter >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
if [ "${#need[@]}" -gt 0 ] && [ "$(id -u)" = 0 ]; then
	# Keep apt from starting docker.service in this machine's own network namespace,
	# where dockerd would rewrite the host firewall.
	added_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
		added_policy=1
	fi
	trap '[ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== gofmt / go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

echo "== go test"
# -count=1: never a cached pass; -v would drown the summary, so only failures print.
go test -count=1 -timeout 20m ./...
