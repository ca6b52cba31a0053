package virt

import "fmt"

// CPUID is what the two CPUID leaves systemd consults say: leaf 1 ECX bit 31 (a
// hypervisor is present) and the 12-byte vendor signature of leaf 0x40000000
// (EBX, ECX, EDX), trailing NULs trimmed.
type CPUID struct {
	Hypervisor bool
	Signature  string
}

// String renders the CPUID for evidence.
func (c CPUID) String() string {
	if !c.Hypervisor {
		return "CPUID leaf 1 ECX bit 31 (hypervisor) clear"
	}
	return fmt.Sprintf("CPUID leaf 1 ECX bit 31 (hypervisor) set, leaf 0x40000000 signature %q", c.Signature)
}

// cpuidSignatures is systemd 252.38's vm_table[] in detect_vm_cpuid(), in order.
var cpuidSignatures = []struct {
	sig string
	id  string
}{
	{"XenVMMXenVMM", "xen"},
	{"KVMKVMKVM", "kvm"},    // qemu with KVM
	{"Linux KVM Hv", "kvm"}, // qemu with KVM + Hyper-V enlightenments
	{"TCGTCGTCGTCG", "qemu"},
	{"VMwareVMware", "vmware"},
	{"Microsoft Hv", "microsoft"},
	{"bhyve bhyve ", "bhyve"},
	{"QNXQVMBSQG", "qnx"},
	{"ACRNACRNACRN", "acrn"},
	{"SRESRESRESRE", "sre"},
	{"Apple VZ", "apple"},
}

// parseCPUIDSignature maps a leaf 0x40000000 signature to systemd's id. systemd
// compares all 13 bytes of the NUL-padded register text with memcmp(), so a
// signature matches only if it equals a table entry once trailing NULs are
// dropped; anything else (including more than 12 bytes, which no register triple
// can hold) is an unknown hypervisor: "vm-other".
func parseCPUIDSignature(sig []byte) string {
	for len(sig) > 0 && sig[len(sig)-1] == 0 {
		sig = sig[:len(sig)-1]
	}
	if len(sig) <= 12 {
		for _, e := range cpuidSignatures {
			if string(sig) == e.sig {
				return e.id
			}
		}
	}
	return vmOther
}

// sigFromRegisters builds the 12 signature bytes from EBX, ECX, EDX like systemd's
// union (little-endian), trailing NULs trimmed.
func sigFromRegisters(ebx, ecx, edx uint32) string {
	b := make([]byte, 0, 12)
	for _, r := range []uint32{ebx, ecx, edx} {
		b = append(b, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}
