package kernel

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
)

func TestParseRelease(t *testing.T) {
	tests := []struct {
		name, in string
		want     release
		wantErr  bool
		series   string
		vendor   string // substring of vendorNote, "" for none
	}{
		{name: "this machine", in: "6.18.44-fc-v1300", want: release{Major: 6, Minor: 18, Patch: 44, Local: "-fc-v1300"}, series: "6.18"},
		{name: "debian 11", in: "5.10.0-28-amd64", want: release{Major: 5, Minor: 10, Patch: 0, Local: "-28-amd64"}, series: "5.10"},
		{name: "rhel 8", in: "4.18.0-553.el8_10.x86_64", want: release{Major: 4, Minor: 18, Local: "-553.el8_10.x86_64"}, series: "4.18", vendor: "Red Hat Enterprise Linux 8"},
		{name: "rhel 7", in: "3.10.0-1160.el7.x86_64", want: release{Major: 3, Minor: 10, Local: "-1160.el7.x86_64"}, series: "3.10", vendor: "Red Hat Enterprise Linux 7"},
		{name: "openvz 6", in: "2.6.32-042stab145.3", want: release{Major: 2, Minor: 6, Patch: 32, Local: "-042stab145.3"}, series: "2.6.32", vendor: "OpenVZ 6"},
		{name: "virtuozzo 7", in: "3.10.0-1160.21.1.vz7.174.10", want: release{Major: 3, Minor: 10, Local: "-1160.21.1.vz7.174.10"}, series: "3.10", vendor: "Virtuozzo"},
		{name: "ubuntu", in: "5.15.0-91-generic", want: release{Major: 5, Minor: 15, Local: "-91-generic"}, series: "5.15"},
		{name: "two numbers", in: "3.10", want: release{Major: 3, Minor: 10}, series: "3.10"},
		{name: "plus suffix", in: "6.8.0+", want: release{Major: 6, Minor: 8, Local: "+"}, series: "6.8"},
		{name: "four numbers", in: "6.1.0.5", want: release{Major: 6, Minor: 1, Local: ".5"}, series: "6.1"},
		{name: "rc", in: "6.19.0-rc3", want: release{Major: 6, Minor: 19, Local: "-rc3"}, series: "6.19"},
		{name: "empty", in: "", wantErr: true},
		{name: "one number", in: "6", wantErr: true},
		{name: "words", in: "linux", wantErr: true},
		{name: "slash", in: "6.1.0/../../etc", wantErr: true},
		{name: "dot dot", in: "6.1..0", wantErr: true},
		{name: "space", in: "6.1.0 x", wantErr: true},
		{name: "nul", in: "6.1.0\x00", wantErr: true},
		{name: "too long", in: "6.1." + strings.Repeat("9", 200), wantErr: true},
		{name: "huge number", in: "99999999999.1", wantErr: true},
		{name: "trailing dot", in: "6.", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRelease(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseRelease(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			tt.want.Raw = tt.in
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseRelease(%q) (-want +got):\n%s", tt.in, diff)
			}
			if s := got.series(); s != tt.series {
				t.Errorf("series() = %q, want %q", s, tt.series)
			}
			note := got.vendorNote()
			if (tt.vendor == "") != (note == "") || !strings.Contains(note, tt.vendor) {
				t.Errorf("vendorNote() = %q, want it to mention %q", note, tt.vendor)
			}
		})
	}
}

