package kernel

import (
	"strings"
	"testing"

	"github.com/hardend/hardend/internal/check"
)

func TestParseSysctlInt(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1\n", 1, false},
		{"0", 0, false},
		{"  2 \n", 2, false},
		{"96367\n", 96367, false},
		{"-1\n", -1, false},
		{"+1\n", 1, false},
		{"", 0, true},
		{" \n", 0, true},
		{"abc\n", 0, true},
		{"1 2\n", 0, true},
		{"0x1\n", 0, true},
		{"1\x00\n", 0, true},
		{"99999999999999999999999\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSysctlInt([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseSysctlInt(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCheckBridge(t *testing.T) {
	const ipt, ip6 = "proc/sys/net/bridge/bridge-nf-call-iptables", "proc/sys/net/bridge/bridge-nf-call-ip6tables"
	base := map[string]string{"proc/sys/kernel/osrelease": "6.1.0\n", "proc/sys/net/core/somaxconn": "4096\n"}
	tree := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	rel61, _ := parseRelease("6.1.0")
	rel419, _ := parseRelease("4.19.0")
	tests := []struct {
		name     string
		files    map[string]string
		pub      Tristate
		brnf     string
		rel      *release
		want     [2]check.Status
		evidence string // substring of the first result
	}{
		{"both 1", tree(map[string]string{ipt: "1\n", ip6: "1\n"}), Yes, ModLoaded, &rel61, [2]check.Status{check.Pass, check.Pass}, "= 1"},
		{"iptables 0", tree(map[string]string{ipt: "0\n", ip6: "1\n"}), Yes, ModLoaded, &rel61, [2]check.Status{check.Fail, check.Pass}, "DOCKER-USER"},
		{"unknown publishing fails with the assumption", tree(map[string]string{ipt: "0\n", ip6: "0\n"}), Unknown, ModLoaded, &rel61, [2]check.Status{check.Fail, check.Fail}, "assumed"},
		{"no publishing passes", tree(map[string]string{ipt: "0\n", ip6: "0\n"}), No, ModLoaded, &rel61, [2]check.Status{check.Pass, check.Pass}, "no container publishing"},
		{"no publishing, unreadable, still passes", tree(nil), No, ModUnknown, &rel61, [2]check.Status{check.Pass, check.Pass}, "no such file"},
		{"br_netfilter not loaded", tree(nil), Yes, ModLoadable, &rel61, [2]check.Status{check.Fail, check.Fail}, "br_netfilter is not loaded"},
		{"br_netfilter unknown, old kernel: fail with caveat", tree(nil), Yes, ModUnknown, &rel419, [2]check.Status{check.Fail, check.Fail}, "before 5.3"},
		{"loaded but sysctls hidden", tree(nil), Yes, ModLoaded, &rel419, [2]check.Status{check.Error, check.Error}, "not visible here"},
		{"dir present, file missing", tree(map[string]string{"proc/sys/net/bridge/bridge-nf-call-arptables": "1\n"}), Yes, ModLoaded, &rel61, [2]check.Status{check.Error, check.Error}, "cannot read"},
		{"no procfs at all", nil, Yes, ModLoadable, &rel61, [2]check.Status{check.Error, check.Error}, "no procfs"},
		{"garbage", tree(map[string]string{ipt: "yes\n", ip6: "\n"}), Yes, ModLoaded, &rel61, [2]check.Status{check.Error, check.Error}, "not a single integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facts := map[string]string{}
			res := checkBridge(writeTree(t, tt.files), Options{Publishing: tt.pub}, ModuleFact{Name: "br_netfilter", State: tt.brnf, Evidence: "test"}, tt.rel, facts)
			if len(res) != 2 {
				t.Fatalf("%d results, want 2", len(res))
			}
			for i, r := range res {
				if r.Status != tt.want[i] {
					t.Errorf("%s: %s (%s), want %s", r.Subject.Name, r.Status, r.Evidence, tt.want[i])
				}
				if r.Status == check.Fail && !strings.Contains(r.Remediation, "sysctl -w "+r.Subject.Name+"=1") {
					t.Errorf("%s: remediation %q", r.Subject.Name, r.Remediation)
				}
			}
			if !strings.Contains(res[0].Evidence, tt.evidence) {
				t.Errorf("evidence %q lacks %q", res[0].Evidence, tt.evidence)
			}
		})
	}
}

func TestCheckLeaks(t *testing.T) {
	const kp, dm, bpf = "proc/sys/kernel/kptr_restrict", "proc/sys/kernel/dmesg_restrict", "proc/sys/kernel/unprivileged_bpf_disabled"
	rel44, _ := parseRelease("4.4.0")
	rel310, _ := parseRelease("3.10.0-1160.el7.x86_64")
	tests := []struct {
		name  string
		files map[string]string
		cfg   kconfig
		rel   *release
		want  [3]check.Status
	}{
		{"all strict", map[string]string{kp: "1", dm: "1", bpf: "1"}, nil, &rel44, [3]check.Status{check.Pass, check.Pass, check.Pass}},
		{"kptr 2, bpf 2", map[string]string{kp: "2", dm: "1", bpf: "2"}, nil, &rel44, [3]check.Status{check.Pass, check.Pass, check.Pass}},
		{"all weak", map[string]string{kp: "0", dm: "0", bpf: "0"}, nil, &rel44, [3]check.Status{check.Fail, check.Fail, check.Fail}},
		{"dmesg 2 is not 1", map[string]string{kp: "1", dm: "2", bpf: "1"}, nil, &rel44, [3]check.Status{check.Pass, check.Fail, check.Pass}},
		{"bpf knob absent, no bpf syscall", map[string]string{kp: "1", dm: "1"}, kconfig{"CONFIG_BPF_SYSCALL": "n"}, &rel44, [3]check.Status{check.Pass, check.Pass, check.Pass}},
		{"bpf knob absent, old kernel", map[string]string{kp: "1", dm: "1"}, kconfig{"CONFIG_BPF_SYSCALL": "y"}, &rel310, [3]check.Status{check.Pass, check.Pass, check.Skip}},
		{"bpf knob absent, new kernel", map[string]string{kp: "1", dm: "1"}, nil, &rel44, [3]check.Status{check.Pass, check.Pass, check.Error}},
		{"nothing readable", nil, nil, nil, [3]check.Status{check.Error, check.Error, check.Error}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checkLeaks(writeTree(t, tt.files), tt.cfg, "boot/config", tt.rel, map[string]string{})
			if len(res) != 3 {
				t.Fatalf("%d results, want 3", len(res))
			}
			for i, r := range res {
				if r.Status != tt.want[i] {
					t.Errorf("%s: %s (%s), want %s", r.Subject.Name, r.Status, r.Evidence, tt.want[i])
				}
				if r.Status == check.Fail && !strings.Contains(r.Remediation, "sysctl -w "+r.Subject.Name+"=") ||
					r.Status == check.Fail && !strings.Contains(r.Remediation, "/etc/sysctl.d/") {
					t.Errorf("%s: remediation %q", r.Subject.Name, r.Remediation)
				}
			}
		})
	}
}

func FuzzParseSysctlInt(f *testing.F) {
	for _, s := range []string{"1\n", "-1", " 2 ", "", "1 2", "0x1", "99999999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseSysctlInt(data)
		if err != nil && v != 0 {
			t.Fatalf("value %d with error %v", v, err)
		}
	})
}
