package kernel

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
)

func TestParseMountsCgroup(t *testing.T) {
	tests := []struct {
		name, in string
		want     cgroupMounts
		mode     string
	}{
		{"unified", "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\nproc /proc proc rw 0 0\n",
			cgroupMounts{V2: []string{"/sys/fs/cgroup"}, Entries: 2}, CgroupV2},
		{"hybrid (this machine)", "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n",
			cgroupMounts{V1: []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory"}, V2: []string{"/sys/fs/cgroup/unified"}, Entries: 4}, CgroupHybrid},
		{"legacy", "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n", cgroupMounts{V1: []string{"/sys/fs/cgroup/memory"}, Entries: 1}, CgroupV1},
		{"v1 elsewhere does not count", "cgroup /cgroup/memory cgroup rw 0 0\n", cgroupMounts{V1: []string{"/cgroup/memory"}, Entries: 1}, CgroupNone},
		{"no cgroups", "/dev/simfs / simfs rw 0 0\n", cgroupMounts{Entries: 1}, CgroupNone},
		{"short lines ignored", "cgroup\ncgroup2\ncgroup2 /sys/fs/cgroup cgroup2\n", cgroupMounts{}, CgroupNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseMountsCgroup([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if m := got.mode(); m != tt.mode {
				t.Errorf("mode() = %s, want %s", m, tt.mode)
			}
		})
	}
}

func TestReadCgroup(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"pid 1 mounts first", map[string]string{"proc/1/mounts": "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n", "proc/self/mounts": "cgroup /sys/fs/cgroup/memory cgroup rw 0 0\n"}, CgroupV2},
		{"self mounts fallback", map[string]string{"proc/self/mounts": "cgroup /sys/fs/cgroup/memory cgroup rw 0 0\n"}, CgroupV1},
		{"garbage mounts, sysfs unified", map[string]string{"proc/1/mounts": "\x00\xff", "sys/fs/cgroup/cgroup.controllers": "cpu memory\n"}, CgroupV2},
		{"sysfs hybrid", map[string]string{"sys/fs/cgroup/memory/tasks": "1\n", "sys/fs/cgroup/unified/cgroup.controllers": ""}, CgroupHybrid},
		{"sysfs legacy", map[string]string{"sys/fs/cgroup/pids/tasks": "1\n"}, CgroupV1},
		{"mounts without cgroups", map[string]string{"proc/mounts": "/dev/simfs / simfs rw 0 0\n"}, CgroupNone},
		{"nothing", nil, CgroupUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ev := readCgroup(writeTree(t, tt.files))
			if got != tt.want {
				t.Errorf("readCgroup = %s (%s), want %s", got, ev, tt.want)
			}
		})
	}
}

func TestDecideUserNS(t *testing.T) {
	const max = "proc/sys/user/max_user_namespaces"
	tests := []struct {
		name  string
		files map[string]string
		cfg   kconfig
		rel   string
		want  string
	}{
		{"config y, limit set", map[string]string{max: "15000\n"}, kconfig{"CONFIG_USER_NS": "y"}, "6.1.0", UserNSAvailable},
		{"limit 0 (RHEL 7 default)", map[string]string{max: "0\n"}, kconfig{"CONFIG_USER_NS": "y"}, "3.10.0-1160.el7.x86_64", UserNSDisabled},
		{"config not set", map[string]string{max: "15000\n"}, kconfig{"CONFIG_USER_NS": "n"}, "6.1.0", UserNSUnavailable},
		{"ns file, limit set", map[string]string{max: "100\n", "proc/self/ns/user": "user:[1]"}, nil, "6.1.0", UserNSAvailable},
		{"limit set but nothing shows it is built", map[string]string{max: "100\n"}, nil, "6.1.0", UserNSUnknown},
		{"built, limit unreadable on 6.1", map[string]string{"proc/self/ns/user": "user:[1]"}, nil, "6.1.0", UserNSUnknown},
		{"built, no limit before 4.9", map[string]string{"proc/self/ns/user": "user:[1]"}, nil, "4.4.0", UserNSAvailable},
		{"built, no limit, RHEL backport: unknown", map[string]string{"proc/self/ns/user": "user:[1]"}, nil, "3.10.0-1160.el7.x86_64", UserNSUnknown},
		{"2.6.32", nil, nil, "2.6.32-042stab145.3", UserNSUnavailable},
		{"negative limit", map[string]string{max: "-1\n"}, kconfig{"CONFIG_USER_NS": "y"}, "6.1.0", UserNSUnknown},
		{"nothing", nil, nil, "", UserNSUnknown},
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
			got, ev := decideUserNS(writeTree(t, tt.files), tt.cfg, "boot/config", rel, map[string]string{})
			if got != tt.want {
				t.Errorf("decideUserNS = %s (%s), want %s", got, ev, tt.want)
			}
		})
	}
}

func TestCheckIsolation(t *testing.T) {
	tests := []struct {
		userns, cg string
		want       [2]check.Status
	}{
		{UserNSAvailable, CgroupV2, [2]check.Status{check.Pass, check.Pass}},
		{UserNSDisabled, CgroupHybrid, [2]check.Status{check.Fail, check.Fail}},
		{UserNSUnavailable, CgroupV1, [2]check.Status{check.Fail, check.Fail}},
		{UserNSUnknown, CgroupNone, [2]check.Status{check.Error, check.Error}},
		{UserNSUnknown, CgroupUnknown, [2]check.Status{check.Error, check.Error}},
	}
	for _, tt := range tests {
		t.Run(tt.userns+"/"+tt.cg, func(t *testing.T) {
			res := checkIsolation(tt.userns, "ev", tt.cg, "ev")
			for i, r := range res {
				if r.Status != tt.want[i] || r.Severity != check.Info {
					t.Errorf("%s: %s/%s, want %s/info", r.Subject.Name, r.Status, r.Severity, tt.want[i])
				}
			}
			if res[0].Status == check.Fail && tt.userns == UserNSDisabled && !strings.Contains(res[0].Remediation, "user.max_user_namespaces") {
				t.Errorf("remediation %q", res[0].Remediation)
			}
		})
	}
}

func FuzzParseMountsCgroup(f *testing.F) {
	f.Add([]byte("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"))
	f.Add([]byte("tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := parseMountsCgroup(data)
		if len(m.V1)+len(m.V2) > m.Entries {
			t.Fatalf("%d cgroup mounts from %d entries", len(m.V1)+len(m.V2), m.Entries)
		}
		switch m.mode() {
		case CgroupV2, CgroupHybrid, CgroupV1, CgroupNone:
		default:
			t.Fatalf("mode %q", m.mode())
		}
	})
}
