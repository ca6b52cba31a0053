package kernel

import (
	"fmt"
	"path"
	"strings"

	"github.com/hardend/hardend/internal/check"
)

// Module states recorded in Facts.Modules.
const (
	ModLoaded   = "loaded"   // in the running kernel as a module
	ModBuiltin  = "builtin"  // compiled into the kernel: always there
	ModLoadable = "loadable" // a module file exists; modprobe (or the kernel's own autoload) brings it in
	ModMissing  = "missing"  // the kernel has no such code
	ModUnknown  = "unknown"  // no source could tell
)

// moduleSymbols maps every module hardend looks at to the kernel config symbol
// that builds it.
var moduleSymbols = map[string]string{
	"bridge":         "CONFIG_BRIDGE",
	"veth":           "CONFIG_VETH",
	"br_netfilter":   "CONFIG_BRIDGE_NETFILTER",
	"overlay":        "CONFIG_OVERLAY_FS",
	"nf_nat":         "CONFIG_NF_NAT",
	"nf_conntrack":   "CONFIG_NF_CONNTRACK",
	"xt_conntrack":   "CONFIG_NETFILTER_XT_MATCH_CONNTRACK",
	"nf_tables":      "CONFIG_NF_TABLES",
	"xt_addrtype":    "CONFIG_NETFILTER_XT_MATCH_ADDRTYPE",
	"ip_tables":      "CONFIG_IP_NF_IPTABLES",
	"iptable_filter": "CONFIG_IP_NF_FILTER",
	"iptable_nat":    "CONFIG_IP_NF_NAT",
	"nft_compat":     "CONFIG_NFT_COMPAT",
}

// requirement is one HD-KERN-001 result: something Docker networking needs,
// named after the module an exemption would name. Any one group of Alts whose
// modules are all present satisfies it; the first group is the usual one.
type requirement struct {
	Name string
	Alts [][]string
	Why  string
}

// requirements is what Docker's bridge networking and default storage need from
// the kernel (moby's contrib/check-config.sh "Generally Necessary" networking set).
//
// ip_tables is not in CHECKS.md's list but is decided the same way: Docker programs
// its rules with the iptables binary, which needs the legacy x_tables tables
// (ip_tables + iptable_filter + iptable_nat, iptables-legacy) or nf_tables with
// nft_compat (iptables-nft, the default since Debian 10 / RHEL 8, which runs the
// xt_ matches Docker uses through nft_compat). Without either, dockerd fails at
// start with "iptables: can't initialize iptables table". Docker 29's native
// nftables backend needs only nf_tables, which both xt_conntrack's alternative and
// the second group here accept.
var requirements = []requirement{
	{"bridge", [][]string{{"bridge"}}, "the Linux bridge behind docker0 and every bridge network"},
	{"veth", [][]string{{"veth"}}, "the veth pair joining each container to its bridge"},
	{"br_netfilter", [][]string{{"br_netfilter"}}, "passes bridged traffic through iptables (see HD-KERN-003)"},
	{"overlay", [][]string{{"overlay"}}, "overlayfs, Docker's default overlay2 storage driver"},
	{"nf_nat", [][]string{{"nf_nat"}}, "the DNAT behind every published port and the masquerading of outbound traffic"},
	{"nf_conntrack", [][]string{{"nf_conntrack"}}, "connection tracking, which NAT and Docker's ESTABLISHED rules need"},
	{"xt_conntrack", [][]string{{"xt_conntrack"}, {"nf_tables"}}, "connection-state matching: xt_conntrack for Docker's iptables rules, or nf_tables for its nftables backend"},
	{"xt_addrtype", [][]string{{"xt_addrtype"}}, "the addrtype match (--dst-type LOCAL) that sends traffic for published ports to the DOCKER chain"},
	{"ip_tables", [][]string{{"ip_tables", "iptable_filter", "iptable_nat"}, {"nf_tables", "nft_compat"}}, "the tables Docker's iptables rules live in: x_tables (iptables-legacy) or nf_tables with nft_compat (iptables-nft)"},
}

// moduleOrder lists every module in moduleSymbols, in a stable order for Facts.
var moduleOrder = []string{"bridge", "veth", "br_netfilter", "overlay", "nf_nat", "nf_conntrack",
	"xt_conntrack", "nf_tables", "xt_addrtype", "ip_tables", "iptable_filter", "iptable_nat", "nft_compat"}

// normModule canonicalises a module name the way the kernel does ('-' == '_').
func normModule(name string) string { return strings.ReplaceAll(name, "-", "_") }

// validModule accepts what can be a module name; junk lines are skipped, not kept.
func validModule(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// eachLine calls fn for every line of data, without a length limit per line (the
// whole file is already bounded by its read limit).
func eachLine(data []byte, fn func(line string)) {
	s := string(data)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			fn(s)
			return
		}
		fn(s[:i])
		s = s[i+1:]
	}
}

