package kernel

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hardend/hardend/internal/check"
)

// sysctlPath turns "kernel.kptr_restrict" into "proc/sys/kernel/kptr_restrict".
func sysctlPath(name string) string {
	return "proc/sys/" + strings.ReplaceAll(name, ".", "/")
}

var errSysctlValue = errors.New("not a single integer")

// parseSysctlInt parses a single-integer sysctl file ("1\n").
func parseSysctlInt(data []byte) (int64, error) {
	f := strings.Fields(string(data))
	if len(f) != 1 {
		return 0, fmt.Errorf("%w: %d fields", errSysctlValue, len(f))
	}
	v, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", errSysctlValue, printable(f[0]))
	}
	return v, nil
}

// sysctlValue is one integer sysctl as read: Err is set when it could not be
// read or parsed, Absent when the file does not exist.
type sysctlValue struct {
	Name   string
	Path   string
	Value  int64
	Err    error
	Absent bool
}

// readSysctl reads an integer sysctl below root.
func readSysctl(h hostFS, name string) sysctlValue {
	s := sysctlValue{Name: name, Path: sysctlPath(name)}
	b, err := h.readFile(s.Path, limitSmall)
	if err != nil {
		s.Err, s.Absent = err, isNotExist(err)
		return s
	}
	if s.Value, err = parseSysctlInt(b); err != nil {
		s.Err = fmt.Errorf("%s: %w", s.Path, err)
	}
	return s
}

// sysctlFile is where remediation persists a sysctl: one file per setting, written
// with > so that running the fix twice leaves one line.
func sysctlRemedy(name string, want int64, why string) string {
	return fmt.Sprintf("`sysctl -w %s=%d`; to keep it across reboots: `echo '%s = %d' > /etc/sysctl.d/90-hardend-%s.conf`%s",
		name, want, name, want, name, why)
}

// Bridge netfilter sysctls: HD-KERN-003.
var bridgeSysctls = []string{"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"}

// bridgeInert explains the consequence in every HD-KERN-003 finding.
const bridgeInert = "frames the Linux bridge forwards between its own ports (container to container on one Docker network, " +
	"hairpin traffic to a published port from a container on the same bridge, and everything if the host's external interface is itself " +
	"enslaved to a bridge) skip iptables entirely, so DOCKER-USER rules, icc=false and hardend's own rules are inert for that traffic"

// checkBridge is HD-KERN-003. brnf is br_netfilter's module state (HD-KERN-001);
// rel is nil when the kernel release is unknown.
//
// Publishing Unknown is treated like Yes: the host runs Docker, hardend could not
// ask it, and the next `docker run -p` would be exposed; passing would claim
// evidence nobody read. The evidence says that it is an assumption.
func checkBridge(h hostFS, opts Options, brnf ModuleFact, rel *release, facts map[string]string) []check.Result {
	d := defKERN003
	out := make([]check.Result, 0, len(bridgeSysctls))
	dirPresent := h.isDir("proc/sys/net/bridge")
	// The bridge directory's absence means something only where procfs's net
	// sysctls are there at all (every kernel has proc/sys/net/core).
	procNet := h.isDir("proc/sys/net")
	for _, name := range bridgeSysctls {
		subj := check.Subject{Kind: check.KindHost, Name: name}
		v := readSysctl(h, name)
		if v.Err == nil {
			facts[name] = strconv.FormatInt(v.Value, 10)
		}
		// A sysctl.d line for a module's sysctl applies at boot only if the module is
		// loaded by then, hence modules-load.d (unless it is built in).
		remedy := "`modprobe br_netfilter` and `echo br_netfilter > /etc/modules-load.d/br_netfilter.conf` (so it is loaded before systemd-sysctl runs at boot), then " +
			sysctlRemedy(name, 1, ".")
		if brnf.State == ModBuiltin {
			remedy = sysctlRemedy(name, 1, " (br_netfilter is built in, so the sysctl.d line applies at every boot).")
		}
		if opts.Publishing == No {
			seen := ""
			switch {
			case v.Err == nil:
				seen = fmt.Sprintf(" (%s = %d)", v.Path, v.Value)
			default:
				seen = " (" + v.Err.Error() + ")"
			}
			out = append(out, d.Pass(subj, "Docker reports no container publishing ports, so no published traffic depends on "+name+seen))
			continue
		}
		assume := ""
		if opts.Publishing == Unknown {
			assume = " (Docker could not be asked whether containers publish ports; assumed they do or will)"
		}
		switch {
		case v.Err == nil && v.Value == 1:
			out = append(out, d.Pass(subj, fmt.Sprintf("%s = 1: bridged traffic passes through iptables", v.Path)))
		case v.Err == nil:
			out = append(out, d.Fail(subj, fmt.Sprintf("%s = %d while containers publish ports%s: %s", v.Path, v.Value, assume, bridgeInert), remedy))
		case v.Absent && !dirPresent && !procNet:
			out = append(out, d.Err(subj, "cannot read "+name+": proc/sys/net is not there (no procfs under this root)"))
		case v.Absent && !dirPresent:
			if brnf.State == ModLoaded || brnf.State == ModBuiltin {
				// Before 5.3 the bridge-nf sysctls exist only in the initial network
				// namespace; a container (LXC, OpenVZ) cannot see them.
				out = append(out, d.Err(subj, fmt.Sprintf("proc/sys/net/bridge is absent although br_netfilter is %s (%s): the sysctls are not visible here "+
					"(before kernel 5.3 they exist only in the host's initial network namespace), so their value cannot be read", brnf.State, brnf.Evidence)))
				continue
			}
			caveat := ""
			if rel != nil && !rel.atLeast(5, 3) {
				caveat = "; note: inside a container on a kernel before 5.3 these sysctls are hidden even when br_netfilter is loaded"
			}
			out = append(out, d.Fail(subj, fmt.Sprintf("proc/sys/net/bridge does not exist: br_netfilter is not loaded (module state: %s), so %s%s%s",
				brnf.State, bridgeInert, assume, caveat), remedy))
		default:
			out = append(out, d.Err(subj, "cannot read "+name+": "+v.Err.Error()))
		}
	}
	return out
}

