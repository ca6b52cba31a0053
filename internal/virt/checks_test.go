package virt

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
)

func TestDefinitions(t *testing.T) {
	want := []struct {
		id  string
		sev check.Severity
	}{{"HD-VIRT-001", check.Critical}, {"HD-VIRT-002", check.Info}, {"HD-VIRT-003", check.Medium}}
	if len(Definitions) != len(want) {
		t.Fatalf("%d definitions, want %d", len(Definitions), len(want))
	}
	catalogue, err := os.ReadFile("../../../shared/design/CHECKS.md")
	for i, d := range Definitions {
		if d.ID != want[i].id || d.Severity != want[i].sev || d.Area != "virt" || d.Title == "" {
			t.Errorf("definition %d = %+v", i, d)
		}
		if err != nil {
			continue
		}
		// The catalogue row carries the same default severity.
		for _, line := range strings.Split(string(catalogue), "\n") {
			if strings.Contains(line, d.ID) && !strings.Contains(line, "| "+d.Severity.String()+" |") {
				t.Errorf("CHECKS.md row for %s does not say %s: %s", d.ID, d.Severity, line)
			}
		}
	}
}

func statuses(res []check.Result) [3]check.Status {
	return [3]check.Status{res[0].Status, res[1].Status, res[2].Status}
}

func TestChecks(t *testing.T) {
	const (
		P = check.Pass
		F = check.Fail
		S = check.Skip
		E = check.Error
	)
	kvm := func(c string) Detection { return Detection{VM: "kvm", Container: c, Root: "/"} }
	tests := []struct {
		name     string
		det      Detection
		root     string
		want     [3]check.Status
		contains [3]string // substrings expected in evidence (or remediation for fails)
	}{
		{name: "kvm host", det: Detection{VM: "kvm", Container: "none", PID1: "systemd"}, root: "/", want: [3]check.Status{P, P, P},
			contains: [3]string{"not a shared-kernel OS container", "would print kvm", "runs on the host"}},
		{name: "bare metal", det: Detection{VM: "none", Container: "none", PID1: "systemd"}, root: "/", want: [3]check.Status{P, P, P}},
		{name: "openvz", det: Detection{VM: "none", Container: "openvz", PID1: "init"}, root: "/", want: [3]check.Status{F, P, P},
			contains: [3]string{"noisy neighbours", "", ""}},
		{name: "lxc-libvirt", det: kvm("lxc-libvirt"), root: "/host", want: [3]check.Status{F, P, P}, contains: [3]string{"lxc-libvirt", "", "/host"}},
		{name: "nspawn", det: kvm("systemd-nspawn"), root: "/", want: [3]check.Status{F, P, P}},
		{name: "docker at /", det: Detection{VM: "kvm", Container: "docker", PID1: "node", Markers: []string{"/.dockerenv"}}, root: "/",
			want: [3]check.Status{S, P, F}, contains: [3]string{"HD-VIRT-003", "", "--root /host"}},
		{name: "docker tree at /host", det: Detection{VM: "kvm", Container: "docker", PID1: "node", Markers: []string{"/.dockerenv"}}, root: "/host",
			want: [3]check.Status{S, P, F}, contains: [3]string{"", "", "Point --root at the host's root"}},
		{name: "podman", det: kvm("podman"), root: "/", want: [3]check.Status{S, P, F}},
		{name: "proot", det: Detection{VM: "none", Container: "proot"}, root: "/", want: [3]check.Status{S, P, F}},
		{name: "kubernetes pod", det: Detection{VM: "kvm", Container: "container-other", PID1: "nginx"}, root: "/",
			want: [3]check.Status{S, F, F}, contains: [3]string{"application", "unknown", "nginx"}},
		{name: "unknown manager with an init", det: Detection{VM: "kvm", Container: "container-other", PID1: "systemd"}, root: "/",
			want: [3]check.Status{F, F, P}, contains: [3]string{"unrecognized", "", ""}},
		{name: "unknown manager, PID 1 unknown", det: Detection{VM: "kvm", Container: "container-other"}, root: "/",
			want: [3]check.Status{F, F, P}},
		{name: "openvz seen through docker", det: Detection{VM: "none", Container: "openvz", PID1: "hardend", Markers: []string{"/.dockerenv"}}, root: "/",
			want: [3]check.Status{F, P, F}, contains: [3]string{"openvz", "", "hardend"}},
		{name: "stale marker under an init", det: Detection{VM: "kvm", Container: "lxc", PID1: "systemd", Markers: []string{"/.dockerenv"}}, root: "/",
			want: [3]check.Status{F, P, P}, contains: [3]string{"", "", "leftover"}},
		{name: "wsl", det: Detection{VM: "microsoft", Container: "wsl", PID1: "init"}, root: "/", want: [3]check.Status{P, P, P},
			contains: [3]string{"Hyper-V", "", ""}},
		{name: "vm-other", det: Detection{VM: "vm-other", Container: "none", PID1: "systemd"}, root: "/", want: [3]check.Status{P, F, P},
			contains: [3]string{"", "unknown", ""}},
		{name: "container unsure", det: Detection{VM: "kvm", Container: "none", ContainerUnsure: []string{"PID 1's environment is not readable"},
			Unreadable: []string{"/proc/1/environ: permission denied"}}, root: "/", want: [3]check.Status{E, F, E},
			contains: [3]string{"permission denied", "not readable", "not readable"}},
		{name: "container unsure but PID 1 is an init and no markers", det: Detection{VM: "kvm", Container: "none", PID1: "systemd",
			ContainerUnsure: []string{"cannot check for OpenVZ"}}, root: "/", want: [3]check.Status{E, F, P}},
		{name: "container error", det: Detection{VM: "kvm", ContainerErr: errors.New("read /run/systemd/container: is a directory")}, root: "/",
			want: [3]check.Status{E, F, E}, contains: [3]string{"is a directory", "would too", ""}},
		{name: "vm error", det: Detection{VMErr: errors.New("read cpuinfo: permission denied"), Container: "none", PID1: "systemd"}, root: "/",
			want: [3]check.Status{P, F, P}, contains: [3]string{"could not be detected", "permission denied", ""}},
		{name: "cpuid unavailable", det: Detection{VM: "none", Container: "none", PID1: "systemd", VMUnsure: []string{"CPUID can neither be executed"}},
			root: "/", want: [3]check.Status{P, F, P}},
		{name: "zero detection", det: Detection{}, root: "", want: [3]check.Status{E, F, E}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Checks(tt.det, tt.root)
			if diff := cmp.Diff(tt.want, statuses(res)); diff != "" {
				for _, r := range res {
					t.Logf("%s %s: %s", r.ID, r.Status, r.Evidence)
				}
				t.Fatalf("statuses (-want +got):\n%s", diff)
			}
			for i, r := range res {
				text := r.Evidence + " " + r.Remediation
				if tt.contains[i] != "" && !strings.Contains(text, tt.contains[i]) {
					t.Errorf("%s lacks %q: %s", r.ID, tt.contains[i], text)
				}
				if r.Status == check.Fail && r.Remediation == "" {
					t.Errorf("%s fails without remediation", r.ID)
				}
				if r.Status == check.Pass && (r.Severity != Definitions[i].Severity) {
					t.Errorf("%s severity %s", r.ID, r.Severity)
				}
			}
		})
	}
}