func TestOldestSupportedLTS(t *testing.T) {
	tests := []struct {
		name   string
		day    time.Time
		want   string
		wantOK bool
	}{
		{"issue date", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "5.10", true},
		{"last day of 5.10", time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), "5.10", true},
		{"after 5.10 and 5.15", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "6.1", true},
		{"2025, 5.4 still in", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "5.4", true},
		{"2029, table stale", time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := oldestSupportedLTS(tt.day)
			got := ""
			if ok {
				got = release{Major: e.Major, Minor: e.Minor}.series()
			}
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("oldestSupportedLTS(%s) = %q, %v; want %q, %v", tt.day.Format(time.DateOnly), got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCheckRelease(t *testing.T) {
	tests := []struct {
		name     string
		rel      string
		day      time.Time
		status   check.Status
		severity check.Severity
		evidence string // substring
	}{
		{"6.18 passes", "6.18.44-fc-v1300", testNow, check.Pass, check.Critical, "not older than 5.10"},
		{"5.10 passes in its last month", "5.10.0-28-amd64", testNow, check.Pass, check.Critical, "5.10"},
		{"5.10 fails a month later", "5.10.0-28-amd64", time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), check.Fail, check.Medium, "older than 6.1"},
		{"rhel 8 medium with backport note", "4.18.0-553.el8_10.x86_64", testNow, check.Fail, check.Medium, "backports"},
		{"rhel 7 medium", "3.10.0-1160.el7.x86_64", testNow, check.Fail, check.Medium, "Red Hat Enterprise Linux 7"},
		{"openvz 6 critical", "2.6.32-042stab145.3", testNow, check.Fail, check.Critical, "older than 3.10"},
		{"3.9 critical", "3.9.11", testNow, check.Fail, check.Critical, "oldest kernel Docker supports"},
		{"stale table still decides", "6.1.0-28-amd64", time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), check.Fail, check.Medium, "out of date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel, err := parseRelease(tt.rel)
			if err != nil {
				t.Fatal(err)
			}
			r := checkRelease(rel, nil, "proc/sys/kernel/osrelease", tt.day)
			if r.Status != tt.status || r.Severity != tt.severity || !strings.Contains(r.Evidence, tt.evidence) {
				t.Errorf("checkRelease(%s) = %s/%s %q; want %s/%s containing %q", tt.rel, r.Status, r.Severity, r.Evidence, tt.status, tt.severity, tt.evidence)
			}
			if r.Subject.ID != tt.rel || r.Subject.Name != "kernel" {
				t.Errorf("subject = %+v, want name kernel, id %s", r.Subject, tt.rel)
			}
			if r.Status == check.Fail && r.Remediation == "" {
				t.Error("a failure without remediation")
			}
		})
	}
	r := checkRelease(release{}, errBadRelease, "proc/sys/kernel/osrelease", testNow)
	if r.Status != check.Error {
		t.Errorf("unknown release: status %s, want error", r.Status)
	}
}

func TestReadRelease(t *testing.T) {
	h := writeTree(t, map[string]string{"proc/sys/kernel/osrelease": "6.1.0-28-amd64\n"})
	raw, src, err := readRelease(h)
	if raw != "6.1.0-28-amd64" || src != "proc/sys/kernel/osrelease" || err != nil {
		t.Errorf("readRelease = %q, %q, %v", raw, src, err)
	}
	// Not the live root: no uname fallback, whatever this machine runs.
	if raw, _, err := readRelease(writeTree(t, nil)); err == nil {
		t.Errorf("readRelease on an empty tree = %q, want an error", raw)
	}
}

func FuzzParseRelease(f *testing.F) {
	for _, s := range []string{"6.18.44-fc-v1300", "5.10.0-28-amd64", "4.18.0-553.el8_10.x86_64", "3.10.0-1160.el7.x86_64",
		"2.6.32-042stab145.3", "3.10", "6.8.0+", "", "6.", "..", "1.2.3.4.5", "0.0.0-.el"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRelease(s)
		if err != nil {
			return
		}
		if r.Raw != s || strings.ContainsAny(s, "/ \x00") || strings.Contains(s, "..") {
			t.Fatalf("accepted %q as %+v: unsafe in a path", s, r)
		}
		if r.Major < 0 || r.Minor < 0 || r.Patch < 0 {
			t.Fatalf("negative version in %+v", r)
		}
		_ = r.series()
		_ = r.vendorNote()
	})
}

func TestUnameRelease(t *testing.T) {
	want, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Skipf("no procfs here: %v", err)
	}
	got, err := unameRelease()
	if err != nil || got != strings.TrimSpace(string(want)) {
		t.Errorf("unameRelease() = %q, %v; want %q", got, err, strings.TrimSpace(string(want)))
	}
}
