// Package procnet reads the kernel's socket tables under a host root:
// /proc/<pid>/net/tcp, tcp6 and unix (the tables of that process's network
// namespace) and /proc/<pid>/fd (which sockets a process holds).
//
// hardend uses it to find what listens where without running ss or netstat:
// dockerd's own TCP API listeners (HD-DMN-001), the listeners of host-network
// containers (HD-NET-006) and docker-proxy on [::] (HD-NET-002).
//
// Reading and parsing are separate: ParseTCP and ParseUnix are pure functions
// over the file's bytes, table-tested and fuzzed; Listeners, UnixSockets and
// SocketInodes read below a root directory ("/" or "/host"), never a
// hard-coded /proc.
package procnet
