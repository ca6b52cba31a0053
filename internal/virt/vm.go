package virt

import "fmt"

// detectVM is systemd 252's detect_vm(), in its order:
//
//  1. DMI, but only Oracle, Xen, Amazon, Parallels and Google win here, "even if
//     they use KVM" (and Xen even when it cloaks as Hyper-V);
//  2. User-Mode Linux from /proc/cpuinfo;
//  3. Xen from /proc/xen: a domU is Xen; a dom0 is not a VM unless CPUID, checked
//     next, finds a hypervisor underneath;
//  4. CPUID (x86): the hypervisor bit and the leaf 0x40000000 signature; a set bit
//     with an unknown signature only remembers "vm-other";
//  5. the other DMI answers (an unknown vendor with the SMBIOS VM bit set is
//     "vm-other");
//  6. /sys/hypervisor/type;
//  7. the device tree (ARM, PowerPC, RISC-V);
//  8. /proc/sysinfo (s390).
//
// If nothing named a hypervisor but some step saw an unknown one, the answer is
// "vm-other". (Newer systemd also defers a "Microsoft Hv" CPUID answer to later
// steps; 252 does not, and neither do we.)
func (p *probe) detectVM() (string, error) {
	other := false
	dmi, dmiErr := p.detectVMDMI()
	if dmiErr == nil {
		switch dmi {
		case "oracle", "xen", "amazon", "parallels", "google":
			p.note("vm: DMI says %s, which takes precedence over CPUID", dmi)
			return dmi, nil
		}
	}

	v, err := p.detectVMUML()
	if err != nil {
		return "", err
	}
	if v != none {
		return v, nil
	}

	xenDom0 := false
	if p.detectVMXen() {
		dom0, err := p.detectXenDom0()
		if err != nil {
			return "", err
		}
		if !dom0 {
			p.note("vm: Xen domU")
			return "xen", nil
		}
		xenDom0 = true
		p.note("vm: Xen dom0 (the hardware domain): not a VM unless CPUID finds a hypervisor underneath")
	}

	v = p.detectVMCPUID()
	switch v {
	case vmOther:
		other = true
	case none:
	default:
		return v, nil
	}

	if xenDom0 {
		return finishVM(v, other), nil
	}

	if dmiErr != nil {
		return "", dmiErr
	}
	// Steps 5-7: each names a hypervisor (the answer), an unknown one (remember
	// "vm-other" and go on), or none.
	steps := []func() (string, error){
		func() (string, error) { return dmi, nil },
		p.detectVMHypervisor,
		p.detectVMDeviceTree,
	}
	for _, step := range steps {
		v, err = step()
		if err != nil {
			return "", err
		}
		switch v {
		case vmOther:
			other = true
		case none:
		default:
			return v, nil
		}
	}

	v, err = p.detectVMZVM()
	if err != nil {
		return "", err
	}
	return finishVM(v, other), nil
}

// finishVM is detect_vm()'s "finish:" label.
func finishVM(v string, other bool) string {
	if v == none && other {
		return vmOther
	}
	return v
}

// detectVMDMI is detect_vm_dmi(): the vendor table over five DMI files, the Amazon
// metal/virtual split, and the SMBIOS VM bit for vendors it does not know.
func (p *probe) detectVMDMI() (string, error) {
	if !p.arch.dmi {
		p.note("vm: DMI is not consulted on %s", p.arch.name)
		return none, nil
	}
	id := none
	seen := 0
	for _, f := range dmiVendorFiles {
		line, _, err := p.fs.readOneLineFile(f)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			p.unreadable(err)
			p.note("vm: cannot read %s: %v", p.show(f), errText(err))
			return "", fmt.Errorf("read DMI: %w", err)
		}
		seen++
		if v := dmiVendorID(line); v != none {
			p.note("vm: DMI %s is %q: %s", p.show(f), line, v)
			id = v
			break
		}
	}
	switch {
	case id == none && seen == 0:
		p.note("vm: no DMI vendor files under %s (no SMBIOS tables, e.g. Firecracker, or not exposed)", p.show("/sys/class/dmi/id"))
	case id == none:
		p.note("vm: no known hypervisor vendor in DMI (%s)", p.show("/sys/class/dmi/id"))
	}

	if id == "amazon" {
		switch bit := p.smbiosVMBit(); bit {
		case smbiosVMSet:
			return "amazon", nil
		case smbiosVMUnset:
			p.note("vm: Amazon EC2 with the SMBIOS VM bit clear: a bare-metal instance")
			return none, nil
		default:
			data, err := p.fs.readVirtualFile("/sys/class/dmi/id/product_name", false)
			if err != nil {
				p.note("vm: Amazon EC2, SMBIOS unknown and %s unreadable (%s): assumed virtual, as systemd does", p.show("/sys/class/dmi/id/product_name"), errText(err))
				return "amazon", nil
			}
			if parseAmazonProductName(data) {
				p.note("vm: Amazon EC2 product name has \".metal\": a bare-metal instance")
				return none, nil
			}
			return "amazon", nil
		}
	}
	if id == none && p.smbiosVMBit() == smbiosVMSet {
		p.note("vm: unknown vendor, but the SMBIOS VM bit is set: vm-other")
		return vmOther, nil
	}
	return id, nil
}

