package kernel

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
)

// key names one result in the golden tables: "HD-KERN-001 bridge".
func key(r check.Result) string { return r.ID + " " + r.Subject.Name }

func statuses(res []check.Result) map[string]check.Status {
	m := make(map[string]check.Status, len(res))
	for _, r := range res {
		m[key(r)] = r.Status
	}
	return m
}

// golden builds an expectation table: every result defaults to def, with exceptions.
func golden(def check.Status, except map[string]check.Status) map[string]check.Status {
	m := map[string]check.Status{}
	for _, req := range requirements {
		m["HD-KERN-001 "+req.Name] = def
	}
	for _, k := range []string{"HD-KERN-002 kernel",
		"HD-KERN-003 net.bridge.bridge-nf-call-iptables", "HD-KERN-003 net.bridge.bridge-nf-call-ip6tables",
		"HD-KERN-004 seccomp", "HD-KERN-004 mac",
		"HD-KERN-005 kernel.kptr_restrict", "HD-KERN-005 kernel.dmesg_restrict", "HD-KERN-005 kernel.unprivileged_bpf_disabled",
		"HD-KERN-006 user_namespaces", "HD-KERN-006 cgroup"} {
		m[k] = def
	}
	for k, v := range except {
		if _, ok := m[k]; !ok {
			panic("golden: unknown key " + k)
		}
		m[k] = v
	}
	return m
}

const (
	pass, fail, skip, errS = check.Pass, check.Fail, check.Skip, check.Error
)

