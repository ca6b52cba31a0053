package kernel

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
)

func TestParseLSM(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"lockdown,capability,landlock,yama,apparmor", []string{"lockdown", "capability", "landlock", "yama", "apparmor"}},
		{"capability,selinux\n", []string{"capability", "selinux"}},
		{"", nil},
		{",,,\x00,\n", nil},
		{"a, b ,C,../x", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseLSM([]byte(tt.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStatusSeccomp(t *testing.T) {
	const head = "Name:\tx\nPid:\t1\n"
	const tail = "nonvoluntary_ctxt_switches:\t1\n"
	tests := []struct {
		name, in string
		want     seccompStatus
	}{
		{"6.x", head + "Seccomp:\t0\nSeccomp_filters:\t0\n" + tail, seccompStatus{Present: true, Mode: 0, Filters: true, Complete: true}},
		{"filtered", head + "Seccomp:\t2\nSeccomp_filters:\t3\n" + tail, seccompStatus{Present: true, Mode: 2, Filters: true, Complete: true}},
		{"3.10", head + "Seccomp:\t0\n" + tail, seccompStatus{Present: true, Mode: 0, Complete: true}},
		{"2.6.32", head + tail, seccompStatus{Mode: -1, Complete: true}},
		{"truncated", "Name:\tx\nUmask:\t0022\nState:\tR (runn", seccompStatus{Mode: -1}},
		{"garbage value", head + "Seccomp:\tbanana\n" + tail, seccompStatus{Present: true, Mode: -1, Complete: true}},
		{"out of range", "Seccomp:\t7\n", seccompStatus{Present: true, Mode: -1}},
		{"not a prefix match", "XSeccomp:\t2\nSeccomp_filtersX:\t1\n", seccompStatus{Mode: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseStatusSeccomp([]byte(tt.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"plain", "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet\n", []string{"BOOT_IMAGE=/vmlinuz", "root=/dev/vda1", "ro", "quiet"}},
		{"init args after --", "console=ttyS0 nomodule -- --firecracker-init lsm=selinux", []string{"console=ttyS0", "nomodule"}},
		{"quoted value", `lsm="landlock,selinux" dyndbg="file x.c +p"`, []string{"lsm=landlock,selinux", "dyndbg=file x.c +p"}},
		{"unterminated quote", `lsm="unterminated`, []string{"lsm=unterminated"}},
		{"empty", "", nil},
		{"nul separated", "a\x00b", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseCmdline([]byte(tt.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if v, ok := cmdlineValue([]string{"lsm=a", "x", "lsm=b"}, "lsm"); v != "b" || !ok {
		t.Errorf("cmdlineValue: last lsm= = %q, %v; want b", v, ok)
	}
	if _, ok := cmdlineValue([]string{"lsmx=a"}, "lsm"); ok {
		t.Error("cmdlineValue matched lsmx= for lsm")
	}
}

func TestLSMOrder(t *testing.T) {
	lsm51 := kconfig{"CONFIG_LSM": "landlock,lockdown,yama,apparmor,selinux,bpf"}
	tests := []struct {
		name   string
		cfg    kconfig
		cmd    string
		want   string
		wantOK bool
	}{
		{"CONFIG_LSM, apparmor first", lsm51, "ro quiet", "apparmor", true},
		{"this machine: selinux not listed", kconfig{"CONFIG_LSM": "landlock,lockdown,loadpin,safesetid,integrity,smack,tomoyo,apparmor,bpf"}, "quiet", "smack", true},
		{"lsm= overrides", lsm51, "lsm=landlock,selinux", "selinux", true},
		{"security= picks the major", lsm51, "security=selinux", "selinux", true},
		{"lsm= beats security=", lsm51, "security=apparmor lsm=selinux", "selinux", true},
		{"pre-5.1 default", kconfig{"CONFIG_DEFAULT_SECURITY": "selinux"}, "quiet", "selinux", true},
		{"pre-5.1 security=", kconfig{"CONFIG_DEFAULT_SECURITY": "selinux"}, "security=apparmor", "apparmor", true},
		{"nothing to infer from", kconfig{"CONFIG_SECURITY": "y"}, "quiet", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, how, ok := lsmOrder(tt.cfg, parseCmdline([]byte(tt.cmd)))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("lsmOrder = %q, %v (%s); want %q, %v", got, ok, how, tt.want, tt.wantOK)
			}
		})
	}
}

func TestReadMAC(t *testing.T) {
	cfgBoth := kconfig{"CONFIG_SECURITY": "y", "CONFIG_SECURITY_APPARMOR": "y", "CONFIG_SECURITY_SELINUX": "y",
		"CONFIG_LSM": "landlock,lockdown,yama,apparmor,selinux,bpf"}
	cfgNone := kconfig{"CONFIG_SECURITY": "y", "CONFIG_SECURITY_APPARMOR": "n", "CONFIG_SECURITY_SELINUX": "n"}
	tests := []struct {
		name         string
		files        map[string]string
		cfg          kconfig
		wantAA, want string
		status       check.Status
	}{
		{"lsm lists apparmor", map[string]string{"sys/kernel/security/lsm": "lockdown,capability,apparmor"}, nil, MACEnabled, MACDisabled, check.Pass},
		{"lsm lists selinux, enforcing", map[string]string{"sys/kernel/security/lsm": "capability,selinux", "sys/fs/selinux/enforce": "1"}, nil, MACDisabled, MACEnforcing, check.Pass},
		{"lsm lists selinux, permissive", map[string]string{"sys/kernel/security/lsm": "capability,selinux", "sys/fs/selinux/enforce": "0"}, nil, MACDisabled, MACPermissive, check.Fail},
		{"lsm lists selinux, mode unreadable", map[string]string{"sys/kernel/security/lsm": "capability,selinux"}, nil, MACDisabled, MACUnknown, check.Error},
		{"lsm lists neither", map[string]string{"sys/kernel/security/lsm": "capability,yama,landlock"}, nil, MACDisabled, MACDisabled, check.Fail},
		{"no securityfs, apparmor param Y", map[string]string{"sys/module/apparmor/parameters/enabled": "Y\n"}, nil, MACEnabled, MACUnknown, check.Pass},
		{"no securityfs, apparmor param N, no selinux dir", map[string]string{"sys/module/apparmor/parameters/enabled": "N\n", "sys/fs/cgroup/": ""}, nil, MACDisabled, MACDisabled, check.Fail},
		{"no securityfs, selinuxfs enforcing", map[string]string{"sys/fs/selinux/enforce": "1", "sys/module/x/": ""}, nil, MACNotBuilt, MACEnforcing, check.Pass},
		{"this machine's shape", map[string]string{"sys/module/bridge/version": "2.3", "sys/fs/cgroup/": "", "proc/cmdline": "quiet -- lsm=selinux"},
			kconfig{"CONFIG_SECURITY": "y", "CONFIG_SECURITY_SELINUX": "y", "CONFIG_SECURITY_APPARMOR": "n", "CONFIG_LSM": "landlock,lockdown,smack,tomoyo,apparmor,bpf"},
			MACNotBuilt, MACDisabled, check.Fail},
		{"no sysfs, config without either", map[string]string{"proc/cmdline": "quiet"}, cfgNone, MACNotBuilt, MACNotBuilt, check.Fail},
		{"no sysfs, config says apparmor would start: unconfirmed", map[string]string{"proc/cmdline": "quiet"}, cfgBoth, MACUnknown, MACDisabled, check.Error},
		{"no sysfs, apparmor=0 on cmdline, selinux not chosen", map[string]string{"proc/cmdline": "apparmor=0"}, cfgBoth, MACDisabled, MACDisabled, check.Fail},
		{"no sysfs, cmdline unreadable", nil, cfgBoth, MACUnknown, MACUnknown, check.Error},
		{"nothing", nil, nil, MACUnknown, MACUnknown, check.Error},
		{"garbage", map[string]string{"sys/kernel/security/lsm": ",,\x00", "sys/module/apparmor/parameters/enabled": "maybe", "sys/fs/selinux/enforce": "7"}, nil, MACUnknown, MACUnknown, check.Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := readMAC(writeTree(t, tt.files), tt.cfg, "boot/config")
			if m.apparmor != tt.wantAA || m.selinux != tt.want {
				t.Errorf("apparmor %s, selinux %s; want %s, %s (%s)", m.apparmor, m.selinux, tt.wantAA, tt.want, strings.Join(m.evidence, "; "))
			}
			r := checkSecurity(SeccompFilter, "test", m)[1]
			if r.Status != tt.status || r.Subject.Name != "mac" {
				t.Errorf("mac result %s %s (%s), want %s", r.Subject.Name, r.Status, r.Evidence, tt.status)
			}
		})
	}
}

func TestDecideSeccomp(t *testing.T) {
	full := func(lines string) string { return "Name:\tx\nPid:\t1\n" + lines + "nonvoluntary_ctxt_switches:\t1\n" }
	tests := []struct {
		name  string
		files map[string]string
		cfg   kconfig
		rel   string
		want  string
	}{
		{"process filtered", map[string]string{"proc/self/status": full("Seccomp:\t2\n")}, nil, "6.1.0", SeccompFilter},
		{"config filter", nil, kconfig{"CONFIG_SECCOMP": "y", "CONFIG_SECCOMP_FILTER": "y"}, "6.1.0", SeccompFilter},
		{"config strict only", nil, kconfig{"CONFIG_SECCOMP": "y", "CONFIG_SECCOMP_FILTER": "n"}, "6.1.0", SeccompStrictOnly},
		{"config none", nil, kconfig{"CONFIG_SECCOMP": "n"}, "6.1.0", SeccompUnavailable},
		{"actions_avail", map[string]string{"proc/sys/kernel/seccomp/actions_avail": "kill_process\n"}, nil, "6.1.0", SeccompFilter},
		{"Seccomp_filters line", map[string]string{"proc/self/status": full("Seccomp:\t0\nSeccomp_filters:\t0\n")}, nil, "6.1.0", SeccompFilter},
		{"proc/1 fallback", map[string]string{"proc/1/status": full("Seccomp:\t0\nSeccomp_filters:\t0\n")}, nil, "6.1.0", SeccompFilter},
		{"5.10+ without Seccomp_filters", map[string]string{"proc/self/status": full("Seccomp:\t0\n")}, nil, "6.1.0", SeccompStrictOnly},
		{"3.10 with Seccomp line only: unknown", map[string]string{"proc/self/status": full("Seccomp:\t0\n")}, nil, "3.10.0", SeccompUnknown},
		{"3.8+ without Seccomp line", map[string]string{"proc/self/status": full("")}, nil, "4.19.0", SeccompUnavailable},
		{"truncated status proves nothing", map[string]string{"proc/self/status": "Name:\tx\n"}, nil, "6.1.0", SeccompUnknown},
		{"2.6.32", map[string]string{"proc/self/status": full("")}, nil, "2.6.32-042stab145.3", SeccompUnavailable},
		{"nothing", nil, nil, "", SeccompUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rel *release
			if tt.rel != "" {
				r, err := parseRelease(tt.rel)
				if err != nil {
					t.Fatal(err)
				}
				rel = &r
			}
			got, ev := decideSeccomp(writeTree(t, tt.files), tt.cfg, "boot/config", nil, rel)
			if got != tt.want {
				t.Errorf("decideSeccomp = %s (%s), want %s", got, ev, tt.want)
			}
			r := checkSecurity(got, ev, macState{apparmor: MACEnabled})[0]
			want := map[string]check.Status{SeccompFilter: check.Pass, SeccompUnknown: check.Error}[got]
			if want == "" {
				want = check.Fail
			}
			if r.Status != want || r.Subject.Name != "seccomp" {
				t.Errorf("seccomp result %s %s, want %s", r.Subject.Name, r.Status, want)
			}
		})
	}
}

func FuzzParseLSM(f *testing.F) {
	f.Add([]byte("lockdown,capability,apparmor"))
	f.Add([]byte(",,\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, n := range parseLSM(data) {
			if !validLSMName(n) {
				t.Fatalf("invalid LSM name %q", n)
			}
		}
	})
}

func FuzzParseStatusSeccomp(f *testing.F) {
	f.Add([]byte("Name:\tx\nPid:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\nnonvoluntary_ctxt_switches:\t1\n"))
	f.Add([]byte("Seccomp:\t-1\nSeccomp:"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := parseStatusSeccomp(data)
		if st.Mode < -1 || st.Mode > 2 || (!st.Present && st.Mode != -1) {
			t.Fatalf("impossible status %+v", st)
		}
	})
}

func FuzzParseCmdline(f *testing.F) {
	f.Add([]byte(`BOOT_IMAGE=/vmlinuz lsm="a,b" -- init`))
	f.Add([]byte(`"""-- "--"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range parseCmdline(data) {
			if p == "--" || strings.ContainsAny(p, "\"") {
				t.Fatalf("parameter %q kept a separator or quote", p)
			}
		}
	})
}