// smbiosVMBit is detect_vm_smbios(); unreadable tables are "unknown" (the file is
// root-only), recorded as evidence.
func (p *probe) smbiosVMBit() smbiosBit {
	path := "/sys/firmware/dmi/entries/0-0/raw"
	data, err := p.fs.readVirtualFile(path, true)
	if err != nil {
		if !isNotExist(err) {
			p.unreadable(err)
		}
		p.note("vm: SMBIOS VM bit unknown: %s", errText(err))
		return smbiosVMUnknown
	}
	bit := parseSMBIOS(data, p.arch.signedChar)
	if bit == smbiosVMUnknown {
		length := -1
		if len(data) > 1 {
			length = int(data[1])
		}
		p.note("vm: SMBIOS VM bit unknown: %s is too short (%d bytes, structure length %d; systemd needs 20)", p.show(path), len(data), length)
		return bit
	}
	p.note("vm: SMBIOS VM bit (%s byte 19 bit 4) %s", p.show(path), bit)
	return bit
}

// detectVMUML is detect_vm_uml(): "vendor_id\t: User Mode Linux" in /proc/cpuinfo.
// A missing file is no UML; any other read problem fails detection, as in systemd.
func (p *probe) detectVMUML() (string, error) {
	path := "/proc/cpuinfo"
	f, err := p.fs.open(path)
	if err != nil {
		if isNotExist(err) {
			p.note("vm: no %s: not User-Mode Linux", p.show(path))
			return none, nil
		}
		p.unreadable(err)
		return "", fmt.Errorf("read cpuinfo: %w", err)
	}
	defer f.Close()
	ci, err := scanCPUInfo(f)
	if err != nil {
		err = fmt.Errorf("read %s: %w", p.show(path), err)
		p.unreadable(err)
		return "", err
	}
	if ci.HaveFlags && p.cpuid != nil && ci.HypervisorFlag != p.cpuid.Hypervisor {
		p.note("vm: note: %s flags say hypervisor=%t but CPUID says %t (CPUID decides, as in systemd)", p.show(path), ci.HypervisorFlag, p.cpuid.Hypervisor)
	}
	if ci.UML {
		p.note("vm: %s vendor_id %q: User-Mode Linux", p.show(path), ci.VendorID)
		return "uml", nil
	}
	return none, nil
}

// detectVMXen is detect_vm_xen(): /proc/xen exists. systemd treats any access()
// failure as absence.
func (p *probe) detectVMXen() bool {
	err := p.fs.access("/proc/xen")
	if err == nil {
		p.note("vm: %s exists: some Xen domain", p.show("/proc/xen"))
		return true
	}
	if !isNotExist(err) {
		p.unreadable(err)
	}
	return false
}

// detectXenDom0 is detect_vm_xen_dom0(): the XENFEAT_dom0 bit of
// /sys/hypervisor/properties/features, else "control_d" in /proc/xen/capabilities.
func (p *probe) detectXenDom0() (bool, error) {
	features := "/sys/hypervisor/properties/features"
	line, _, err := p.fs.readOneLineFile(features)
	if err != nil && !isNotExist(err) {
		p.unreadable(err)
		return false, err
	}
	if err == nil {
		if dom0, ok := parseXenFeatures(line, p.arch.longBits); ok {
			p.note("vm: %s = %q: XENFEAT_dom0 %s", p.show(features), line, map[bool]string{true: "set", false: "clear"}[dom0])
			return dom0, nil
		}
		p.note("vm: %s = %q: unparsable, trying /proc/xen/capabilities", p.show(features), line)
	}
	caps := "/proc/xen/capabilities"
	line, _, err = p.fs.readOneLineFile(caps)
	if err != nil {
		if isNotExist(err) {
			p.note("vm: no %s: domU", p.show(caps))
			return false, nil
		}
		p.unreadable(err)
		return false, err
	}
	dom0, err := parseXenCapabilities(line)
	if err != nil {
		return false, fmt.Errorf("parse %s %q: %w", p.show(caps), line, err)
	}
	p.note("vm: %s = %q: control_d %s", p.show(caps), line, map[bool]string{true: "present (dom0)", false: "absent (domU)"}[dom0])
	return dom0, nil
}