// parseModules parses /proc/modules ("name size refcount deps state address" per
// line) into the set of loaded module names.
func parseModules(data []byte) map[string]bool {
	mods := map[string]bool{}
	eachLine(data, func(line string) {
		name, _, _ := strings.Cut(strings.TrimLeft(line, " \t"), " ")
		if validModule(name) {
			mods[normModule(name)] = true
		}
	})
	return mods
}

// moduleFromPath turns "kernel/net/bridge/br_netfilter.ko.zst" into "br_netfilter";
// "" if the path is not a module file.
func moduleFromPath(p string) string {
	base := path.Base(strings.TrimSpace(p))
	for _, z := range []string{".gz", ".xz", ".zst", ".bz2"} {
		base = strings.TrimSuffix(base, z)
	}
	name, ok := strings.CutSuffix(base, ".ko")
	if !ok || !validModule(name) {
		return ""
	}
	return normModule(name)
}

// parseBuiltin parses lib/modules/<release>/modules.builtin (one .ko path a line)
// into the set of built-in module names.
func parseBuiltin(data []byte) map[string]bool {
	mods := map[string]bool{}
	eachLine(data, func(line string) {
		if m := moduleFromPath(line); m != "" {
			mods[m] = true
		}
	})
	return mods
}

// parseModulesDep parses lib/modules/<release>/modules.dep ("path.ko: deps...")
// into the set of installed (loadable) module names.
func parseModulesDep(data []byte) map[string]bool {
	mods := map[string]bool{}
	eachLine(data, func(line string) {
		p, _, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		if m := moduleFromPath(p); m != "" {
			mods[m] = true
		}
	})
	return mods
}

// moduleSources is everything read about modules. A nil set means the source
// could not be read; its error says why.
type moduleSources struct {
	h                  hostFS
	release            string // "" when unknown or unsafe in a path
	loaded             map[string]bool
	loadedErr          error
	builtin, dep       map[string]bool
	builtinErr, depErr error
	cfg                kconfig
	cfgSrc             string
	cfgErr             error
	sysModule          bool // sys/module is a readable directory
}

func readModuleSources(h hostFS, release string, cfg kconfig, cfgSrc string, cfgErr error) *moduleSources {
	s := &moduleSources{h: h, release: release, cfg: cfg, cfgSrc: cfgSrc, cfgErr: cfgErr}
	if b, err := h.readFile("proc/modules", limitList); err == nil {
		s.loaded = parseModules(b)
	} else {
		s.loadedErr = err
	}
	if release != "" {
		dir := "lib/modules/" + release
		if b, err := h.readFile(dir+"/modules.builtin", limitList); err == nil {
			s.builtin = parseBuiltin(b)
		} else {
			s.builtinErr = err
		}
		if b, err := h.readFile(dir+"/modules.dep", limitDep); err == nil {
			s.dep = parseModulesDep(b)
		} else {
			s.depErr = err
		}
	} else {
		s.builtinErr = fmt.Errorf("lib/modules/<release>/modules.builtin: kernel release unknown")
		s.depErr = fmt.Errorf("lib/modules/<release>/modules.dep: kernel release unknown")
	}
	s.sysModule = h.isDir("sys/module")
	return s
}

// state decides one module's state from the sources, strongest evidence first, and
// returns the evidence for it. Absence is concluded only from sources that list
// what the kernel has (its config, or modules.builtin together with modules.dep):
// proc/modules never lists built-in code, and sys/module lists built-ins only when
// they have parameters, so missing from either proves nothing.
func (s *moduleSources) state(name string) (state, evidence string) {
	sym := moduleSymbols[name]
	if s.loaded[name] {
		return ModLoaded, "proc/modules lists " + name
	}
	if s.sysModule {
		dir := "sys/module/" + name
		if s.h.isDir(dir) {
			if s.h.exists(dir + "/initstate") {
				return ModLoaded, dir + "/initstate exists (a loaded module)"
			}
			return ModBuiltin, dir + " exists without initstate (built into the kernel)"
		}
	}
	if s.builtin[name] {
		return ModBuiltin, "lib/modules/" + s.release + "/modules.builtin lists " + name
	}
	if s.cfg != nil && sym != "" {
		switch s.cfg.tristate(sym) {
		case "y":
			return ModBuiltin, s.cfgSrc + ": " + sym + "=y (built into the kernel)"
		case "m":
			if s.dep != nil && !s.dep[name] {
				return ModMissing, s.cfgSrc + ": " + sym + "=m, but lib/modules/" + s.release + "/modules.dep does not list " + name + ": the module file is not installed"
			}
			return ModLoadable, s.cfgSrc + ": " + sym + "=m (a loadable module)" + s.notLoaded()
		}
	}
	if s.dep[name] {
		return ModLoadable, "lib/modules/" + s.release + "/modules.dep lists " + name + " (a loadable module)" + s.notLoaded()
	}
	if s.cfg != nil && sym != "" {
		return ModMissing, s.cfgSrc + ": " + s.cfg.describe(sym) + s.notLoaded()
	}
	if s.builtin != nil && s.dep != nil {
		return ModMissing, "neither lib/modules/" + s.release + "/modules.builtin nor modules.dep lists " + name + s.notLoaded()
	}
	return ModUnknown, s.unknownReason(name)
}

