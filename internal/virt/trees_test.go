package virt

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mkTree writes files (absolute host path → contents) below a temporary root. A
// value of "<dir>" makes a directory, "<fifo>" a FIFO, "->target" a symlink.
func mkTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, v := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case v == "<dir>":
			err = os.MkdirAll(full, 0o755)
		case v == "<fifo>":
			err = syscall.Mkfifo(full, 0o644)
		case strings.HasPrefix(v, "->"):
			err = os.Symlink(strings.TrimPrefix(v, "->"), full)
		default:
			err = os.WriteFile(full, []byte(v), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var (
	noHV    = &CPUID{}
	kvmHV   = &CPUID{Hypervisor: true, Signature: "KVMKVMKVM"}
	smbiosV = string(smbiosEntry(24, 0x18, 0x10))
	smbiosN = string(smbiosEntry(24, 0x18, 0x00))
)

func TestDetectTrees(t *testing.T) {
	tests := []struct {
		name          string
		arch          string
		cpuid         *CPUID
		files         map[string]string
		vm, container string
		vmErr, ctrErr bool
	}{
		// Container precedence.
		{name: "openvz beats everything", cpuid: noHV, files: map[string]string{"/proc/vz/x": "", "/run/systemd/container": "lxc\n",
			"/.dockerenv": "", "/proc/sys/kernel/osrelease": "4.4.0-Microsoft\n"}, vm: "none", container: "openvz"},
		{name: "openvz host node is no container", cpuid: noHV, files: map[string]string{"/proc/vz/x": "", "/proc/bc/x": "",
			"/proc/1/environ": "A=B\x00"}, vm: "none", container: "none"},
		{name: "wsl before managers", cpuid: noHV, files: map[string]string{"/proc/sys/kernel/osrelease": "5.15.1-microsoft-standard-WSL2\n",
			"/run/host/container-manager": "podman\n"}, vm: "none", container: "wsl"},
		{name: "proot tracer", cpuid: noHV, files: map[string]string{"/proc/self/status": "Name:\tx\nTracerPid:\t77\n",
			"/proc/77/comm": "proot\n", "/run/systemd/container": "lxc\n"}, vm: "none", container: "proot"},
		{name: "other tracer", cpuid: noHV, files: map[string]string{"/proc/self/status": "TracerPid:\t77\n",
			"/proc/77/comm": "gdb\n", "/run/systemd/container": "lxc\n"}, vm: "none", container: "lxc"},
		{name: "container-manager beats systemd's file", cpuid: noHV, files: map[string]string{"/run/host/container-manager": "podman\n",
			"/run/systemd/container": "lxc\n"}, vm: "none", container: "podman"},
		{name: "empty manager file moves on", cpuid: noHV, files: map[string]string{"/run/host/container-manager": "",
			"/run/systemd/container": "systemd-nspawn\n"}, vm: "none", container: "systemd-nspawn"},
		{name: "newline-only file names container-other", cpuid: noHV, files: map[string]string{"/run/systemd/container": "\n"},
			vm: "none", container: "container-other"},
		{name: "unknown manager", cpuid: noHV, files: map[string]string{"/run/systemd/container": "openvz\n"}, vm: "none", container: "container-other"},
		{name: "environ", cpuid: noHV, files: map[string]string{"/proc/1/environ": "container=lxc-libvirt\x00"}, vm: "none", container: "lxc-libvirt"},
		{name: "environ empty value", cpuid: noHV, files: map[string]string{"/proc/1/environ": "container=\x00"}, vm: "none", container: "container-other"},
		{name: "oci with podman file", cpuid: noHV, files: map[string]string{"/proc/1/environ": "container=oci\x00", "/run/.containerenv": ""},
			vm: "none", container: "podman"},
		{name: "oci alone", cpuid: noHV, files: map[string]string{"/proc/1/environ": "container=oci\x00"}, vm: "none", container: "container-other"},
		{name: "podman file before docker", cpuid: noHV, files: map[string]string{"/.dockerenv": "", "/run/.containerenv": "", "/proc/1/environ": ""},
			vm: "none", container: "podman"},
		{name: "dockerenv as a directory still exists", cpuid: noHV, files: map[string]string{"/.dockerenv": "<dir>", "/proc/1/environ": ""},
			vm: "none", container: "docker"},
		{name: "env var beats marker file", cpuid: noHV, files: map[string]string{"/.dockerenv": "", "/proc/1/environ": "container=lxc\x00"},
			vm: "none", container: "lxc"},
		{name: "systemd's file unreadable fails like systemd", cpuid: noHV, files: map[string]string{"/run/systemd/container": "<dir>"},
			vm: "none", ctrErr: true},
		{name: "container-manager unreadable fails like systemd", cpuid: noHV, files: map[string]string{"/run/host/container-manager": "<dir>"},
			vm: "none", ctrErr: true},

		// VM precedence.
		{name: "amazon beats cpuid kvm", cpuid: kvmHV, files: map[string]string{"/sys/class/dmi/id/sys_vendor": "Amazon EC2\n",
			"/sys/firmware/dmi/entries/0-0/raw": smbiosV}, vm: "amazon", container: "none"},
		{name: "amazon metal by smbios", cpuid: noHV, files: map[string]string{"/sys/class/dmi/id/sys_vendor": "Amazon EC2\n",
			"/sys/firmware/dmi/entries/0-0/raw": smbiosN}, vm: "none", container: "none"},
		{name: "amazon metal by name", cpuid: noHV, files: map[string]string{"/sys/class/dmi/id/product_name": "c5.metal\n",
			"/sys/class/dmi/id/sys_vendor": "Amazon EC2\n"}, vm: "none", container: "none"},
		{name: "amazon virtual by name", cpuid: noHV, files: map[string]string{"/sys/class/dmi/id/product_name": "c5.large\n",
			"/sys/class/dmi/id/sys_vendor": "Amazon EC2\n"}, vm: "amazon", container: "none"},
		{name: "amazon without product name is virtual", cpuid: noHV, files: map[string]string{"/sys/class/dmi/id/bios_vendor": "Amazon EC2\n"},
			vm: "amazon", container: "none"},
		{name: "google beats cpuid", cpuid: kvmHV, files: map[string]string{"/sys/class/dmi/id/product_name": "Google Compute Engine\n"},
			vm: "google", container: "none"},
		{name: "cpuid beats dmi qemu", cpuid: kvmHV, files: map[string]string{"/sys/class/dmi/id/sys_vendor": "QEMU\n"}, vm: "kvm", container: "none"},
		{name: "hyper-v cpuid is final in 252", cpuid: &CPUID{Hypervisor: true, Signature: "Microsoft Hv"},
			files: map[string]string{"/sys/class/dmi/id/sys_vendor": "QEMU\n"}, vm: "microsoft", container: "none"},
		{name: "unknown cpuid then dmi", cpuid: &CPUID{Hypervisor: true, Signature: "LKVMLKVMLKVM"},
			files: map[string]string{"/sys/class/dmi/id/sys_vendor": "Bochs\n"}, vm: "bochs", container: "none"},
		{name: "unknown cpuid alone is vm-other", cpuid: &CPUID{Hypervisor: true, Signature: "?"}, files: map[string]string{}, vm: "vm-other", container: "none"},
		{name: "signature without the bit is ignored", cpuid: &CPUID{Signature: "KVMKVMKVM"}, files: map[string]string{}, vm: "none", container: "none"},
		{name: "smbios bit with unknown vendor", cpuid: noHV, files: map[string]string{"/sys/class/dmi/id/sys_vendor": "UpCloud\n",
			"/sys/firmware/dmi/entries/0-0/raw": smbiosV}, vm: "vm-other", container: "none"},
		{name: "uml", cpuid: kvmHV, files: map[string]string{"/proc/cpuinfo": "processor\t: 0\nvendor_id\t: User Mode Linux\n"}, vm: "uml", container: "none"},
		{name: "xen domU", cpuid: kvmHV, files: map[string]string{"/proc/xen/capabilities": "\n"}, vm: "xen", container: "none"},
		{name: "xen dom0 by capabilities", cpuid: noHV, files: map[string]string{"/proc/xen/capabilities": "control_d\n",
			"/sys/hypervisor/type": "xen\n"}, vm: "none", container: "none"},
		{name: "xen dom0 by features", cpuid: noHV, files: map[string]string{"/proc/xen/x": "", "/sys/hypervisor/properties/features": "00000801\n"},
			vm: "none", container: "none"},
		{name: "xen dom0 nested in kvm", cpuid: kvmHV, files: map[string]string{"/proc/xen/capabilities": "control_d\n"}, vm: "kvm", container: "none"},
		{name: "xen dom0 with unknown hypervisor underneath", cpuid: &CPUID{Hypervisor: true, Signature: "x"},
			files: map[string]string{"/proc/xen/capabilities": "control_d\n"}, vm: "vm-other", container: "none"},
		{name: "xen features unparsable falls back to capabilities", cpuid: noHV, files: map[string]string{"/proc/xen/capabilities": "control_d\n",
			"/sys/hypervisor/properties/features": "zz\n"}, vm: "none", container: "none"},
		{name: "xen capabilities bad escape fails", cpuid: noHV, files: map[string]string{"/proc/xen/capabilities": "control_d\\\n"}, vmErr: true, container: "none"},
		{name: "hypervisor type xen", cpuid: noHV, files: map[string]string{"/sys/hypervisor/type": "xen\n"}, vm: "xen", container: "none"},
		{name: "hypervisor type other", cpuid: noHV, files: map[string]string{"/sys/hypervisor/type": "kvm\n"}, vm: "vm-other", container: "none"},
		{name: "empty hypervisor type is other", cpuid: noHV, files: map[string]string{"/sys/hypervisor/type": ""}, vm: "vm-other", container: "none"},
		{name: "dmi error surfaces only after cpuid", cpuid: kvmHV, files: map[string]string{"/sys/class/dmi/id/product_name": "<dir>"},
			vm: "kvm", container: "none"},
		{name: "dmi error fails without cpuid", cpuid: noHV, files: map[string]string{"/sys/class/dmi/id/product_name": "<dir>"},
			vmErr: true, container: "none"},
		{name: "cpuinfo as a directory fails", cpuid: kvmHV, files: map[string]string{"/proc/cpuinfo": "<dir>"}, vmErr: true, container: "none"},

		// Architectures.
		{name: "arm ignores cpuid", arch: "aarch64", cpuid: kvmHV, files: map[string]string{}, vm: "none", container: "none"},
		{name: "arm device tree kvm", arch: "aarch64", files: map[string]string{"/proc/device-tree/hypervisor/compatible": "linux,kvm\x00"},
			vm: "kvm", container: "none"},
		{name: "arm dmi before device tree", arch: "aarch64", files: map[string]string{"/sys/class/dmi/id/sys_vendor": "QEMU\n",
			"/proc/device-tree/hypervisor/compatible": "xen,xen\x00"}, vm: "qemu", container: "none"},
		{name: "arm fw-cfg", arch: "aarch64", files: map[string]string{"/proc/device-tree/fw-cfg@9020000/compatible": "qemu,fw-cfg-mmio\x00"},
			vm: "qemu", container: "none"},
		{name: "powervm", arch: "ppc64le", files: map[string]string{"/proc/device-tree/ibm,partition-name": "lpar1\x00",
			"/proc/device-tree/hmc-managed?": "\x00\x00\x00\x01"}, vm: "powervm", container: "none"},
		{name: "qemu pseries is not powervm", arch: "ppc64le", files: map[string]string{"/proc/device-tree/ibm,partition-name": "x\x00",
			"/proc/device-tree/hmc-managed?": "", "/proc/device-tree/chosen/qemu,graphic-width": "", "/proc/device-tree/compatible": "qemu,pseries\x00"},
			vm: "qemu", container: "none"},
		{name: "device tree as a file fails", arch: "ppc64", files: map[string]string{"/proc/device-tree": "x"}, vmErr: true, container: "none"},
		{name: "ppc has no dmi", arch: "ppc64le", files: map[string]string{"/sys/class/dmi/id/sys_vendor": "QEMU\n"}, vm: "none", container: "none"},
		{name: "riscv has device tree but no dmi", arch: "riscv64", files: map[string]string{"/sys/class/dmi/id/sys_vendor": "QEMU\n",
			"/proc/device-tree/hypervisor/compatible": "linux,kvm\x00"}, vm: "kvm", container: "none"},
		{name: "zvm", arch: "s390x", files: map[string]string{"/proc/sysinfo": "VM00 Control Program: z/VM    7.3.0\n"}, vm: "zvm", container: "none"},
		{name: "kvm on s390", arch: "s390x", files: map[string]string{"/proc/sysinfo": "VM00 Control Program: KVM/Linux\n"}, vm: "kvm", container: "none"},
		{name: "i686 long is 32 bits", arch: "i686", cpuid: noHV, files: map[string]string{"/proc/xen/x": "",
			"/sys/hypervisor/properties/features": "100000000\n"}, vm: "none", container: "none"},
		{name: "x86_64 long is 64 bits", arch: "x86_64", cpuid: noHV, files: map[string]string{"/proc/xen/x": "",
			"/sys/hypervisor/properties/features": "100000000\n"}, vm: "xen", container: "none"},
		{name: "unknown arch uses generic probes only", arch: "vax", cpuid: kvmHV, files: map[string]string{"/sys/class/dmi/id/sys_vendor": "QEMU\n",
			"/sys/hypervisor/type": "xen\n"}, vm: "xen", container: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arch := tt.arch
			if arch == "" {
				arch = "x86_64"
			}
			root := mkTree(t, tt.files)
			d := Detect(Source{Root: root, Arch: arch, CPUID: tt.cpuid})
			if (d.VMErr != nil) != tt.vmErr || (d.ContainerErr != nil) != tt.ctrErr {
				t.Fatalf("vmErr=%v containerErr=%v, want errors %t/%t\nevidence:\n  %s", d.VMErr, d.ContainerErr, tt.vmErr, tt.ctrErr, strings.Join(d.Evidence, "\n  "))
			}
			if !tt.vmErr && d.VM != tt.vm {
				t.Errorf("VM = %q, want %q\nevidence:\n  %s", d.VM, tt.vm, strings.Join(d.Evidence, "\n  "))
			}
			if !tt.ctrErr && d.Container != tt.container {
				t.Errorf("Container = %q, want %q\nevidence:\n  %s", d.Container, tt.container, strings.Join(d.Evidence, "\n  "))
			}
		})
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		d    Detection
		want string
	}{
		{Detection{VM: "kvm", Container: "none"}, "kvm"},
		{Detection{VM: "kvm", Container: "lxc"}, "lxc"},
		{Detection{VM: "none", Container: "none"}, "none"},
		{Detection{VM: "", VMErr: syscall.EIO, Container: "docker"}, "docker"},
		{Detection{VM: "kvm", ContainerErr: syscall.EIO}, ""},
		{Detection{VM: "", VMErr: syscall.EIO, Container: "none"}, ""},
	}
	for _, tt := range tests {
		if got := tt.d.Default(); got != tt.want {
			t.Errorf("%+v.Default() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestLookupArch(t *testing.T) {
	tests := []struct {
		arch                       string
		x86, dmi, dt, s390, signed bool
		longBits                   int
	}{
		{"x86_64", true, true, false, false, true, 64},
		{"i686", true, true, false, false, true, 32},
		{"aarch64", false, true, true, false, false, 64},
		{"armv7l", false, true, true, false, false, 32},
		{"ppc64le", false, false, true, false, false, 64},
		{"ppc", false, false, true, false, false, 32},
		{"riscv64", false, false, true, false, false, 64},
		{"loongarch64", false, true, false, false, true, 64},
		{"s390x", false, false, false, true, false, 64},
		{"s390", false, false, false, true, false, 32},
		{"sparc64", false, false, false, false, false, 64},
		{"ia64", false, false, false, false, false, 64},
	}
	for _, tt := range tests {
		a := lookupArch(tt.arch)
		if a.x86 != tt.x86 || a.dmi != tt.dmi || a.deviceTree != tt.dt || a.s390 != tt.s390 || a.signedChar != tt.signed || a.longBits != tt.longBits || !a.known {
			t.Errorf("lookupArch(%q) = %+v", tt.arch, a)
		}
	}
	if lookupArch("").name == "" {
		t.Error("empty arch must resolve to this machine's")
	}
}

// statfsStub answers statfs from a table of paths relative to the root.
func statfsStub(root string, types map[string]int64) func(string) (int64, error) {
	return func(p string) (int64, error) {
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if t, ok := types[filepath.Clean(rel)]; ok {
			return t, nil
		}
		return 0, syscall.ENOENT
	}
}

func TestCgroupNamespace(t *testing.T) {
	ns := map[string]string{"/proc/self/ns/cgroup": "", "/proc/1/environ": "A=B\x00"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range ns {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	v2 := map[string]int64{"/sys/fs/cgroup": cgroup2SuperMagic}
	v1 := map[string]int64{"/sys/fs/cgroup": tmpfsMagic, "/sys/fs/cgroup/systemd": cgroupSuperMagic}
	hybrid := map[string]int64{"/sys/fs/cgroup": tmpfsMagic, "/sys/fs/cgroup/unified": cgroup2SuperMagic}
	tests := []struct {
		name  string
		files map[string]string
		types map[string]int64
		want  string
	}{
		{"v2 nested", with(map[string]string{"/sys/fs/cgroup/cgroup.events": "", "/sys/fs/cgroup/cgroup.type": ""}), v2, "container-other"},
		{"v2 root", with(map[string]string{"/sys/fs/cgroup/cgroup.events": "", "/sys/kernel/cgroup/features": ""}), v2, "none"},
		{"v2 old kernel", with(map[string]string{"/sys/fs/cgroup/cgroup.events": ""}), v2, "container-other"},
		{"v2 no events", with(nil), v2, "none"},
		{"v1 root", with(map[string]string{"/sys/fs/cgroup/systemd/release_agent": ""}), v1, "none"},
		{"v1 nested", with(map[string]string{"/sys/fs/cgroup/systemd/tasks": ""}), v1, "container-other"},
		{"v1 without name=systemd", with(nil), map[string]int64{"/sys/fs/cgroup": tmpfsMagic, "/sys/fs/cgroup/systemd": cgroupSuperMagic}, "none"},
		{"hybrid is v1 for this test", with(map[string]string{"/sys/fs/cgroup/systemd/tasks": ""}), hybrid, "container-other"},
		{"tmpfs without systemd hierarchy errs, ignored", with(map[string]string{"/sys/fs/cgroup/cgroup.type": ""}),
			map[string]int64{"/sys/fs/cgroup": tmpfsMagic}, "none"},
		{"sysfs errs, ignored", with(map[string]string{"/sys/fs/cgroup/cgroup.type": ""}), map[string]int64{"/sys/fs/cgroup": sysfsMagic}, "none"},
		{"unknown fs errs, ignored", with(map[string]string{"/sys/fs/cgroup/cgroup.type": ""}), map[string]int64{"/sys/fs/cgroup": 0xef53}, "none"},
		{"no cgroup namespaces", map[string]string{"/sys/fs/cgroup/cgroup.events": "", "/sys/fs/cgroup/cgroup.type": "", "/proc/1/environ": ""}, v2, "none"},
		{"marker files first", with(map[string]string{"/.dockerenv": "", "/sys/fs/cgroup/cgroup.events": "", "/sys/fs/cgroup/cgroup.type": ""}), v2, "docker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := mkTree(t, tt.files)
			d := detect(Source{Root: root, Arch: "x86_64", CPUID: noHV}, statfsStub(root, tt.types))
			if d.Container != tt.want {
				t.Errorf("Container = %q, want %q\nevidence:\n  %s", d.Container, tt.want, strings.Join(d.Evidence, "\n  "))
			}
		})
	}
}
