package containers

import (
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// CapSet is a set of Linux capabilities as a bit mask, bit n = capability n
// (include/uapi/linux/capability.h), the same layout as CapEff/CapBnd in
// /proc/PID/status.
type CapSet uint64

// capNames maps capability numbers to names without the CAP_ prefix, as Docker's
// --cap-add/--cap-drop spell them.
var capNames = []string{
	0: "CHOWN", 1: "DAC_OVERRIDE", 2: "DAC_READ_SEARCH", 3: "FOWNER", 4: "FSETID", 5: "KILL",
	6: "SETGID", 7: "SETUID", 8: "SETPCAP", 9: "LINUX_IMMUTABLE", 10: "NET_BIND_SERVICE",
	11: "NET_BROADCAST", 12: "NET_ADMIN", 13: "NET_RAW", 14: "IPC_LOCK", 15: "IPC_OWNER",
	16: "SYS_MODULE", 17: "SYS_RAWIO", 18: "SYS_CHROOT", 19: "SYS_PTRACE", 20: "SYS_PACCT",
	21: "SYS_ADMIN", 22: "SYS_BOOT", 23: "SYS_NICE", 24: "SYS_RESOURCE", 25: "SYS_TIME",
	26: "SYS_TTY_CONFIG", 27: "MKNOD", 28: "LEASE", 29: "AUDIT_WRITE", 30: "AUDIT_CONTROL",
	31: "SETFCAP", 32: "MAC_OVERRIDE", 33: "MAC_ADMIN", 34: "SYSLOG", 35: "WAKE_ALARM",
	36: "BLOCK_SUSPEND", 37: "AUDIT_READ", 38: "PERFMON", 39: "BPF", 40: "CHECKPOINT_RESTORE",
}

// lastCap is the highest capability hardend knows by name.
const lastCap = 40

// dockerDefaultCaps is the set every container gets unless told otherwise. It
// is the same 14 capabilities from Docker 20.10 to 29 (moby
// daemon/pkg/oci/caps/defaults.go, formerly oci/caps/defaults.go): dropping
// NET_RAW from it has been discussed (moby/moby#41886) but not done.
var dockerDefaultCaps = capSetOf("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW",
	"SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")

// dangerousCaps are the capabilities HD-CTR-005 fails on: each one is a known
// path out of the container or to the host's kernel.
var dangerousCaps = capSetOf("SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "SYS_TIME",
	"NET_ADMIN", "DAC_READ_SEARCH", "SYS_BOOT", "BPF", "PERFMON")

func capSetOf(names ...string) CapSet {
	var s CapSet
	for _, n := range names {
		if i, ok := capNumber(n); ok {
			s |= 1 << i
		}
	}
	return s
}

// allCaps returns every capability up to last (the kernel's cap_last_cap).
func allCaps(last int) CapSet {
	if last < 0 || last > 63 {
		last = lastCap
	}
	return CapSet(uint64(1)<<(last+1) - 1)
}

// normalizeCap turns "cap_sys_admin", "CAP_SYS_ADMIN" or " sys_admin" into
// "SYS_ADMIN", as dockerd does (upper case, CAP_ prefix optional). "ALL" stays.
func normalizeCap(name string) string {
	n := strings.ToUpper(strings.TrimSpace(name))
	return strings.TrimPrefix(n, "CAP_")
}

// capNumber returns the number of a capability name in any spelling.
func capNumber(name string) (int, bool) {
	n := normalizeCap(name)
	for i, c := range capNames {
		if c == n {
			return i, true
		}
	}
	return 0, false
}

// Has reports whether the set holds capability name.
func (s CapSet) Has(name string) bool {
	i, ok := capNumber(name)
	return ok && s&(1<<i) != 0
}

// Names lists the set's capabilities by name in number order; unknown bits
// appear as "CAP_<n>".
func (s CapSet) Names() []string {
	var out []string
	for v := uint64(s); v != 0; v &= v - 1 {
		i := bits.TrailingZeros64(v)
		if i < len(capNames) && capNames[i] != "" {
			out = append(out, capNames[i])
		} else {
			out = append(out, "CAP_"+strconv.Itoa(i))
		}
	}
	return out
}

// Len is the number of capabilities in the set.
func (s CapSet) Len() int { return bits.OnesCount64(uint64(s)) }

func (s CapSet) String() string {
	if s == 0 {
		return "none"
	}
	return strings.Join(s.Names(), ", ")
}

// capRequest is what a container asked for: its CapAdd/CapDrop lists,
// normalised, and whether it is privileged.
type capRequest struct {
	Add, Drop  []string // normalised names, "ALL" kept
	Unknown    []string // names hardend does not know (a newer kernel's)
	Privileged bool
}

func newCapRequest(add, drop []string, privileged bool) capRequest {
	r := capRequest{Privileged: privileged}
	norm := func(in []string) []string {
		var out []string
		for _, c := range in {
			n := normalizeCap(c)
			if n == "" {
				continue
			}
			if _, ok := capNumber(n); !ok && n != "ALL" {
				r.Unknown = append(r.Unknown, n)
				continue
			}
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		return out
	}
	r.Add, r.Drop = norm(add), norm(drop)
	return r
}

// effective computes the capabilities the container's processes are bounded by,
// exactly as dockerd does (TweakCapabilities, moby daemon/pkg/oci/caps/utils.go,
// the same logic since 20.10): privileged gets all; CapAdd ALL gets all minus
// CapDrop; CapDrop ALL gets only CapAdd; otherwise the default set minus CapDrop
// plus CapAdd. all is every capability the engine knows on this kernel.
func (r capRequest) effective(all CapSet) CapSet {
	if r.Privileged {
		return all
	}
	add := capSetOf(r.Add...)
	drop := capSetOf(r.Drop...)
	switch {
	case slices.Contains(r.Add, "ALL"):
		return all &^ drop
	case slices.Contains(r.Drop, "ALL"):
		return add
	default:
		return (dockerDefaultCaps&^drop | add) & all
	}
}

// explicitAdds is the set of capabilities the container asked for by name.
func (r capRequest) explicitAdds() CapSet { return capSetOf(r.Add...) }
