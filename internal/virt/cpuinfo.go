package virt

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"syscall"
)

// cpuInfo is what /proc/cpuinfo tells the detector.
type cpuInfo struct {
	// VendorID is the value of the first "vendor_id\t: " line ("" if none came
	// before the scan stopped); UML is systemd's detect_vm_uml() verdict on it.
	VendorID string
	UML      bool
	// HypervisorFlag: the first "flags" line lists "hypervisor" (CPUID.1:ECX[31]
	// as the kernel saw it). systemd 252 does not use it; hardend reports it as
	// evidence next to CPUID, e.g. when an injected CPUID disagrees with a capture.
	HypervisorFlag, HaveFlags bool
}

// scanCPUInfo reads cpuinfo like detect_vm_uml(): line by line with read_line(),
// stopping at the first line that starts with "vendor_id\t: ". err is the error
// systemd would return (a read error or an over-long line before that point); the
// evidence-only scan for "flags" continues after it and never fails.
//
// One deliberate deviation: systemd reads an endless file (say /dev/zero planted as
// /proc/cpuinfo) forever; we give up with EFBIG after cpuinfoMax bytes, far beyond
// any real cpuinfo (about 1.5 KiB per CPU).
func scanCPUInfo(r io.Reader) (cpuInfo, error) {
	return scanCPUInfoMax(r, cpuinfoMax)
}

func scanCPUInfoMax(r io.Reader, max int) (cpuInfo, error) {
	var ci cpuInfo
	br := bufio.NewReader(r)
	umlDone := false
	total := 0
	for {
		if total > max {
			if !umlDone {
				return ci, syscall.EFBIG
			}
			return ci, nil
		}
		line, n, err := readLine(br, longLineMax, false)
		if err != nil {
			if !umlDone {
				return ci, err
			}
			return ci, nil
		}
		if n == 0 {
			return ci, nil
		}
		total += n
		if !umlDone {
			if t, ok := strings.CutPrefix(line, "vendor_id\t: "); ok {
				ci.VendorID = t
				ci.UML = strings.HasPrefix(t, "User Mode Linux")
				umlDone = true
			}
		}
		if !ci.HaveFlags && strings.HasPrefix(line, "flags") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				ci.HaveFlags = true
				for _, f := range strings.Fields(v) {
					if f == "hypervisor" {
						ci.HypervisorFlag = true
					}
				}
			}
		}
		if umlDone && ci.HaveFlags {
			return ci, nil
		}
	}
}

// parseCPUInfo is scanCPUInfo on bytes.
func parseCPUInfo(data []byte) (cpuInfo, error) {
	return scanCPUInfo(bytes.NewReader(data))
}
