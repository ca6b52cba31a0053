package kernel

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hardend/hardend/internal/check"
)

// parseLSM parses sys/kernel/security/lsm ("lockdown,capability,apparmor"): the
// LSMs the running kernel initialised, in order. Names that cannot be LSM names
// are dropped.
func parseLSM(data []byte) []string {
	var out []string
	for _, f := range strings.Split(strings.TrimSpace(string(data)), ",") {
		f = strings.TrimSpace(f)
		if validLSMName(f) {
			out = append(out, f)
		}
	}
	return out
}

func validLSMName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// seccompStatus is what a proc/<pid>/status file says about seccomp.
type seccompStatus struct {
	Present  bool // a "Seccomp:" line: the kernel has CONFIG_SECCOMP (3.8+ print it)
	Mode     int  // its value: 0 none, 1 strict, 2 filter; -1 if unparsable
	Filters  bool // a "Seccomp_filters:" line: CONFIG_SECCOMP_FILTER (5.9+ print it)
	Complete bool // Name, Pid and the last field are there, so a missing line is really missing
}

// parseStatusSeccomp reads the seccomp fields of a proc/<pid>/status file.
func parseStatusSeccomp(data []byte) seccompStatus {
	st := seccompStatus{Mode: -1}
	var name, pid, last bool
	eachLine(data, func(line string) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		switch k {
		case "Seccomp":
			st.Present = true
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= 2 {
				st.Mode = n
			}
		case "Seccomp_filters":
			st.Filters = true
		case "Name":
			name = true
		case "Pid":
			pid = true
		case "nonvoluntary_ctxt_switches":
			last = true
		}
	})
	st.Complete = name && pid && last
	return st
}

