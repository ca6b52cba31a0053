package virt

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardend/hardend/internal/check"
)

// TestFixtures runs Detect over our own fixture trees (testdata/, see its README
// for where each piece of evidence comes from): all answers must match exactly.
func TestFixtures(t *testing.T) {
	for _, c := range loadCases(t, "testdata") {
		t.Run(c.name, func(t *testing.T) {
			d := Detect(Source{Root: filepath.Join("testdata", c.name), Arch: c.arch, CPUID: &CPUID{Hypervisor: c.hvBit, Signature: c.sig}})
			got := [3]string{d.VM, d.Container, d.Default()}
			want := [3]string{c.vm, c.container, c.defaultValue}
			if got != want {
				t.Errorf("vm/container/default: got %v, want %v\nevidence:\n  %s", got, want, strings.Join(d.Evidence, "\n  "))
			}
			if d.VMErr != nil || d.ContainerErr != nil || len(d.Unreadable) > 0 || len(d.ContainerUnsure) > 0 {
				t.Errorf("fixture should be fully readable: vmErr=%v containerErr=%v unreadable=%v unsure=%v",
					d.VMErr, d.ContainerErr, d.Unreadable, d.ContainerUnsure)
			}
		})
	}
}

// TestFixtureChecks: what HD-VIRT-001..003 say about each fixture host.
func TestFixtureChecks(t *testing.T) {
	const (
		P = check.Pass
		F = check.Fail
		S = check.Skip
	)
	want := map[string][3]check.Status{
		"openvz7-container":     {F, P, P},
		"openvz6-container":     {F, P, P},
		"openvz7-node":          {P, P, P},
		"proxmox-lxc-in-kvm":    {F, P, P},
		"proxmox-lxc-baremetal": {F, P, P},
		"lxd-nested-in-kvm":     {F, P, P},
		"systemd-nspawn":        {F, P, P},
		"wsl2":                  {P, P, P},
		"wsl1":                  {P, P, P},
		"hetzner-cloud-x86":     {P, P, P},
		"hetzner-cloud-arm":     {P, P, P},
		"digitalocean-droplet":  {P, P, P},
		"ovh-vps":               {P, P, P},
		"firecracker":           {P, P, P},
		"docker-app-container":  {S, P, F},
	}
	cases := loadCases(t, "testdata")
	if len(cases) != len(want) {
		t.Fatalf("%d fixtures, %d expectations", len(cases), len(want))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := filepath.Join("testdata", c.name)
			d := Detect(Source{Root: root, Arch: c.arch, CPUID: &CPUID{Hypervisor: c.hvBit, Signature: c.sig}})
			res := Checks(d, root)
			if len(res) != 3 {
				t.Fatalf("%d results, want 3", len(res))
			}
			for i, r := range res {
				if r.ID != Definitions[i].ID || r.Area != "virt" || r.Subject != check.Host {
					t.Errorf("result %d: %s/%s/%v", i, r.ID, r.Area, r.Subject)
				}
				if r.Status != want[c.name][i] {
					t.Errorf("%s = %s, want %s: %s", r.ID, r.Status, want[c.name][i], r.Evidence)
				}
				if r.Evidence == "" {
					t.Errorf("%s %s without evidence", r.ID, r.Status)
				}
				if r.Status == check.Fail && r.Remediation == "" {
					t.Errorf("%s fails without remediation", r.ID)
				}
			}
			if r := res[0]; r.Status == check.Fail {
				for _, s := range []string{"shared", "kernel", c.container} {
					if !strings.Contains(r.Evidence, s) {
						t.Errorf("HD-VIRT-001 evidence lacks %q: %s", s, r.Evidence)
					}
				}
				if !strings.Contains(r.Remediation, "KVM") || r.Severity != check.Critical {
					t.Errorf("HD-VIRT-001: severity %s, remediation %q", r.Severity, r.Remediation)
				}
			}
			if r := res[2]; r.Status == check.Fail && !strings.Contains(r.Remediation, "--root") {
				t.Errorf("HD-VIRT-003 remediation lacks --root: %s", r.Remediation)
			}
		})
	}
}
