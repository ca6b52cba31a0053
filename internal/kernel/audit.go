package kernel

import (
	"time"

	"github.com/hardend/hardend/internal/check"
)

// Tristate is a yes/no answer that may be unknown.
type Tristate int

// Tristate values; the zero value is Unknown, so an Options{} left unset never
// claims an answer nobody gave.
const (
	Unknown Tristate = iota
	Yes
	No
)

// String returns "yes", "no" or "unknown".
func (t Tristate) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "unknown"
}

// MarshalText makes a Tristate appear as "yes", "no" or "unknown" in JSON.
func (t Tristate) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Options is what the kernel checks need to know from outside the kernel.
type Options struct {
	// Publishing says whether any container publishes ports (HD-KERN-003 only fails
	// "while containers publish ports"): Unknown when Docker could not be asked,
	// which HD-KERN-003 treats like Yes (see checkBridge).
	Publishing Tristate
}

// Facts is what the kernel audit saw, for the report's "host.kernel". States are
// the exported Mod*, Seccomp*, MAC*, UserNS* and Cgroup* constants.
type Facts struct {
	Release        string            `json:"release"`                  // "6.1.0-28-amd64"; "" if unknown
	ReleaseSource  string            `json:"release_source,omitempty"` // proc/sys/kernel/osrelease or uname(2)
	ReleaseError   string            `json:"release_error,omitempty"`
	Series         string            `json:"series,omitempty"`  // "6.1"
	Version        string            `json:"version,omitempty"` // proc/sys/kernel/version: build number, date, distro package
	ConfigSource   string            `json:"config_source,omitempty"`
	ConfigError    string            `json:"config_error,omitempty"`
	Modules        []ModuleFact      `json:"modules"`
	Cgroup         string            `json:"cgroup"`
	CgroupEvidence string            `json:"cgroup_evidence,omitempty"`
	LSMs           []string          `json:"lsms,omitempty"` // sys/kernel/security/lsm, when readable
	AppArmor       string            `json:"apparmor"`
	SELinux        string            `json:"selinux"`
	Seccomp        string            `json:"seccomp"`
	UserNamespaces string            `json:"user_namespaces"`
	Sysctls        map[string]string `json:"sysctls"` // name -> value, for every integer sysctl read successfully
}

// The kernel checks (CHECKS.md).
var (
	defKERN001 = check.Definition{ID: "HD-KERN-001", Area: "kernel", Title: "kernel module Docker networking needs is unavailable",
		Severity: check.High, References: []string{"guide §3"}}
	defKERN002 = check.Definition{ID: "HD-KERN-002", Area: "kernel", Title: "kernel too old",
		Severity: check.Critical, References: []string{"guide §3"}}
	defKERN003 = check.Definition{ID: "HD-KERN-003", Area: "kernel", Title: "bridged traffic bypasses iptables (bridge-nf-call not 1)",
		Severity: check.High}
	defKERN004 = check.Definition{ID: "HD-KERN-004", Area: "kernel", Title: "seccomp unavailable or neither AppArmor nor SELinux enabled",
		Severity: check.High}
	defKERN005 = check.Definition{ID: "HD-KERN-005", Area: "kernel", Title: "information-leak sysctls weak",
		Severity: check.Low}
	defKERN006 = check.Definition{ID: "HD-KERN-006", Area: "kernel", Title: "user namespaces unavailable or cgroup v1 only",
		Severity: check.Info}
)

// Definitions is the kernel area's catalogue, HD-KERN-001..006. HD-KERN-002's
// severity is its worst (critical, before 3.10); older than the oldest supported
// longterm series fails at medium.
var Definitions = []check.Definition{defKERN001, defKERN002, defKERN003, defKERN004, defKERN005, defKERN006}

// Audit reads the host below root ("/" live, "/host" from a container, a fixture
// tree in tests) and returns what it saw and one or more results per check:
// HD-KERN-001 per required module, 002 once, 003 per bridge sysctl, 004 for
// seccomp and for AppArmor/SELinux, 005 per sysctl, 006 for user namespaces and
// for cgroups. Nothing it reads can make it panic; what cannot be read becomes an
// error or skip result with the reason.
func Audit(root string, opts Options) (Facts, []check.Result) {
	return audit(hostFS(root), opts, time.Now())
}

// audit is Audit with the day that decides which longterm series are supported.
func audit(h hostFS, opts Options, now time.Time) (Facts, []check.Result) {
	f := Facts{Sysctls: map[string]string{}}

	raw, relSrc, relErr := readRelease(h)
	var rel *release
	pathRelease := "" // safe to use in lib/modules/<release>, boot/config-<release>
	parsed, perr := parseRelease(raw)
	if relErr == nil && perr != nil {
		relErr = perr
	}
	if relErr == nil {
		rel, pathRelease = &parsed, parsed.Raw
		f.Release, f.ReleaseSource, f.Series = parsed.Raw, relSrc, parsed.series()
	} else {
		f.ReleaseError = relErr.Error()
	}
	if b, err := h.readFile("proc/sys/kernel/version", limitSmall); err == nil {
		v := firstLine(b)
		if len(v) > 200 {
			v = v[:200]
		}
		f.Version = v
	}

	cfg, cfgSrc, cfgErr := readKernelConfig(h, pathRelease)
	if cfgErr != nil {
		f.ConfigError = cfgErr.Error()
	}
	f.ConfigSource = cfgSrc

	mods := readModuleSources(h, pathRelease, cfg, cfgSrc, cfgErr).moduleStates()
	for _, name := range moduleOrder {
		f.Modules = append(f.Modules, mods[name])
	}

	results := checkModules(mods)
	results = append(results, checkRelease(parsed, relErr, relSrc, now))
	results = append(results, checkBridge(h, opts, mods["br_netfilter"], rel, f.Sysctls)...)

	seccomp, seccompEv := decideSeccomp(h, cfg, cfgSrc, cfgErr, rel)
	mac := readMAC(h, cfg, cfgSrc)
	f.Seccomp, f.AppArmor, f.SELinux, f.LSMs = seccomp, mac.apparmor, mac.selinux, mac.lsms
	results = append(results, checkSecurity(seccomp, seccompEv, mac)...)

	results = append(results, checkLeaks(h, cfg, cfgSrc, rel, f.Sysctls)...)

	userns, usernsEv := decideUserNS(h, cfg, cfgSrc, rel, f.Sysctls)
	cg, cgEv := readCgroup(h)
	f.UserNamespaces, f.Cgroup, f.CgroupEvidence = userns, cg, cgEv
	results = append(results, checkIsolation(userns, usernsEv, cg, cgEv)...)
	return f, results
}
