package kernel

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
)

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func TestParseModules(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]bool
	}{
		{"empty", "", set()},
		{"real lines", "br_netfilter 32768 0 - Live 0xffffffffc0a2e000\nbridge 311296 1 br_netfilter, Live 0xffffffffc09c1000\n", set("br_netfilter", "bridge")},
		{"dash normalised", "nf-nat 1 0 - Live 0x0\n", set("nf_nat")},
		{"loading and unloading count", "veth 1 0 - Loading 0x0\noverlay 1 0 - Unloading 0x0\n", set("veth", "overlay")},
		{"name only, no newline", "xt_addrtype", set("xt_addrtype")},
		{"junk skipped", "\x00\xff bridge\n../../x 1 0\n  \n\tveth 1 0 - Live 0x0\n", set("veth")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseModules([]byte(tt.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBuiltin(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]bool
	}{
		{"empty", "", set()},
		{"paths", "kernel/net/bridge/bridge.ko\nkernel/fs/overlayfs/overlay.ko\nkernel/net/netfilter/nf-nat.ko\n", set("bridge", "overlay", "nf_nat")},
		{"compressed suffixes", "kernel/a/veth.ko.xz\nkernel/b/x.ko.zst\nkernel/c/y.ko.gz\n", set("veth", "x", "y")},
		{"not modules", "kernel/a/veth\nkernel/a/.ko\nREADME\nkernel/a/b.kox\n", set()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseBuiltin([]byte(tt.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseModulesDep(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]bool
	}{
		{"empty", "", set()},
		{"real", "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko\nkernel/net/bridge/bridge.ko: kernel/net/802/stp.ko\nkernel/drivers/net/veth.ko:\n",
			set("br_netfilter", "bridge", "veth")},
		{"deps are not entries", "kernel/a/x.ko: kernel/b/only_a_dep.ko\n", set("x")},
		{"no colon", "kernel/a/x.ko\n", set()},
		{"updates dir", "updates/dkms/wireguard.ko.xz:\n", set("wireguard")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseModulesDep([]byte(tt.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestModuleState decides one module from each combination of sources that matters.
func TestModuleState(t *testing.T) {
	const rel = "6.1.0-28-amd64"
	cfgY := "CONFIG_BRIDGE_NETFILTER=y\n"
	cfgM := "CONFIG_BRIDGE_NETFILTER=m\n"
	cfgN := "# CONFIG_BRIDGE_NETFILTER is not set\n"
	dep := "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko\n"
	tests := []struct {
		name     string
		files    map[string]string
		want     string
		evidence string // substring
	}{
		{"listed in proc/modules", map[string]string{"proc/modules": "br_netfilter 1 0 - Live 0x0\n"}, ModLoaded, "proc/modules lists"},
		{"sysfs initstate", map[string]string{"sys/module/br_netfilter/initstate": "live\n"}, ModLoaded, "initstate"},
		{"sysfs without initstate", map[string]string{"sys/module/br_netfilter/parameters/x": "1"}, ModBuiltin, "without initstate"},
		{"modules.builtin", map[string]string{"lib/modules/" + rel + "/modules.builtin": "kernel/net/bridge/br_netfilter.ko\n"}, ModBuiltin, "modules.builtin lists"},
		{"config y, no proc/modules (CONFIG_MODULES=n host)", map[string]string{"boot/config-" + rel: cfgY}, ModBuiltin, "=y"},
		{"config m", map[string]string{"boot/config-" + rel: cfgM, "proc/modules": ""}, ModLoadable, "=m"},
		{"config m but not installed", map[string]string{"boot/config-" + rel: cfgM, "lib/modules/" + rel + "/modules.dep": "kernel/x/other.ko:\n"}, ModMissing, "not installed"},
		{"modules.dep only", map[string]string{"lib/modules/" + rel + "/modules.dep": dep}, ModLoadable, "modules.dep lists"},
		{"config not set", map[string]string{"boot/config-" + rel: cfgN, "proc/modules": "bridge 1 0 - Live 0x0\n"}, ModMissing, "is not set"},
		{"config symbol absent", map[string]string{"boot/config-" + rel: "CONFIG_BRIDGE=m\n"}, ModMissing, "absent"},
		{"config n but loaded out of tree", map[string]string{"boot/config-" + rel: cfgN, "proc/modules": "br_netfilter 1 0 - Live 0x0\n"}, ModLoaded, "proc/modules"},
		{"builtin and dep both lack it", map[string]string{"lib/modules/" + rel + "/modules.builtin": "kernel/a/b.ko\n", "lib/modules/" + rel + "/modules.dep": "kernel/a/c.ko:\n"}, ModMissing, "neither"},
		{"proc/modules alone proves nothing", map[string]string{"proc/modules": "bridge 1 0 - Live 0x0\n", "sys/module/bridge/initstate": "live"}, ModUnknown, "built-in code never appears there"},
		{"nothing at all", nil, ModUnknown, "cannot tell"},
		{"only builtin list", map[string]string{"lib/modules/" + rel + "/modules.builtin": "kernel/a/b.ko\n"}, ModUnknown, "modules.dep"},
		{"proc/modules is a directory", map[string]string{"proc/modules/": ""}, ModUnknown, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := writeTree(t, tt.files)
			cfg, src, err := readKernelConfig(h, rel)
			got, ev := readModuleSources(h, rel, cfg, src, err).state("br_netfilter")
			if got != tt.want || !strings.Contains(ev, tt.evidence) {
				t.Errorf("state = %s %q; want %s containing %q", got, ev, tt.want, tt.evidence)
			}
		})
	}
}

func TestCheckModulesAlternatives(t *testing.T) {
	all := func(state string) map[string]ModuleFact {
		m := map[string]ModuleFact{}
		for _, n := range moduleOrder {
			m[n] = ModuleFact{Name: n, State: state, Evidence: "test"}
		}
		return m
	}
	with := func(base map[string]ModuleFact, state string, names ...string) map[string]ModuleFact {
		for _, n := range names {
			base[n] = ModuleFact{Name: n, State: state, Evidence: "test " + state}
		}
		return base
	}
	tests := []struct {
		name   string
		states map[string]ModuleFact
		want   map[string]check.Status // by subject name; unlisted: pass
	}{
		{"all loaded", all(ModLoaded), nil},
		{"all loadable", all(ModLoadable), nil},
		{"xt_conntrack missing, nf_tables present", with(all(ModBuiltin), ModMissing, "xt_conntrack"), nil},
		{"xt_conntrack and nf_tables missing", with(all(ModBuiltin), ModMissing, "xt_conntrack", "nf_tables"),
			map[string]check.Status{"xt_conntrack": check.Fail, "ip_tables": check.Pass}},
		{"xt_conntrack missing, nf_tables unknown", with(with(all(ModBuiltin), ModMissing, "xt_conntrack"), ModUnknown, "nf_tables"),
			map[string]check.Status{"xt_conntrack": check.Error}},
		{"legacy tables missing, nft_compat present", with(all(ModLoaded), ModMissing, "ip_tables", "iptable_nat"), nil},
		{"both iptables paths missing", with(all(ModLoaded), ModMissing, "iptable_nat", "nft_compat"),
			map[string]check.Status{"ip_tables": check.Fail}},
		{"br_netfilter missing", with(all(ModLoaded), ModMissing, "br_netfilter"), map[string]check.Status{"br_netfilter": check.Fail}},
		{"everything unknown", all(ModUnknown), map[string]check.Status{"bridge": check.Error, "veth": check.Error, "br_netfilter": check.Error,
			"overlay": check.Error, "nf_nat": check.Error, "nf_conntrack": check.Error, "xt_conntrack": check.Error, "xt_addrtype": check.Error, "ip_tables": check.Error}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checkModules(tt.states)
			if len(res) != len(requirements) {
				t.Fatalf("%d results, want one per requirement (%d)", len(res), len(requirements))
			}
			for _, r := range res {
				want, ok := tt.want[r.Subject.Name]
				if !ok {
					want = check.Pass
				}
				if r.Status != want {
					t.Errorf("%s: %s (%s), want %s", r.Subject.Name, r.Status, r.Evidence, want)
				}
				if r.ID != "HD-KERN-001" || r.Subject.Kind != check.KindHost {
					t.Errorf("result %+v: wrong ID or subject kind", r)
				}
				if r.Status == check.Fail && !strings.Contains(r.Remediation, "modprobe") {
					t.Errorf("%s: remediation %q lacks modprobe", r.Subject.Name, r.Remediation)
				}
			}
		})
	}
}

func TestModuleSymbolsComplete(t *testing.T) {
	for _, req := range requirements {
		for _, g := range req.Alts {
			for _, m := range g {
				if moduleSymbols[m] == "" || !contains(moduleOrder, m) {
					t.Errorf("module %s of requirement %s has no config symbol or is not in moduleOrder", m, req.Name)
				}
			}
		}
	}
	if len(moduleOrder) != len(moduleSymbols) {
		t.Errorf("moduleOrder has %d names, moduleSymbols %d", len(moduleOrder), len(moduleSymbols))
	}
}

func fuzzModuleSet(f *testing.F, parse func([]byte) map[string]bool, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for name := range parse(data) {
			if !validModule(name) || strings.Contains(name, "-") {
				t.Fatalf("invalid module name %q from %q", name, data)
			}
		}
	})
}

func FuzzParseModules(f *testing.F) {
	fuzzModuleSet(f, parseModules, "bridge 311296 1 br_netfilter, Live 0xffffffffc09c1000\n", "nf-nat\n\n \t", "\x00")
}

func FuzzParseBuiltin(f *testing.F) {
	fuzzModuleSet(f, parseBuiltin, "kernel/net/bridge/bridge.ko\n", "a.ko.zst\n.ko\n/x/.ko.gz", "")
}

func FuzzParseModulesDep(f *testing.F) {
	fuzzModuleSet(f, parseModulesDep, "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko\n", "x.ko:", ":\n:x.ko")
}