func TestAuditFixtures(t *testing.T) {
	tests := []struct {
		name    string
		pub     Tristate
		want    map[string]check.Status
		sev002  check.Severity // HD-KERN-002's severity
		facts   Facts          // the fields compared; others ignored
		modules map[string]string
	}{
		{
			name: "fc-6.18-builtin", pub: Yes,
			want: golden(pass, map[string]check.Status{
				"HD-KERN-004 mac": fail, "HD-KERN-005 kernel.kptr_restrict": fail, "HD-KERN-006 cgroup": fail,
			}),
			sev002: check.Critical,
			facts: Facts{Release: "6.18.44-fc-v1300", Series: "6.18", ConfigSource: "proc/config.gz", Cgroup: CgroupHybrid,
				AppArmor: MACNotBuilt, SELinux: MACDisabled, Seccomp: SeccompFilter, UserNamespaces: UserNSAvailable},
			modules: map[string]string{"bridge": ModBuiltin, "br_netfilter": ModBuiltin, "veth": ModBuiltin, "nft_compat": ModBuiltin},
		},
		{
			name: "debian12-kvm", pub: Yes,
			want:   golden(pass, map[string]check.Status{"HD-KERN-005 kernel.kptr_restrict": fail}),
			sev002: check.Critical,
			facts: Facts{Release: "6.1.0-28-amd64", Series: "6.1", ConfigSource: "boot/config-6.1.0-28-amd64", Cgroup: CgroupV2,
				LSMs: []string{"lockdown", "capability", "landlock", "yama", "apparmor", "tomoyo"}, AppArmor: MACEnabled, SELinux: MACDisabled,
				Seccomp: SeccompFilter, UserNamespaces: UserNSAvailable},
			modules: map[string]string{"bridge": ModLoaded, "br_netfilter": ModLoaded, "iptable_nat": ModLoadable, "nft_compat": ModLoaded},
		},
		{
			name: "openvz6", pub: Yes,
			want: golden(errS, map[string]check.Status{
				"HD-KERN-002 kernel":                             fail,
				"HD-KERN-003 net.bridge.bridge-nf-call-iptables": fail, "HD-KERN-003 net.bridge.bridge-nf-call-ip6tables": fail,
				"HD-KERN-004 seccomp": fail, "HD-KERN-005 kernel.unprivileged_bpf_disabled": skip, "HD-KERN-006 user_namespaces": fail,
			}),
			sev002: check.Critical,
			facts: Facts{Release: "2.6.32-042stab145.3", Series: "2.6.32", Cgroup: CgroupNone, AppArmor: MACUnknown, SELinux: MACUnknown,
				Seccomp: SeccompUnavailable, UserNamespaces: UserNSUnavailable},
			modules: map[string]string{"bridge": ModUnknown, "br_netfilter": ModUnknown},
		},
		{
			name: "lxc-no-br-netfilter", pub: Yes,
			want: golden(pass, map[string]check.Status{
				"HD-KERN-001 br_netfilter":                       errS,
				"HD-KERN-003 net.bridge.bridge-nf-call-iptables": fail, "HD-KERN-003 net.bridge.bridge-nf-call-ip6tables": fail,
				"HD-KERN-005 kernel.kptr_restrict": fail, "HD-KERN-005 kernel.dmesg_restrict": fail,
			}),
			sev002: check.Critical,
			facts: Facts{Release: "6.8.12-4-pve", Series: "6.8", Cgroup: CgroupV2, AppArmor: MACEnabled, SELinux: MACDisabled,
				Seccomp: SeccompFilter, UserNamespaces: UserNSAvailable},
			modules: map[string]string{"bridge": ModLoaded, "br_netfilter": ModUnknown, "xt_conntrack": ModLoaded},
		},
		{
			name: "lxc-no-br-netfilter", pub: No,
			want: golden(pass, map[string]check.Status{
				"HD-KERN-001 br_netfilter":         errS,
				"HD-KERN-005 kernel.kptr_restrict": fail, "HD-KERN-005 kernel.dmesg_restrict": fail,
			}),
			sev002: check.Critical,
			facts: Facts{Release: "6.8.12-4-pve", Series: "6.8", Cgroup: CgroupV2, AppArmor: MACEnabled, SELinux: MACDisabled,
				Seccomp: SeccompFilter, UserNamespaces: UserNSAvailable},
		},
		{
			name: "rhel7", pub: Unknown,
			want: golden(pass, map[string]check.Status{
				"HD-KERN-002 kernel":                           fail,
				"HD-KERN-005 kernel.dmesg_restrict":            fail,
				"HD-KERN-005 kernel.unprivileged_bpf_disabled": skip,
				"HD-KERN-006 user_namespaces":                  fail, "HD-KERN-006 cgroup": fail,
			}),
			sev002: check.Medium,
			facts: Facts{Release: "3.10.0-1160.el7.x86_64", Series: "3.10", ConfigSource: "boot/config-3.10.0-1160.el7.x86_64", Cgroup: CgroupV1,
				AppArmor: MACNotBuilt, SELinux: MACEnforcing, Seccomp: SeccompFilter, UserNamespaces: UserNSDisabled},
			modules: map[string]string{"bridge": ModLoaded, "nf_tables": ModLoadable, "nft_compat": ModLoadable},
		},
		{
			name: "broken", pub: Yes,
			want:   golden(errS, nil),
			sev002: check.Critical,
			facts:  Facts{Cgroup: CgroupUnknown, AppArmor: MACUnknown, SELinux: MACUnknown, Seccomp: SeccompUnknown, UserNamespaces: UserNSUnknown},
		},
		{
			name: "broken-sources", pub: Yes,
			want: golden(errS, map[string]check.Status{
				"HD-KERN-002 kernel": pass, "HD-KERN-005 kernel.kptr_restrict": pass,
			}),
			sev002: check.Critical,
			facts: Facts{Release: "5.15.0-91-generic", Series: "5.15", Cgroup: CgroupUnknown, AppArmor: MACUnknown, SELinux: MACUnknown,
				Seccomp: SeccompUnknown, UserNamespaces: UserNSUnknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/publishing="+tt.pub.String(), func(t *testing.T) {
			f, res := audit(hostFS(fixture(tt.name)), Options{Publishing: tt.pub}, testNow)
			if diff := cmp.Diff(tt.want, statuses(res)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s\n%s", diff, dump(res))
			}
			if len(res) != len(tt.want) {
				t.Errorf("%d results for %d distinct (ID, subject) keys: a duplicate subject", len(res), len(tt.want))
			}
			for _, r := range res {
				if r.ID == "HD-KERN-002" && r.Status == check.Fail && r.Severity != tt.sev002 {
					t.Errorf("HD-KERN-002 severity %s, want %s", r.Severity, tt.sev002)
				}
				assertWellFormed(t, r)
			}
			got := Facts{Release: f.Release, Series: f.Series, ConfigSource: f.ConfigSource, Cgroup: f.Cgroup, LSMs: f.LSMs,
				AppArmor: f.AppArmor, SELinux: f.SELinux, Seccomp: f.Seccomp, UserNamespaces: f.UserNamespaces}
			if diff := cmp.Diff(tt.facts, got); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
			for name, want := range tt.modules {
				if st := moduleState(f, name); st != want {
					t.Errorf("module %s: %s, want %s", name, st, want)
				}
			}
		})
	}
}

