// Package logship ships hardend's log records — above all its findings — to where
// a fleet collects them: stderr (which systemd hands to the journal), the local
// syslog socket (/dev/log), and remote syslog over UDP, TCP (octet counting,
// RFC 6587) and TLS (RFC 5425), as RFC 5424 lines whose structured data carries
// the check ID, severity, container and port of each finding.
//
// It plugs into logrus as a hook. Logging never blocks the caller: every target
// has a bounded queue drained by its own goroutine, a full queue drops the record
// and counts it, a dead or stalled receiver is dialled again with backoff, and
// while a syslog target is down its records fall back to stderr (the journal) —
// said once per outage, not once per message. Stats exposes the counters for the
// metrics endpoint.
//
// The RFC 5424 and RFC 3164 formatters are pure functions (Message.Append) so
// they are table-tested and fuzzed apart from any socket.
package logship
