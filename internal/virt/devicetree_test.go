package virt

import (
	"strings"
	"testing"
)

func TestParseDTHypervisor(t *testing.T) {
	tests := []struct{ in, compat, id string }{
		{"linux,kvm\x00", "linux,kvm", "kvm"},
		{"linux,kvm-x\x00", "linux,kvm-x", "vm-other"},
		{"xen,xen-4.12\x00xen,xen\x00", "xen,xen-4.12", "xen"},
		{"vmware\x00", "vmware", "vmware"},
		{"ibm,powervm\x00", "ibm,powervm", "vm-other"},
		{"", "", "vm-other"},
	}
	for _, tt := range tests {
		compat, id, err := parseDTHypervisor([]byte(tt.in))
		if err != nil || compat != tt.compat || id != tt.id {
			t.Errorf("parseDTHypervisor(%q) = %q, %q, %v; want %q, %q", tt.in, compat, id, err, tt.compat, tt.id)
		}
	}
}

func TestParseDTCompatible(t *testing.T) {
	for in, want := range map[string]bool{
		"qemu,pseries\x00":            true,
		"IBM,9009-42A\x00ibm,powernv": false,
		"qemu,pseries-x":              false,
		"":                            false,
	} {
		if _, got, err := parseDTCompatible([]byte(in)); err != nil || got != want {
			t.Errorf("parseDTCompatible(%q) = %t, %v; want %t", in, got, err, want)
		}
	}
}

func TestDTFwCfgNode(t *testing.T) {
	for name, want := range map[string]bool{
		"fw-cfg@9020000":     true,
		"fw-cfg":             true,
		"xfw-cfgx":           true,
		".fw-cfg@9020000":    false, // hidden
		"fw-cfg~":            false, // backup
		"fw-cfg.dpkg-old":    false,
		"fw-cfg@1.bak":       false,
		"fw-cfg@9020000.old": false,
		"fw-cfg@9.0":         true,
		"pl011@9000000":      false,
	} {
		if got := dtFwCfgNode(name); got != want {
			t.Errorf("dtFwCfgNode(%q) = %t, want %t", name, got, want)
		}
	}
}

func FuzzParseDeviceTree(f *testing.F) {
	f.Add([]byte("linux,kvm\x00"), "fw-cfg@9020000")
	f.Add([]byte("xen,xen\x00"), ".fw-cfg")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		compat, id, err := parseDTHypervisor(data)
		if err != nil {
			t.Fatal(err)
		}
		switch id {
		case "kvm":
			if compat != "linux,kvm" {
				t.Fatalf("%q is kvm", compat)
			}
		case "xen", "vmware":
			if !strings.Contains(compat, id) {
				t.Fatalf("%q is %s", compat, id)
			}
		case vmOther:
		default:
			t.Fatalf("unexpected id %q", id)
		}
		if _, _, err := parseDTCompatible(data); err != nil {
			t.Fatal(err)
		}
		if dtFwCfgNode(name) && (!strings.Contains(name, "fw-cfg") || strings.HasPrefix(name, ".")) {
			t.Fatalf("%q taken as fw-cfg", name)
		}
	})
}
