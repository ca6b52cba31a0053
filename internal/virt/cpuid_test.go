package virt

import (
	"runtime"
	"testing"
)

func TestParseCPUIDSignature(t *testing.T) {
	tests := []struct {
		sig string
		id  string
	}{
		{"XenVMMXenVMM", "xen"},
		{"KVMKVMKVM", "kvm"},
		{"KVMKVMKVM\x00\x00\x00", "kvm"},
		{"Linux KVM Hv", "kvm"},
		{"TCGTCGTCGTCG", "qemu"},
		{"VMwareVMware", "vmware"},
		{"Microsoft Hv", "microsoft"},
		{"bhyve bhyve ", "bhyve"},
		{"bhyve bhyve", "vm-other"}, // the trailing space is part of the signature
		{"QNXQVMBSQG", "qnx"},
		{"ACRNACRNACRN", "acrn"},
		{"SRESRESRESRE", "sre"},
		{"Apple VZ", "apple"},
		{"LKVMLKVMLKVM", "vm-other"},
		{"OpenBSDVMM58", "vm-other"},
		{"KVM\x00KVMKVM", "vm-other"},
		{"KVMKVMKVM\x00\x00\x00X", "vm-other"},
		{"", "vm-other"},
		{"?", "vm-other"},
	}
	for _, tt := range tests {
		if got := parseCPUIDSignature([]byte(tt.sig)); got != tt.id {
			t.Errorf("parseCPUIDSignature(%q) = %q, want %q", tt.sig, got, tt.id)
		}
	}
}

func TestSigFromRegisters(t *testing.T) {
	// "KVMKVMKVM\0\0\0" as KVM returns it in EBX, ECX, EDX.
	if got := sigFromRegisters(0x4b4d564b, 0x564b4d56, 0x0000004d); got != "KVMKVMKVM" {
		t.Errorf("sigFromRegisters = %q, want KVMKVMKVM", got)
	}
}

func TestLocalCPUID(t *testing.T) {
	c, ok := localCPUID()
	switch runtime.GOARCH {
	case "amd64", "386":
		if !ok {
			t.Fatal("CPUID must execute on x86")
		}
		if !c.Hypervisor && c.Signature != "" {
			t.Errorf("signature %q without the hypervisor bit", c.Signature)
		}
		t.Logf("this machine: %s", c)
	default:
		if ok {
			t.Errorf("CPUID executed on %s", runtime.GOARCH)
		}
	}
}

func FuzzParseCPUIDSignature(f *testing.F) {
	for _, e := range cpuidSignatures {
		f.Add([]byte(e.sig))
	}
	f.Fuzz(func(t *testing.T, sig []byte) {
		id := parseCPUIDSignature(sig)
		if id == vmOther {
			return
		}
		trimmed := string(sig)
		for len(trimmed) > 0 && trimmed[len(trimmed)-1] == 0 {
			trimmed = trimmed[:len(trimmed)-1]
		}
		for _, e := range cpuidSignatures {
			if e.sig == trimmed && e.id == id {
				return
			}
		}
		t.Fatalf("%q mapped to %s", sig, id)
	})
}
