#!/usr/bin/env bash
# Runs every hardend test on a fresh Debian 12 machine, as root.
#
# It installs what the real-kernel tests need (TESTING.md): docker.io (dockerd
# 20.10), iptables (both the nft and legacy variants), busybox-static (the test
# image), rsyslog (the syslog receiver), conntrack, iproute2/util-linux (network
# namespaces, nsenter, flock, setpriv), procps, groff-base (the man page) and
# systemd's analyzer (the unit's security score).
# Docker's own service is never started: every test starts its own dockerd inside
# a network namespace it creates and removes, so this machine's firewall is never
# touched. Then gofmt, go vet and `go test ./...`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null; then
	echo "test.sh: Go 1.26 must be on PATH (e.g. /usr/local/go/bin)" >&2
	exit 1
fi

need=()
want() { command -v "$1" >/dev/null || need+=("$2"); }
want dockerd docker.io
want iptables-save iptables
want iptables-legacy-save iptables
want nsenter util-linux
want flock util-linux
want ip iproute2
want rsyslogd rsyslog
want conntrack conntrack
want nft nftables
want systemd-analyze systemd
want dpkg-deb dpkg
want setpriv util-linux
want groff groff-base
[ -x /bin/busybox ] || need+=(busybox-static)
# `kill` is also a shell builtin: look for the program the .deb depends on.
[ -x /bin/kill ] || [ -x /usr/bin/kill ] || need+=(procps)
# rsyslog's TLS driver for the syslog-over-TLS test.
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || [ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so ] || need+=(rsyslog-gnutls)

if [ "${#need[@]}" -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "test.sh: missing ${need[*]}; run as root to install them (root-only tests will skip)" >&2
	else
		# Keep apt from starting docker.service (and containerd, rsyslog) in this
		# machine's own network namespace, where dockerd would rewrite the firewall.
		added_policy=
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			added_policy=1
		fi
		trap '[ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
		export DEBIAN_FRONTEND=noninteractive
		echo "== apt-get install ${need[*]}"
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	fi
fi

echo "== gofmt / go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

echo "== go test"
# -count=1: never a cached pass. Root-only tests (network namespaces, dockerd,
# iptables, rsyslog, dpkg) run here because this script runs as root.
go test -count=1 -timeout 30m ./...