// detectVMCPUID is detect_vm_cpuid() on the resolved CPUID (x86 only).
func (p *probe) detectVMCPUID() string {
	if p.cpuid == nil || !p.cpuid.Hypervisor {
		if p.arch.x86 {
			p.note("vm: no hypervisor in CPUID")
		}
		return none
	}
	id := parseCPUIDSignature([]byte(p.cpuid.Signature))
	if id == vmOther {
		p.note("vm: CPUID hypervisor signature %q is unknown: remembered as vm-other", p.cpuid.Signature)
	} else {
		p.note("vm: CPUID hypervisor signature %q: %s", p.cpuid.Signature, id)
	}
	return id
}

// detectVMHypervisor is detect_vm_hypervisor(): /sys/hypervisor/type is "xen", or
// any other content (even empty) is an unknown hypervisor.
func (p *probe) detectVMHypervisor() (string, error) {
	path := "/sys/hypervisor/type"
	line, _, err := p.fs.readOneLineFile(path)
	if err != nil {
		if isNotExist(err) {
			return none, nil
		}
		p.unreadable(err)
		return "", err
	}
	if line == "xen" {
		p.note("vm: %s is \"xen\"", p.show(path))
		return "xen", nil
	}
	p.note("vm: %s is %q: an unknown hypervisor", p.show(path), line)
	return vmOther, nil
}

// detectVMDeviceTree is detect_vm_device_tree() (ARM, PowerPC, RISC-V).
func (p *probe) detectVMDeviceTree() (string, error) {
	if !p.arch.deviceTree {
		return none, nil
	}
	hv := "/proc/device-tree/hypervisor/compatible"
	line, _, err := p.fs.readOneLineFile(hv)
	if err == nil {
		_, id, _ := parseDTHypervisor([]byte(line))
		p.note("vm: %s is %q: %s", p.show(hv), line, id)
		return id, nil
	}
	if !isNotExist(err) {
		p.unreadable(err)
		return "", err
	}
	// PowerVM LPARs have a partition name and are HMC-managed; QEMU's pseries
	// machine imitates both but has a graphics width in /chosen.
	if p.fs.exists("/proc/device-tree/ibm,partition-name") &&
		p.fs.exists("/proc/device-tree/hmc-managed?") &&
		!p.fs.exists("/proc/device-tree/chosen/qemu,graphic-width") {
		p.note("vm: %s and hmc-managed? exist: PowerVM", p.show("/proc/device-tree/ibm,partition-name"))
		return "powervm", nil
	}
	names, err := p.fs.readDirNames("/proc/device-tree")
	if err != nil {
		if isNotExist(err) {
			p.note("vm: no %s", p.show("/proc/device-tree"))
			return none, nil
		}
		p.unreadable(err)
		return "", err
	}
	for _, n := range names {
		if dtFwCfgNode(n) {
			p.note("vm: %s has %q: QEMU fw-cfg", p.show("/proc/device-tree"), n)
			return "qemu", nil
		}
	}
	compat := "/proc/device-tree/compatible"
	line, _, err = p.fs.readOneLineFile(compat)
	if err != nil && !isNotExist(err) {
		p.unreadable(err)
		return "", err
	}
	if err == nil && isQEMUPseries(line) {
		p.note("vm: %s is \"qemu,pseries\": QEMU", p.show(compat))
		return "qemu", nil
	}
	p.note("vm: nothing virtual in %s", p.show("/proc/device-tree"))
	return none, nil
}

// detectVMZVM is detect_vm_zvm() (s390): the "VM00 Control Program" of
// /proc/sysinfo.
func (p *probe) detectVMZVM() (string, error) {
	if !p.arch.s390 {
		return none, nil
	}
	path := "/proc/sysinfo"
	data, err := p.fs.readVirtualFile(path, false)
	if err != nil {
		if isNotExist(err) {
			return none, nil
		}
		p.unreadable(err)
		return "", err
	}
	id, err := parseSysinfo(data)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", p.show(path), err)
	}
	if id != none {
		p.note("vm: %s VM00 Control Program: %s", p.show(path), id)
	}
	return id, nil
}