// notLoaded adds what proc/modules said, when it was read.
func (s *moduleSources) notLoaded() string {
	if s.loaded != nil {
		return "; not in proc/modules"
	}
	return ""
}

// unknownReason lists every source and why it did not decide.
func (s *moduleSources) unknownReason(name string) string {
	var why []string
	if s.loaded != nil {
		why = append(why, "proc/modules does not list it (built-in code never appears there)")
	} else {
		why = append(why, errText(s.loadedErr))
	}
	if s.sysModule {
		why = append(why, "no sys/module/"+name+" (built-in code without parameters never appears there)")
	} else {
		why = append(why, "sys/module not readable")
	}
	if s.builtin == nil {
		why = append(why, errText(s.builtinErr))
	}
	if s.dep == nil {
		why = append(why, errText(s.depErr))
	}
	why = append(why, errText(s.cfgErr))
	return "cannot tell whether " + name + " is built in, loaded or loadable: " + strings.Join(why, "; ")
}

// errText renders a possibly-nil error.
func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// ModuleFact is one module's state in Facts, with the evidence for it.
type ModuleFact struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Evidence string `json:"evidence"`
}

// moduleStates decides every module in moduleOrder.
func (s *moduleSources) moduleStates() map[string]ModuleFact {
	m := make(map[string]ModuleFact, len(moduleOrder))
	for _, name := range moduleOrder {
		st, ev := s.state(name)
		m[name] = ModuleFact{Name: name, State: st, Evidence: ev}
	}
	return m
}

// present reports whether a state means the code is or can be in the kernel.
func present(state string) bool {
	return state == ModLoaded || state == ModBuiltin || state == ModLoadable
}

// checkModules is HD-KERN-001: one result per requirement.
func checkModules(states map[string]ModuleFact) []check.Result {
	d := defKERN001
	out := make([]check.Result, 0, len(requirements))
	for _, req := range requirements {
		subj := check.Subject{Kind: check.KindHost, Name: req.Name}
		var missing, unknown, unknownNames []string
		satisfied, satisfiedLoaded := -1, false
		for gi, group := range req.Alts {
			allPresent, allLoaded := true, true
			for _, m := range group {
				switch st := states[m].State; st {
				case ModMissing:
					allPresent = false
					missing = append(missing, m+": "+states[m].Evidence)
				case ModUnknown:
					allPresent = false
					unknown = append(unknown, states[m].Evidence)
					unknownNames = append(unknownNames, m)
				case ModLoadable:
					allLoaded = false
				}
			}
			// Prefer the group already in the running kernel, else the first present.
			if allPresent && (satisfied < 0 || allLoaded && !satisfiedLoaded) {
				satisfied, satisfiedLoaded = gi, allLoaded
			}
		}
		switch {
		case satisfied >= 0:
			var ev []string
			for _, m := range req.Alts[satisfied] {
				ev = append(ev, m+" "+states[m].State+": "+states[m].Evidence)
			}
			text := strings.Join(ev, "; ")
			if satisfied > 0 {
				text = req.Alts[0][0] + " is " + states[req.Alts[0][0]].State + ", but " + text + " serves instead: " + req.Why
			}
			out = append(out, d.Pass(subj, text))
		case len(unknown) > 0:
			// The sources are the same for every module: give the reasons once.
			text := unknown[0]
			if len(unknown) > 1 {
				text += " (likewise " + strings.Join(unknownNames[1:], ", ") + ")"
			}
			if len(missing) > 0 {
				text += "; " + strings.Join(missing, "; ")
			}
			r := d.Err(subj, text)
			r.Remediation = moduleRemedy(req)
			out = append(out, r)
		default:
			out = append(out, d.Fail(subj,
				"the kernel has no "+strings.Join(flatten(req.Alts), " / ")+" ("+req.Why+"): "+strings.Join(missing, "; "),
				moduleRemedy(req)))
		}
	}
	return out
}

func flatten(groups [][]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, strings.Join(g, "+"))
	}
	return out
}

// moduleRemedy is the fix for a missing requirement, in its usual form.
func moduleRemedy(req requirement) string {
	mods := req.Alts[0]
	syms := make([]string, len(mods))
	for i, m := range mods {
		syms[i] = moduleSymbols[m]
	}
	list := strings.Join(mods, " ")
	return fmt.Sprintf("If the kernel has it as a module: `modprobe -a %s` now, and `printf '%%s\\n' %s >> /etc/modules-load.d/docker.conf` for every boot "+
		"(run `depmod -a` first if modules.dep is stale). If it has not (%s not =y/=m, or the .ko not installed: Ubuntu ships many netfilter modules in "+
		"linux-modules-extra-$(uname -r)), install the distribution's standard kernel and reboot. On a shared-kernel VPS (OpenVZ/Virtuozzo, LXC) "+
		"you cannot load modules at all: ask the provider or move to a KVM VPS.", list, list, strings.Join(syms, ", "))
}
