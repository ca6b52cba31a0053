package virt

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// Identifiers shared by both halves of the detector.
const (
	none           = "none"
	vmOther        = "vm-other"
	containerOther = "container-other"
)

// Source says where the evidence comes from.
type Source struct {
	// Root is the host root all files are read below: "/" for this host, a host
	// tree mounted at /host, or a captured tree. "" means "/".
	Root string
	// Arch is the host's machine name as uname -m prints it ("x86_64", "aarch64",
	// "ppc64le", "s390x", ...); it decides which sources systemd consults (CPUID only
	// on x86, DMI on x86/ARM/LoongArch, the device tree on ARM/PowerPC/RISC-V,
	// /proc/sysinfo on s390). "" means this machine's.
	Arch string
	// CPUID, when nil, is executed on this machine (x86 only); set it to inject the
	// answer of a captured host.
	CPUID *CPUID
}

// Detection is the detector's verdict: systemd-detect-virt's answers plus what
// decided them and what could not be read.
type Detection struct {
	// VM is what `systemd-detect-virt --vm` prints (kvm, qemu, amazon, microsoft,
	// vmware, xen, oracle, ..., vm-other, or none); "" when it would fail (VMErr).
	VM string
	// Container is what `systemd-detect-virt --container` prints (openvz, lxc,
	// lxc-libvirt, systemd-nspawn, docker, podman, rkt, wsl, proot, pouch,
	// container-other, or none); "" when it would fail (ContainerErr).
	Container string
	// Evidence says, step by step in systemd's order, what was read where and what
	// it meant.
	Evidence []string
	// VMErr and ContainerErr are the errors systemd-detect-virt itself would fail
	// with: sources it does not ignore (a DMI file, /proc/cpuinfo, /run/systemd/container,
	// ...) existed but could not be read.
	VMErr, ContainerErr error
	// Unreadable lists sources that exist but could not be read, with the error,
	// including those systemd silently skips (PID 1's environment without
	// CAP_SYS_PTRACE, the SMBIOS table without root, ...).
	Unreadable []string
	// ContainerUnsure explains why Container "none" rests on missing evidence (PID
	// 1's environment unreadable, no /proc in the tree, ...): systemd answers "none"
	// then, hardend does not trust it. Empty when the answer is well founded.
	ContainerUnsure []string
	// VMUnsure is the same for VM: e.g. an x86 tree whose CPUID could not be
	// executed or injected.
	VMUnsure []string
	// Root and Arch are what was examined ("/" and uname-style names).
	Root, Arch string
	// CPUID is what CPUID said (nil when not applicable or not available).
	CPUID *CPUID
	// PID1 is the command name of PID 1 (/proc/1/comm), "" if unreadable; it tells
	// an init system (an OS or OS container) from an application's PID 1.
	PID1 string
	// Markers lists the application-container marker files found below Root
	// (/.dockerenv, /run/.containerenv).
	Markers []string
}

// Default is what systemd-detect-virt prints without flags: the container if there
// is one, else the VM ("" if the container half failed, as systemd then fails).
func (d Detection) Default() string {
	if d.ContainerErr != nil {
		return ""
	}
	if d.Container != "" && d.Container != none {
		return d.Container
	}
	return d.VM
}

// archInfo is what the detector needs to know about an architecture: which of
// systemd's #if blocks are compiled in there, and C type details it depends on.
type archInfo struct {
	name       string
	x86        bool // CPUID
	dmi        bool // detect_vm_dmi(): x86, ARM, LoongArch (not RISC-V, though its vendor table is built there)
	deviceTree bool // detect_vm_device_tree(): ARM, PowerPC, RISC-V
	s390       bool // detect_vm_zvm()
	signedChar bool // plain char is signed (x86, LoongArch)
	longBits   int  // width of unsigned long
	known      bool
}

// goarchToUname maps GOARCH to uname -m names for Source.Arch == "".
var goarchToUname = map[string]string{
	"amd64": "x86_64", "386": "i686", "arm64": "aarch64", "arm": "armv7l",
	"ppc64": "ppc64", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
	"loong64": "loongarch64", "mips64": "mips64", "mips64le": "mips64", "mips": "mips", "mipsle": "mips",
}