func moduleState(f Facts, name string) string {
	for _, m := range f.Modules {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}

func dump(res []check.Result) string {
	var b strings.Builder
	for _, r := range res {
		b.WriteString("  " + key(r) + ": " + string(r.Status) + ": " + r.Evidence + "\n")
	}
	return b.String()
}

// assertWellFormed checks what every result owes its reader.
func assertWellFormed(t *testing.T, r check.Result) {
	t.Helper()
	var def *check.Definition
	for i := range Definitions {
		if Definitions[i].ID == r.ID {
			def = &Definitions[i]
		}
	}
	switch {
	case def == nil:
		t.Errorf("%s: not in Definitions", key(r))
		return
	case r.Area != "kernel" || r.Title != def.Title || r.Subject.Kind != check.KindHost || r.Subject.Name == "":
		t.Errorf("%s: area %q title %q subject %+v", key(r), r.Area, r.Title, r.Subject)
	case r.Evidence == "":
		t.Errorf("%s: %s without evidence", key(r), r.Status)
	case r.Status == check.Fail && r.Remediation == "":
		t.Errorf("%s: failure without remediation", key(r))
	}
}

// TestAuditEmptyAndMissingRoot: nothing to read is errors (and skips), never a pass or a panic.
func TestAuditEmptyAndMissingRoot(t *testing.T) {
	for _, root := range []string{t.TempDir(), "/nonexistent/hardend-kernel-test"} {
		t.Run(root, func(t *testing.T) {
			for _, pub := range []Tristate{Yes, Unknown} {
				_, res := audit(hostFS(root), Options{Publishing: pub}, testNow)
				ids := map[string]bool{}
				for _, r := range res {
					ids[r.ID] = true
					if r.Status == check.Pass || r.Status == check.Fail {
						t.Errorf("%s: %s on an empty tree (%s)", key(r), r.Status, r.Evidence)
					}
				}
				if len(ids) != len(Definitions) {
					t.Errorf("IDs %v, want all %d", ids, len(Definitions))
				}
			}
		})
	}
}

func TestDefinitions(t *testing.T) {
	want := []string{"HD-KERN-001", "HD-KERN-002", "HD-KERN-003", "HD-KERN-004", "HD-KERN-005", "HD-KERN-006"}
	var got []string
	for _, d := range Definitions {
		got = append(got, d.ID)
		if d.Area != "kernel" || d.Title == "" {
			t.Errorf("%s: area %q title %q", d.ID, d.Area, d.Title)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Definitions (-want +got):\n%s", diff)
	}
	sevs := map[string]check.Severity{"HD-KERN-001": check.High, "HD-KERN-002": check.Critical, "HD-KERN-003": check.High,
		"HD-KERN-004": check.High, "HD-KERN-005": check.Low, "HD-KERN-006": check.Info}
	for _, d := range Definitions {
		if d.Severity != sevs[d.ID] {
			t.Errorf("%s severity %s, want %s (CHECKS.md)", d.ID, d.Severity, sevs[d.ID])
		}
	}
}

func TestFactsJSON(t *testing.T) {
	f, _ := audit(hostFS(fixture("debian12-kvm")), Options{}, testNow)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"apparmor", "cgroup", "cgroup_evidence", "config_source", "lsms", "modules", "release", "release_source",
		"seccomp", "selinux", "series", "sysctls", "user_namespaces", "version"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("JSON keys (-want +got):\n%s", diff)
	}
	if s := string(b); !strings.Contains(s, `"kernel.kptr_restrict":"0"`) || !strings.Contains(s, `"state":"loaded"`) {
		t.Errorf("JSON lacks sysctls or module states: %s", s)
	}
	if b, _ := json.Marshal(Options{Publishing: No}); string(b) != `{"Publishing":"no"}` {
		t.Errorf("Options JSON = %s", b)
	}
}

// TestAuditLive runs on this machine's own root. Wherever the evidence exists (a
// readable kernel config), no result may be an error.
func TestAuditLive(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/osrelease"); err != nil {
		t.Skipf("no procfs here: %v", err)
	}
	f, res := Audit("/", Options{Publishing: Unknown})
	ids := map[string]bool{}
	for _, r := range res {
		ids[r.ID] = true
		assertWellFormed(t, r)
		t.Logf("%s %-42s %-5s %s", r.ID, r.Subject.Name, r.Status, r.Severity)
		if r.Status == check.Error && f.ConfigSource != "" {
			t.Errorf("%s: error although the kernel config (%s) is readable: %s", key(r), f.ConfigSource, r.Evidence)
		}
	}
	if len(ids) != len(Definitions) {
		t.Errorf("IDs %v, want all %d", ids, len(Definitions))
	}
	if f.Release == "" || f.Cgroup == CgroupUnknown {
		t.Errorf("facts: release %q, cgroup %q", f.Release, f.Cgroup)
	}
	if f.ConfigSource == "" {
		t.Logf("no kernel config on this machine (%s): errors allowed", f.ConfigError)
	}
}

