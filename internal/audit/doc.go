// Package audit runs every area of hardend once against a host and assembles the
// report: the one code path shared by `hardend --check` and the agent's scans.
//
// One scan reads each source once: the Docker API (one list, one inspect per
// container), the rule set (one iptables-save per family), the host's /proc and
// /sys. Independent sources are read concurrently, so a scan costs about as much
// as its slowest source.
package audit