// leakSysctl is one HD-KERN-005 setting.
type leakSysctl struct {
	Name string
	Bad  func(int64) bool
	Want int64
	Rule string // the failing condition, for evidence
	Why  string
}

var leakSysctls = []leakSysctl{
	{"kernel.kptr_restrict", func(v int64) bool { return v < 1 }, 1, "< 1",
		"kernel addresses in /proc/kallsyms, /proc/modules and elsewhere are visible to unprivileged processes, which defeats KASLR for a kernel exploit from a container"},
	{"kernel.dmesg_restrict", func(v int64) bool { return v != 1 }, 1, "!= 1",
		"any user, including a container's root without CAP_SYSLOG, can read the kernel log (addresses, hardware, other tenants' errors)"},
	{"kernel.unprivileged_bpf_disabled", func(v int64) bool { return v == 0 }, 1, "= 0",
		"unprivileged users may load eBPF programs, the entry point of many kernel privilege escalations (2 also passes: disabled, re-enableable by root)"},
}

// checkLeaks is HD-KERN-005: one result per sysctl. cfg may be nil.
func checkLeaks(h hostFS, cfg kconfig, cfgSrc string, rel *release, facts map[string]string) []check.Result {
	d := defKERN005
	out := make([]check.Result, 0, len(leakSysctls))
	for _, ls := range leakSysctls {
		subj := check.Subject{Kind: check.KindHost, Name: ls.Name}
		v := readSysctl(h, ls.Name)
		switch {
		case v.Err == nil:
			facts[ls.Name] = strconv.FormatInt(v.Value, 10)
			if ls.Bad(v.Value) {
				out = append(out, d.Fail(subj, fmt.Sprintf("%s = %d (fails when %s): %s", v.Path, v.Value, ls.Rule, ls.Why), sysctlRemedy(ls.Name, ls.Want, ".")))
			} else {
				out = append(out, d.Pass(subj, fmt.Sprintf("%s = %d", v.Path, v.Value)))
			}
		case v.Absent && ls.Name == "kernel.unprivileged_bpf_disabled":
			out = append(out, bpfAbsent(d, subj, v, cfg, cfgSrc, rel))
		default:
			out = append(out, d.Err(subj, "cannot read "+ls.Name+": "+v.Err.Error()))
		}
	}
	return out
}

// bpfAbsent decides kernel.unprivileged_bpf_disabled when the knob does not exist:
// without the bpf() syscall there is nothing to restrict; before 4.4 (which added
// both unprivileged bpf() and the knob) bpf() needed CAP_SYS_ADMIN.
func bpfAbsent(d check.Definition, subj check.Subject, v sysctlValue, cfg kconfig, cfgSrc string, rel *release) check.Result {
	if cfg != nil && cfg.tristate("CONFIG_BPF_SYSCALL") == "n" {
		return d.Pass(subj, v.Path+" does not exist and "+cfgSrc+": "+cfg.describe("CONFIG_BPF_SYSCALL")+": the kernel has no bpf() syscall")
	}
	if rel != nil && !rel.atLeast(4, 4) {
		return d.Skip(subj, fmt.Sprintf("%s does not exist: kernel %s predates it (4.4 added the knob together with unprivileged bpf(); before it bpf() needed CAP_SYS_ADMIN)", v.Path, rel.Raw))
	}
	return d.Err(subj, "cannot read kernel.unprivileged_bpf_disabled: "+v.Err.Error())
}
