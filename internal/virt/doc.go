// Package virt owns hardend's virtualization detector and the HD-VIRT checks.
//
// The detector is a faithful reimplementation of systemd-detect-virt as shipped in
// systemd 252 (Debian 12, 252.38-1~deb12u1): the same evidence, read in the same
// order, with the same precedence and the same quirks (which errors abort detection
// and which are ignored, how a first line is cut, signed SMBIOS bytes on x86...), so
// that Detect answers exactly what `systemd-detect-virt`, `--vm` and `--container`
// print on the same evidence. Every host file is read below Source.Root, so the
// detector runs unchanged on "/", on a host tree mounted at /host, and on captured
// fixture trees; CPUID is executed on this machine or injected for captures.
//
// On top of systemd's answer, Detection records what could not be read, so that the
// checks never pass on evidence they could not see:
//   - HD-VIRT-001: the Docker host is a shared-kernel OS container (critical);
//   - HD-VIRT-002: virtualization could not be decided (info);
//   - HD-VIRT-003: hardend audits an application container's filesystem instead of
//     the host's (medium).
//
// Layout: one file per evidence source (cpuinfo.go, environ.go, dmi.go, xen.go,
// devicetree.go, procfield.go, osrelease.go, cpuid.go, cgroupns.go), each a pure
// parseX([]byte) step plus the read step; vm.go and container.go hold systemd's
// detect_vm() and detect_container() control flow; checks.go the HD-VIRT checks.
package virt
