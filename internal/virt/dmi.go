package virt

import (
	"strings"
)

// dmiVendorFiles are read in this order by detect_vm_dmi_vendor(); the first file
// whose first line starts with a known vendor decides. product_name comes first "to
// detect KVM over QEMU", product_version last "for Hyper-V VMs".
var dmiVendorFiles = []string{
	"/sys/class/dmi/id/product_name",
	"/sys/class/dmi/id/sys_vendor",
	"/sys/class/dmi/id/board_vendor",
	"/sys/class/dmi/id/bios_vendor",
	"/sys/class/dmi/id/product_version",
}

// dmiVendors is systemd 252.38's dmi_vendor_table[], in order (prefix match).
var dmiVendors = []struct {
	prefix string
	id     string
}{
	{"KVM", "kvm"},
	{"OpenStack", "kvm"}, // OpenStack instances as KVM on non-x86
	{"KubeVirt", "kvm"},  // KubeVirt instances as KVM on non-x86
	{"Amazon EC2", "amazon"},
	{"QEMU", "qemu"},
	{"VMware", "vmware"},
	{"VMW", "vmware"},
	{"innotek GmbH", "oracle"},
	{"VirtualBox", "oracle"},
	{"Oracle Corporation", "oracle"}, // VirtualBox via board_vendor
	{"Xen", "xen"},
	{"Bochs", "bochs"},
	{"Parallels", "parallels"},
	{"BHYVE", "bhyve"},
	{"Hyper-V", "microsoft"},
	{"Apple Virtualization", "apple"},
	{"Google Compute Engine", "google"},
}

// parseDMIVendor maps the contents of one DMI id file to a VM id by its first
// line, or "none".
func parseDMIVendor(data []byte) (line, id string, err error) {
	line, _, err = parseOneLine(data)
	if err != nil {
		return "", "", err
	}
	return line, dmiVendorID(line), nil
}

func dmiVendorID(line string) string {
	for _, v := range dmiVendors {
		if strings.HasPrefix(line, v.prefix) {
			return v.id
		}
	}
	return none
}

// SMBIOS "system is a virtual machine" flag, from detect_vm_smbios().
type smbiosBit int

const (
	smbiosVMSet smbiosBit = iota
	smbiosVMUnset
	smbiosVMUnknown
)

func (b smbiosBit) String() string {
	switch b {
	case smbiosVMSet:
		return "set"
	case smbiosVMUnset:
		return "clear"
	}
	return "unknown"
}

// parseSMBIOS reads the BIOS Characteristics Extension Byte 2 bit 4 ("system is a
// virtual machine", DSP0134 2.1.2.2) from the raw SMBIOS type 0 entry
// (/sys/firmware/dmi/entries/0-0/raw). Like systemd, fewer than 20 bytes or a
// structure length (byte 1) below 20 means unknown. systemd reads byte 1 through a
// plain char: signed on x86, so lengths of 128 and more count as negative, hence
// "below 20"; unsigned on ARM. signedChar selects that behaviour.
func parseSMBIOS(data []byte, signedChar bool) smbiosBit {
	if len(data) < 20 {
		return smbiosVMUnknown
	}
	length := int(data[1])
	if signedChar {
		length = int(int8(data[1]))
	}
	if length < 20 {
		return smbiosVMUnknown
	}
	if data[19]&(1<<4) != 0 {
		return smbiosVMSet
	}
	return smbiosVMUnset
}

// parseAmazonProductName is the fallback of detect_vm_dmi() for "Amazon EC2" when
// SMBIOS cannot tell: product_name cut at the first newline, and a ".metal" whose
// first occurrence ends the name or is followed by '-' means bare metal.
func parseAmazonProductName(data []byte) (metal bool) {
	s := string(data)
	if i := strings.IndexAny(s, "\n\r"); i >= 0 {
		s = s[:i]
	}
	// The file was read as a C string: it ends at the first NUL (readers refuse
	// embedded NULs before we get here; this keeps the pure parser total).
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	i := strings.Index(s, ".metal")
	if i < 0 {
		return false
	}
	rest := s[i+len(".metal"):]
	return rest == "" || rest[0] == '-'
}
