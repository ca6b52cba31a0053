package virt

import "strings"

// parseDTHypervisor maps /proc/device-tree/hypervisor/compatible (a NUL-separated
// list; systemd reads its first line, i.e. the first string) to a VM id, as
// detect_vm_device_tree() does: "linux,kvm" exactly is KVM, anything containing
// "xen" or "vmware" is that, any other hypervisor node is "vm-other".
func parseDTHypervisor(data []byte) (compat, id string, err error) {
	compat, _, err = parseOneLine(data)
	if err != nil {
		return "", "", err
	}
	switch {
	case compat == "linux,kvm":
		return compat, "kvm", nil
	case strings.Contains(compat, "xen"):
		return compat, "xen", nil
	case strings.Contains(compat, "vmware"):
		return compat, "vmware", nil
	}
	return compat, vmOther, nil
}

// parseDTCompatible is the pseries test on /proc/device-tree/compatible: exactly
// "qemu,pseries" as first string is QEMU.
func parseDTCompatible(data []byte) (compat string, qemu bool, err error) {
	compat, _, err = parseOneLine(data)
	if err != nil {
		return "", false, err
	}
	return compat, isQEMUPseries(compat), nil
}

// isQEMUPseries is the test itself, on the first string of the file.
func isQEMUPseries(compat string) bool { return compat == "qemu,pseries" }

// dtFwCfgNode reports whether a /proc/device-tree entry name marks QEMU's fw-cfg
// device. systemd iterates with FOREACH_DIRENT, which skips hidden and backup
// names, then looks for "fw-cfg" anywhere in the name.
func dtFwCfgNode(name string) bool {
	return !hiddenOrBackupFile(name) && strings.Contains(name, "fw-cfg")
}

// hiddenOrBackupFile is systemd 252's hidden_or_backup_file().
func hiddenOrBackupFile(name string) bool {
	if strings.HasPrefix(name, ".") || name == "lost+found" || name == "aquota.user" ||
		name == "aquota.group" || strings.HasSuffix(name, "~") {
		return true
	}
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return false
	}
	switch name[dot+1:] {
	case "rpmnew", "rpmsave", "rpmorig", "dpkg-old", "dpkg-new", "dpkg-tmp", "dpkg-dist",
		"dpkg-bak", "dpkg-backup", "dpkg-remove", "ucf-new", "ucf-old", "ucf-dist",
		"swp", "bak", "old", "new":
		return true
	}
	return false
}