func lookupArch(arch string) archInfo {
	if arch == "" {
		arch = runtime.GOARCH
		if u, ok := goarchToUname[arch]; ok {
			arch = u
		}
	}
	a := archInfo{name: arch, longBits: 64, known: true}
	switch {
	case arch == "x86_64" || arch == "amd64":
		a.x86, a.dmi, a.signedChar = true, true, true
	case arch == "x86" || arch == "i386" || arch == "i486" || arch == "i586" || arch == "i686":
		a.x86, a.dmi, a.signedChar, a.longBits = true, true, true, 32
	case arch == "aarch64" || arch == "arm64" || arch == "aarch64_be":
		a.dmi, a.deviceTree = true, true
	case strings.HasPrefix(arch, "arm"):
		a.dmi, a.deviceTree, a.longBits = true, true, 32
	case arch == "ppc64" || arch == "ppc64le":
		a.deviceTree = true
	case arch == "ppc" || arch == "ppcle" || strings.HasPrefix(arch, "powerpc"):
		a.deviceTree = true
		if !strings.Contains(arch, "64") {
			a.longBits = 32
		}
	case strings.HasPrefix(arch, "riscv"):
		a.deviceTree = true
		if arch == "riscv32" {
			a.longBits = 32
		}
	case arch == "loongarch64" || arch == "loong64":
		a.dmi, a.signedChar = true, true
	case arch == "s390x":
		a.s390 = true
	case arch == "s390":
		a.s390, a.longBits = true, 32
	case arch == "sparc64" || arch == "ia64" || strings.HasPrefix(arch, "mips") ||
		arch == "alpha" || arch == "parisc" || arch == "parisc64" || arch == "sh4" || arch == "m68k":
		// systemd compiles none of the architecture-specific probes here.
	default:
		a.known = false
	}
	return a
}

// probe carries one detection run.
type probe struct {
	fs     rootFS
	arch   archInfo
	cpuid  *CPUID
	statfs func(path string) (int64, error)
	det    *Detection
}

func (p *probe) note(format string, args ...any) {
	p.det.Evidence = append(p.det.Evidence, fmt.Sprintf(format, args...))
}

func (p *probe) unreadable(err error) {
	p.det.Unreadable = append(p.det.Unreadable, errText(err))
}

// show renders an absolute host path as the file actually read.
func (p *probe) show(path string) string {
	return p.fs.path(path)
}

// Detect runs systemd 252's detect_container() and detect_vm() on the evidence
// below src.Root. It never panics: whatever the tree holds (garbage, directories
// for files, FIFOs, endless files), the result is a Detection whose errors and
// Unreadable say what could not be read.
func Detect(src Source) Detection {
	return detect(src, statfsType)
}

func detect(src Source, statfs func(string) (int64, error)) (det Detection) {
	root := src.Root
	if root == "" {
		root = "/"
	}
	root = filepath.Clean(root)
	arch := lookupArch(src.Arch)
	det = Detection{Root: root, Arch: arch.name}
	defer func() {
		// A bug must not take the agent down nor turn into a pass: report it as an
		// error of both halves.
		if r := recover(); r != nil {
			err := fmt.Errorf("virt: internal error while detecting: %v", r)
			det.VM, det.Container, det.VMErr, det.ContainerErr = "", "", err, err
		}
	}()
	p := &probe{fs: rootFS{root: root}, arch: arch, statfs: statfs, det: &det}
	if !arch.known {
		p.note("arch: %q is not an architecture systemd 252 has specific probes for; only the generic ones apply", arch.name)
	}
	p.resolveCPUID(src.CPUID)

	det.Container, det.ContainerErr = p.detectContainer()
	if det.ContainerErr != nil {
		p.note("container: detection fails like systemd-detect-virt --container would: %v", det.ContainerErr)
	} else {
		p.note("container: %s", det.Container)
	}
	det.VM, det.VMErr = p.detectVM()
	if det.VMErr != nil {
		p.note("vm: detection fails like systemd-detect-virt --vm would: %v", det.VMErr)
	} else {
		p.note("vm: %s", det.VM)
	}
	p.collectHostFacts()
	return det
}

// resolveCPUID decides where CPUID comes from: injected, executed here, or not
// applicable (non-x86 targets have no CPUID in systemd).
func (p *probe) resolveCPUID(injected *CPUID) {
	if !p.arch.x86 {
		return
	}
	if injected != nil {
		c := *injected
		p.cpuid = &c
		p.note("cpuid: injected: %s", c)
		return
	}
	if c, ok := localCPUID(); ok {
		p.cpuid = &c
		p.note("cpuid: executed on this machine: %s", c)
		return
	}
	p.det.VMUnsure = append(p.det.VMUnsure, fmt.Sprintf("the target is %s but CPUID can neither be executed on this %s machine nor was it given", p.arch.name, runtime.GOARCH))
	p.note("cpuid: not available (%s target, %s machine, none injected): treated as no hypervisor bit", p.arch.name, runtime.GOARCH)
}

// collectHostFacts gathers what the checks need beyond systemd's answer: PID 1's
// command and the application-container marker files.
func (p *probe) collectHostFacts() {
	if line, _, err := p.fs.readOneLineFile("/proc/1/comm"); err == nil {
		p.det.PID1 = line
	}
	for _, m := range []string{"/.dockerenv", "/run/.containerenv"} {
		if p.fs.exists(m) {
			p.det.Markers = append(p.det.Markers, m)
		}
	}
	p.det.CPUID = p.cpuid
}
