// Package firewall answers "which container ports can the outside world actually
// reach right now?" from the kernel's real rules, and closes what policy says must
// be closed, durably (issue 4, CHECKS.md HD-NET-*, FAULTS.md).
//
// The pieces, from data to action:
//   - iptsave (sub-package): parses iptables-save / ip6tables-save output.
//   - types.go, classify.go: what the caller supplies (workloads, networks,
//     interfaces, the daemon's firewall settings) and what policy makes of a port.
//   - the exposure analysis: effective reachability per published port and
//     address family, and the HD-NET checks built on it. Pure.
//   - the remediation: a plan of hardend's own chains (intent → rules), applied
//     atomically with iptables-restore --noflush, read back and verified;
//     conntrack entries of newly blocked ports deleted; drift detection; reset.
//     The backend is the only code in hardend that runs programs.
package firewall
