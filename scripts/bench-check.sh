#!/usr/bin/env bash
# Container audit benchmark (run by hand as root, never in CI): starts a test
# dockerd in its own network namespace (internal/testenv), grows it to N = 10,
# 100, 500 running containers — a mix of the hardening guide's patterns, each
# publishing a port — and reports for each N the wall time, CPU time
# (user+sys) and peak RSS of `hardend --check` as a child process, the same for
# an in-process Collect+Checks, and the cost per container.
#
#   sudo scripts/bench-check.sh                 # N = 10 100 500, 5 runs each
#   sudo N="10 1000" RUNS=3 scripts/bench-check.sh
#
# Everything it creates (namespace, dockerd, containers, files) is removed when
# it ends, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "bench-check: needs root (network namespaces, dockerd)" >&2
	exit 2
fi
HARDEND_BENCH=1 HARDEND_BENCH_N="${N:-10 100 500}" HARDEND_BENCH_RUNS="${RUNS:-5}" \
	exec go test -count=1 -run '^TestBenchCheck$' -v -timeout 60m ./internal/containers
