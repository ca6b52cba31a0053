//go:build !amd64 && !386

package virt

// localCPUID reports that CPUID cannot be executed here: not an x86 machine.
func localCPUID() (CPUID, bool) { return CPUID{}, false }
