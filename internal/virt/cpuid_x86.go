//go:build amd64 || 386

package virt

// cpuidRaw executes the CPUID instruction (cpuid_amd64.s, cpuid_386.s).
func cpuidRaw(leaf uint32) (eax, ebx, ecx, edx uint32)

// localCPUID executes CPUID on this machine the way systemd's detect_vm_cpuid()
// does: __get_cpuid(1) fails (no hypervisor) when leaf 0 reports no leaf 1; leaf
// 0x40000000 is read only when leaf 1 ECX bit 31 is set.
func localCPUID() (CPUID, bool) {
	maxLeaf, _, _, _ := cpuidRaw(0)
	if maxLeaf < 1 {
		return CPUID{}, true
	}
	_, _, ecx, _ := cpuidRaw(1)
	if ecx&(1<<31) == 0 {
		return CPUID{}, true
	}
	_, b, c, d := cpuidRaw(0x40000000)
	return CPUID{Hypervisor: true, Signature: sigFromRegisters(b, c, d)}, true
}