func BenchmarkAuditLive(b *testing.B) {
	if _, err := os.Stat("/proc/sys/kernel/osrelease"); err != nil {
		b.Skip("no procfs")
	}
	b.ReportAllocs()
	for b.Loop() {
		Audit("/", Options{Publishing: Yes})
	}
}

func BenchmarkAuditDebianFixture(b *testing.B) {
	b.ReportAllocs()
	h := hostFS(fixture("debian12-kvm"))
	for b.Loop() {
		audit(h, Options{Publishing: Yes}, testNow)
	}
}

// auditFuzzFiles are the files FuzzAudit may replace, in a tree that is otherwise
// a sound Debian host.
var auditFuzzFiles = []string{
	"proc/sys/kernel/osrelease", "proc/modules", "lib/modules/6.1.0-28-amd64/modules.builtin",
	"lib/modules/6.1.0-28-amd64/modules.dep", "boot/config-6.1.0-28-amd64", "proc/config.gz", "proc/self/status",
	"proc/cmdline", "sys/kernel/security/lsm", "sys/fs/selinux/enforce", "sys/module/apparmor/parameters/enabled",
	"proc/1/mounts", "proc/sys/net/bridge/bridge-nf-call-iptables", "proc/sys/kernel/kptr_restrict",
	"proc/sys/user/max_user_namespaces",
}

// FuzzAudit replaces one host file with arbitrary bytes and runs the whole audit:
// it must not panic, and every result must stay well-formed.
func FuzzAudit(f *testing.F) {
	f.Add(uint8(0), []byte("6.1.0-28-amd64\n"))
	f.Add(uint8(1), []byte("br_netfilter 1 0 - Live 0x0\n"))
	f.Add(uint8(4), []byte("CONFIG_USER_NS=n\nCONFIG_LSM=\"selinux\"\n"))
	f.Add(uint8(5), []byte("\x1f\x8b\x08\x00"))
	f.Add(uint8(11), []byte("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"))
	base := map[string]string{
		"proc/sys/kernel/osrelease": "6.1.0-28-amd64\n", "proc/modules": "bridge 1 0 - Live 0x0\n",
		"boot/config-6.1.0-28-amd64": "CONFIG_BRIDGE=m\nCONFIG_USER_NS=y\n", "proc/sys/net/core/somaxconn": "4096\n",
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		files := map[string]string{}
		for k, v := range base {
			files[k] = v
		}
		files[auditFuzzFiles[int(which)%len(auditFuzzFiles)]] = string(data)
		_, res := audit(writeTree(t, files), Options{Publishing: Tristate(which % 3)}, testNow)
		ids := map[string]bool{}
		for _, r := range res {
			ids[r.ID] = true
			assertWellFormed(t, r)
		}
		if len(ids) != len(Definitions) {
			t.Fatalf("IDs %v", ids)
		}
	})
}
