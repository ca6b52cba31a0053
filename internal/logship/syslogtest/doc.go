// Package syslogtest runs a real rsyslogd (Debian package rsyslog) for tests:
// listening on loopback inside a test network namespace (TESTING.md), writing
// every message it receives to a file, one per line, and a strict RFC 5424
// parser to read those lines back. Used by internal/logship's and
// internal/agent's tests; production code never imports it.
package syslogtest
