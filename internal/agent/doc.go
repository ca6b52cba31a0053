// Package agent is hardend's long-running service (`hardend` without --check):
// it audits at start, re-audits on every Docker event that can change exposure
// and on a slow timer, logs each finding when it appears and when it clears,
// and in enforce mode keeps the firewall reconciled — at once on every relevant
// event, and within a short drift interval after a flush, a firewall reload or
// a dockerd restart.
//
// Run is the entry point. The loop owns the small interfaces it needs from the
// rest of hardend (Docker, Auditor, Firewall, Notifier), so it is tested with
// fakes, event by event. Run builds the real ones itself when the caller
// leaves them nil, sharing one Docker client: the containers.Client, an
// Auditor running internal/audit (the same scan as --check), and the Enforcer
// over internal/firewall. The Enforcer keeps a cache of the running
// containers so that an event costs one inspect of the container it names,
// re-reads everything only at start, after a reconnect and on the resync
// timer, and writes only when its plan changed or drift was seen; it drops
// the ports a container asked for from its create event on, before Docker
// publishes them (see Enforcer).
//
// Test-only: the environment variable HARDEND_TEST_FAILPOINT=between-families
// (FailpointEnv) makes the agent block between its IPv4 and IPv6 writes so
// that a test can SIGKILL it there (FAULTS.md 14). Production never sets it.
//
// Concurrency: one goroutine follows Docker (ping, subscribe, stream, resume
// with an overlapping `since`, health pings); one runs audits, one runs every
// firewall operation (so reconcile, drift repair and reset never interleave);
// the main loop owns the findings state, signals, timers, systemd
// notifications and the policy. None of them waits for another's work and none
// waits for logging (internal/logship never blocks), so a slow audit never
// delays a reconcile and a dead syslog server delays nothing.
package agent