// readStatus reads a status file of some process on the host. proc/self is
// hardend's own process (under --root /host with the host's procfs, still a
// process of the host's kernel): only which fields the kernel prints is used,
// never hardend's own seccomp mode as a verdict on the host. proc/1 is the
// fallback when self is not in the tree.
func readStatus(h hostFS) (seccompStatus, string, error) {
	var firstErr error
	for _, p := range []string{"proc/self/status", "proc/1/status"} {
		b, err := h.readFile(p, limitSmall)
		if err == nil {
			return parseStatusSeccomp(b), p, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return seccompStatus{Mode: -1}, "", firstErr
}

// Seccomp states recorded in Facts.Seccomp.
const (
	SeccompFilter      = "filter"      // mode 2, what Docker's default profile needs
	SeccompStrictOnly  = "strict-only" // CONFIG_SECCOMP without CONFIG_SECCOMP_FILTER
	SeccompUnavailable = "unavailable"
	SeccompUnknown     = "unknown"
)

// decideSeccomp decides whether the kernel offers seccomp filter mode, strongest
// evidence first.
func decideSeccomp(h hostFS, cfg kconfig, cfgSrc string, cfgErr error, rel *release) (state, evidence string) {
	st, stSrc, stErr := readStatus(h)
	if stErr == nil && st.Mode == 2 {
		return SeccompFilter, stSrc + ": Seccomp: 2 (a process already runs under a seccomp filter)"
	}
	if cfg != nil {
		switch {
		case cfg.tristate("CONFIG_SECCOMP_FILTER") == "y":
			return SeccompFilter, cfgSrc + ": CONFIG_SECCOMP_FILTER=y"
		case cfg.tristate("CONFIG_SECCOMP") == "y":
			return SeccompStrictOnly, cfgSrc + ": CONFIG_SECCOMP=y but " + cfg.describe("CONFIG_SECCOMP_FILTER") + ": only strict mode, no filters"
		default:
			return SeccompUnavailable, cfgSrc + ": " + cfg.describe("CONFIG_SECCOMP")
		}
	}
	const actions = "proc/sys/kernel/seccomp/actions_avail"
	if h.exists(actions) {
		return SeccompFilter, actions + " exists (only kernels with CONFIG_SECCOMP_FILTER have it)"
	}
	if stErr == nil && st.Filters {
		return SeccompFilter, stSrc + " has a Seccomp_filters line (only kernels with CONFIG_SECCOMP_FILTER print it)"
	}
	// Negative evidence, each valid only for kernels known to print what is
	// missing, and only from a status file that is whole and well-formed.
	if rel != nil {
		if stErr == nil && st.Complete && !st.Present && rel.atLeast(3, 8) {
			return SeccompUnavailable, fmt.Sprintf("%s has no Seccomp line (kernel %s prints it whenever CONFIG_SECCOMP is set)", stSrc, rel.Raw)
		}
		if stErr == nil && st.Complete && st.Present && st.Mode >= 0 && !st.Filters && rel.atLeast(5, 10) {
			return SeccompStrictOnly, fmt.Sprintf("%s has a Seccomp line but no Seccomp_filters line (kernel %s prints it whenever CONFIG_SECCOMP_FILTER is set)", stSrc, rel.Raw)
		}
		if !rel.atLeast(3, 5) {
			return SeccompUnavailable, fmt.Sprintf("kernel %s predates seccomp filter mode (Linux 3.5); no kernel config or status field says it was backported", rel.Raw)
		}
	}
	why := []string{errText(cfgErr), actions + " absent"}
	switch {
	case stErr != nil:
		why = append(why, errText(stErr))
	case st.Present:
		why = append(why, stSrc+" has a Seccomp line (CONFIG_SECCOMP) but nothing shows whether filter mode (CONFIG_SECCOMP_FILTER) is built")
	default:
		why = append(why, stSrc+" has no Seccomp line, which proves nothing on this kernel or in this truncated file")
	}
	return SeccompUnknown, "cannot tell whether the kernel offers seccomp filters: " + strings.Join(why, "; ")
}

// parseCmdline splits proc/cmdline into kernel parameters, honouring double
// quotes (param="a b") and stopping at "--", after which arguments belong to init.
func parseCmdline(data []byte) []string {
	s := strings.TrimSpace(string(data))
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	flush := func() bool {
		if !have {
			return true
		}
		p := cur.String()
		cur.Reset()
		have = false
		if p == "--" {
			return false
		}
		out = append(out, p)
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (c == ' ' || c == '\t' || c == '\n' || c == 0):
			if !flush() {
				return out
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	flush()
	return out
}

// cmdlineValue returns the value of the last key=value parameter (the kernel
// applies them in order, so the last wins).
func cmdlineValue(params []string, key string) (string, bool) {
	val, found := "", false
	for _, p := range params {
		if v, ok := strings.CutPrefix(p, key+"="); ok {
			val, found = v, true
		}
	}
	return val, found
}

// AppArmor and SELinux states recorded in Facts.
const (
	MACEnabled    = "enabled"    // AppArmor initialised (profiles are the daemon's business)
	MACEnforcing  = "enforcing"  // SELinux initialised and enforcing
	MACPermissive = "permissive" // SELinux initialised but only logging
	MACDisabled   = "disabled"   // built in, not initialised (boot parameter, LSM order)
	MACNotBuilt   = "not built"  // the kernel has no such LSM
	MACUnknown    = "unknown"
)

// macState is what was learned about AppArmor and SELinux, and from where.
type macState struct {
	lsms     []string
	apparmor string
	selinux  string
	evidence []string
}

// lsmOrder infers which exclusive major LSM (selinux, apparmor, smack: only one of
// them is initialised) the kernel chose from its config and command line, the way
// security/security.c does: lsm= replaces CONFIG_LSM (5.1+); security= picks one
// legacy major LSM; before 5.1, CONFIG_DEFAULT_SECURITY does. ok is false when the
// config lacks what the inference needs.
func lsmOrder(cfg kconfig, params []string) (major string, how string, ok bool) {
	exclusive := func(list string) string {
		for _, n := range strings.Split(list, ",") {
			switch n = strings.TrimSpace(n); n {
			case "selinux", "apparmor", "smack":
				return n
			}
		}
		return ""
	}
	if v, found := cmdlineValue(params, "lsm"); found {
		return exclusive(v), "proc/cmdline lsm=" + printable(v), true
	}
	sec, hasSec := cmdlineValue(params, "security")
	if order, found := cfg["CONFIG_LSM"]; found {
		if hasSec {
			return sec, "proc/cmdline security=" + printable(sec) + " (selects the one major LSM)", true
		}
		return exclusive(order), "CONFIG_LSM=" + printable(order) + " and no lsm= or security= on proc/cmdline", true
	}
	if hasSec {
		return sec, "proc/cmdline security=" + printable(sec), true
	}
	if def, found := cfg["CONFIG_DEFAULT_SECURITY"]; found {
		return def, "CONFIG_DEFAULT_SECURITY=" + printable(def) + " (kernel before 5.1, no security= on proc/cmdline)", true
	}
	return "", "", false
}

// readMAC decides AppArmor's and SELinux's state: the running kernel's LSM list
// first, then each LSM's own runtime traces in sysfs, then the kernel config with
// the command line. Config inference only ever concludes "not initialised": whether
// an LSM that should be initialised really is and enforces needs runtime evidence.
func readMAC(h hostFS, cfg kconfig, cfgSrc string) macState {
	m := macState{apparmor: MACUnknown, selinux: MACUnknown}
	enforce := func() string {
		b, err := h.readFile("sys/fs/selinux/enforce", limitSmall)
		if err != nil {
			m.evidence = append(m.evidence, "SELinux mode unknown: "+err.Error())
			return MACUnknown
		}
		switch v := firstLine(b); v {
		case "1":
			m.evidence = append(m.evidence, "sys/fs/selinux/enforce = 1")
			return MACEnforcing
		case "0":
			m.evidence = append(m.evidence, "sys/fs/selinux/enforce = 0 (permissive: denials are only logged)")
			return MACPermissive
		default:
			m.evidence = append(m.evidence, "sys/fs/selinux/enforce = "+printable(v)+" (not 0 or 1)")
			return MACUnknown
		}
	}

	const lsmFile = "sys/kernel/security/lsm"
	if b, err := h.readFile(lsmFile, limitSmall); err == nil && len(parseLSM(b)) > 0 {
		m.lsms = parseLSM(b)
		m.evidence = append(m.evidence, lsmFile+" = "+strings.Join(m.lsms, ","))
		m.apparmor = MACDisabled
		if contains(m.lsms, "apparmor") {
			m.apparmor = MACEnabled
		}
		m.selinux = MACDisabled
		if contains(m.lsms, "selinux") {
			m.selinux = enforce()
		}
		return m
	} else if err != nil {
		m.evidence = append(m.evidence, err.Error())
	} else {
		m.evidence = append(m.evidence, lsmFile+": no LSM names")
	}

	// AppArmor: built in, it always has sys/module/apparmor/parameters.
	const aaParam = "sys/module/apparmor/parameters/enabled"
	if b, err := h.readFile(aaParam, limitSmall); err == nil {
		switch v := firstLine(b); v {
		case "Y", "1":
			m.apparmor = MACEnabled
		case "N", "0":
			m.apparmor = MACDisabled
		}
		m.evidence = append(m.evidence, aaParam+" = "+printable(firstLine(b)))
	} else if isNotExist(err) && h.isDir("sys/module") && !h.exists("sys/module/apparmor") {
		m.apparmor = MACNotBuilt
		m.evidence = append(m.evidence, "no sys/module/apparmor (a built-in AppArmor always has it)")
	}

	// SELinux: the kernel creates the sys/fs/selinux mount point only when SELinux
	// was enabled at boot.
	switch {
	case h.isDir("sys/fs/selinux"):
		m.selinux = enforce()
	case h.isDir("sys/fs"):
		m.selinux = MACDisabled
		m.evidence = append(m.evidence, "no sys/fs/selinux (the kernel creates it whenever SELinux is enabled)")
	}

	if cfg == nil {
		return m
	}
	var params []string
	var cmdErr error
	if b, err := h.readFile("proc/cmdline", limitSmall); err == nil {
		params = parseCmdline(b)
	} else {
		cmdErr = err
	}
	major, how, ok := lsmOrder(cfg, params)
	for _, l := range []struct {
		name, sym, off string
		state          *string
		runtime        bool // sysfs already showed the LSM was initialised
	}{
		{"apparmor", "CONFIG_SECURITY_APPARMOR", "apparmor=0", &m.apparmor, m.apparmor == MACEnabled},
		{"selinux", "CONFIG_SECURITY_SELINUX", "selinux=0", &m.selinux, h.isDir("sys/fs/selinux")},
	} {
		if l.runtime || *l.state == MACNotBuilt {
			continue
		}
		// From here the state is unknown, or "disabled" from sysfs, which the
		// config may explain.
		switch {
		case cfg.tristate(l.sym) != "y" || cfg.tristate("CONFIG_SECURITY") != "y":
			*l.state = MACNotBuilt
			m.evidence = append(m.evidence, cfgSrc+": "+cfg.describe(l.sym)+", "+cfg.describe("CONFIG_SECURITY"))
		case cmdErr == nil && contains(params, l.off):
			*l.state = MACDisabled
			m.evidence = append(m.evidence, "proc/cmdline has "+l.off)
		case cmdErr == nil && ok && major != l.name:
			*l.state = MACDisabled
			m.evidence = append(m.evidence, fmt.Sprintf("%s: %s=y but not initialised: %s", cfgSrc, l.sym, how))
		case *l.state == MACDisabled:
			// sysfs said so; nothing in the config contradicts or explains it.
		case cmdErr != nil:
			m.evidence = append(m.evidence, l.name+" built in ("+cfgSrc+"), boot parameters unknown: "+cmdErr.Error())
		default:
			m.evidence = append(m.evidence, fmt.Sprintf("%s: %s=y and %s would initialise it, but nothing at runtime confirms it", cfgSrc, l.sym, how))
		}
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkSecurity is HD-KERN-004: one result for seccomp, one for AppArmor/SELinux.
func checkSecurity(seccomp, seccompEv string, mac macState) []check.Result {
	d := defKERN004
	var out []check.Result
	subj := check.Subject{Kind: check.KindHost, Name: "seccomp"}
	switch seccomp {
	case SeccompFilter:
		out = append(out, d.Pass(subj, "seccomp filter mode available: "+seccompEv))
	case SeccompUnknown:
		out = append(out, d.Err(subj, seccompEv))
	default:
		out = append(out, d.Fail(subj, "seccomp filter mode unavailable, so Docker's default seccomp profile (which blocks ~50 dangerous syscalls such as keyctl, unshare, mount) cannot be applied: "+seccompEv,
			"Boot a kernel built with CONFIG_SECCOMP=y and CONFIG_SECCOMP_FILTER=y (every current distribution kernel is); on a shared-kernel VPS you cannot: move to a KVM VPS."))
	}

	subj = check.Subject{Kind: check.KindHost, Name: "mac"}
	ev := "AppArmor " + mac.apparmor + ", SELinux " + mac.selinux + ": " + strings.Join(mac.evidence, "; ")
	switch {
	case mac.apparmor == MACEnabled || mac.selinux == MACEnforcing:
		out = append(out, d.Pass(subj, ev))
	case (mac.apparmor == MACDisabled || mac.apparmor == MACNotBuilt) &&
		(mac.selinux == MACDisabled || mac.selinux == MACNotBuilt || mac.selinux == MACPermissive):
		out = append(out, d.Fail(subj, "neither AppArmor nor SELinux confines containers ("+ev+"): Docker's docker-default AppArmor profile or SELinux container labels are the layer that stops a container root from touching host files it can reach",
			"Debian/Ubuntu: `apt install apparmor`, make sure the kernel command line has no apparmor=0 and (kernel 5.1+) that lsm= / CONFIG_LSM includes apparmor, reboot; "+
				"Docker applies docker-default to every container. RHEL family: SELINUX=enforcing in /etc/selinux/config, `setenforce 1`, and \"selinux-enabled\": true in /etc/docker/daemon.json. "+
				"A kernel built without both (CONFIG_SECURITY_APPARMOR, CONFIG_SECURITY_SELINUX) needs replacing with the distribution's standard kernel."))
	default:
		out = append(out, d.Err(subj, "cannot tell whether AppArmor or SELinux is enabled: "+ev))
	}
	return out
}
