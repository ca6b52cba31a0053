package virt

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A generated host tree: files (path → contents) and directories standing where a
// file is expected. Trees drawn from these vocabularies exercise every branch of
// detect_container() and detect_vm() with hostile contents; the oracle test runs
// systemd-detect-virt on the same trees and the no-panic test runs Detect on them.
type genTree struct {
	files map[string][]byte
	dirs  []string
}

// oneOf picks uniformly.
func oneOf[T any](r *rand.Rand, xs ...T) T { return xs[r.Intn(len(xs))] }

// lineVariants decorates a value the ways read_line() must cope with.
func lineVariant(r *rand.Rand, v string) []byte {
	switch r.Intn(9) {
	case 0:
		return []byte(v)
	case 1:
		return []byte(v + "\r\n")
	case 2:
		return []byte(v + "\x00junk")
	case 3:
		return []byte("\n" + v)
	case 4:
		return []byte(v + "\rtrailer\n")
	case 5:
		return []byte(" " + v + "\n")
	default:
		return []byte(v + "\n")
	}
}

var (
	genContainerNames = []string{"lxc", "lxc-libvirt", "systemd-nspawn", "docker", "podman", "rkt", "wsl", "proot",
		"pouch", "oci", "openvz", "crio", "zone", "LXC", "", "lxc ", "container-other", "none"}
	genDMIValues = []string{"KVM", "KVM Virtual Machine", "OpenStack Nova", "KubeVirt", "Amazon EC2", "QEMU",
		"VMware, Inc.", "VMW", "innotek GmbH", "VirtualBox", "Oracle Corporation", "Xen", "HVM domU", "Bochs",
		"Parallels Software International Inc.", "BHYVE", "Hyper-V UEFI Release v4.1", "Apple Virtualization Platform",
		"Google Compute Engine", "Google", "Microsoft Corporation", "Hetzner", "DigitalOcean", "Dell Inc.", "m5.metal",
		"i3.metal-16xl", "c5.metal.x", "a1.metal", "", "kvm", " KVM"}
	genOSReleases = []string{"6.1.0-18-amd64", "5.15.153.1-microsoft-standard-WSL2", "4.4.0-19041-Microsoft",
		"3.10.0-1160.80.1.vz7.191.4", "4.19.0-wslfake", "microsoft", ""}
	genXenCaps     = []string{"control_d", "", "a,control_d", ",,control_d,,", "control_d\\", "\\control_d", "con\\trol_d", "xen", "control_d ", "\"control_d\""}
	genXenFeatures = []string{"00000800", "0", "800", "0x800", "fffff7ff", "-1", "zz", "", " 801", "1ffffffffffffffff", "+800"}
	genHVTypes     = []string{"xen", "kvm", "", "Xen", "xen "}
)

func genSMBIOS(r *rand.Rand) []byte {
	n := oneOf(r, 0, 10, 19, 20, 24, 24, 24)
	b := make([]byte, n)
	r.Read(b)
	if n > 1 {
		b[1] = oneOf[byte](r, 0x18, 0x13, 0x14, 0x90, 0xff, 0x7f, b[1])
	}
	if n > 19 && r.Intn(2) == 0 {
		b[19] &^= 0x10
	}
	return b
}

func genEnviron(r *rand.Rand) []byte {
	var b bytes.Buffer
	for i := r.Intn(4); i > 0; i-- {
		b.WriteString(oneOf(r, "HOME=/", "TERM=linux", "", "container_uuid=abc", "containers=lxc", "PATH=/bin"))
		b.WriteByte(0)
	}
	if r.Intn(3) > 0 {
		b.WriteString("container=" + oneOf(r, genContainerNames...))
		b.WriteString(oneOf(r, "\x00", "", "\n", "\x00container=docker\x00"))
	}
	return b.Bytes()
}

func genCPUInfo(r *rand.Rand) []byte {
	vendor := oneOf(r, "GenuineIntel", "User Mode Linux", "User Mode Linux ", "AuthenticAMD", "UML")
	sep := oneOf(r, "\t: ", "\t:", " : ", "\t\t: ")
	var b bytes.Buffer
	b.WriteString(oneOf(r, "", "processor\t: 0\n", "processor\t: 0\r\n", "\x00\n"))
	b.WriteString("vendor_id" + sep + vendor + "\n")
	b.WriteString("flags\t\t: fpu " + oneOf(r, "hypervisor ", "") + "lm\n")
	return b.Bytes()
}

// genHostTree draws one tree.
func genHostTree(r *rand.Rand) genTree {
	t := genTree{files: map[string][]byte{}}
	maybe := func(p int) bool { return r.Intn(100) < p }
	put := func(path string, data []byte) { t.files[path] = data }
	asDir := func(path string) { t.dirs = append(t.dirs, path) }

	if maybe(15) {
		put("/proc/vz/veinfo", []byte("101 0 1 10.0.0.5\n"))
		if maybe(50) {
			put("/proc/bc/0/resources", []byte("x\n"))
		}
	}
	if maybe(70) {
		if maybe(5) {
			asDir("/proc/sys/kernel/osrelease")
		} else {
			put("/proc/sys/kernel/osrelease", lineVariant(r, oneOf(r, genOSReleases...)))
		}
	}
	if maybe(60) {
		status := "Name:\tx\nPid:\t42\n"
		switch r.Intn(6) {
		case 0:
			status += "TracerPid:\t0\n"
		case 1:
			status += "TracerPid:\t77\n"
			put("/proc/77/comm", lineVariant(r, oneOf(r, "proot", "prootx", "gdb", "strace")))
		case 2:
			status += "TracerPid:\t00077\n"
			put("/proc/77/comm", []byte("proot\n"))
		case 3:
			status += "TracerPid:\n"
		case 4:
			status += "TracerPid :\t77\x00\n"
			put("/proc/77/comm", []byte("proot\n"))
		default:
			status += " TracerPid:\t77\nTracerPid:\t0x4d\n"
		}
		put("/proc/self/status", []byte(status))
	}
	for _, f := range []string{"/run/host/container-manager", "/run/systemd/container"} {
		switch {
		case maybe(4):
			asDir(f)
		case maybe(20):
			put(f, lineVariant(r, oneOf(r, genContainerNames...)))
		}
	}
	switch {
	case maybe(5):
		asDir("/proc/1/environ")
	case maybe(60):
		put("/proc/1/environ", genEnviron(r))
	}
	if maybe(50) {
		put("/proc/1/comm", []byte(oneOf(r, "systemd\n", "init\n", "sh\n")))
	}
	if maybe(15) {
		put("/.dockerenv", nil)
	}
	if maybe(10) {
		put("/run/.containerenv", []byte("engine=\"podman\"\n"))
	}
	if maybe(3) {
		asDir("/.dockerenv")
	}
	for _, f := range dmiVendorFiles {
		switch {
		case maybe(2):
			asDir(f)
		case maybe(35):
			put(f, lineVariant(r, oneOf(r, genDMIValues...)))
		}
	}
	if maybe(40) {
		put("/sys/firmware/dmi/entries/0-0/raw", genSMBIOS(r))
	}
	switch {
	case maybe(3):
		asDir("/proc/cpuinfo")
	case maybe(80):
		put("/proc/cpuinfo", genCPUInfo(r))
	}
	if maybe(15) {
		put("/proc/xen/privcmd", nil)
		if maybe(60) {
			put("/proc/xen/capabilities", lineVariant(r, oneOf(r, genXenCaps...)))
		}
		if maybe(40) {
			put("/sys/hypervisor/properties/features", lineVariant(r, oneOf(r, genXenFeatures...)))
		}
	}
	if maybe(10) {
		put("/sys/hypervisor/type", lineVariant(r, oneOf(r, genHVTypes...)))
	}
	return t
}

// writeTo materializes the tree below root.
func (g genTree) writeTo(root string) error {
	for p, data := range g.files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return err
		}
	}
	for _, d := range g.dirs {
		full := filepath.Join(root, d)
		_ = os.RemoveAll(full)
		if err := os.MkdirAll(full, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// write is writeTo for tests.
func (g genTree) write(t testing.TB, root string) {
	t.Helper()
	if err := g.writeTo(root); err != nil {
		t.Fatal(err)
	}
}

// describe prints the tree for failure messages.
func (g genTree) describe() string {
	var b strings.Builder
	for p, data := range g.files {
		b.WriteString(p + " = " + strconvQuote(data) + "\n")
	}
	for _, d := range g.dirs {
		b.WriteString(d + " = <directory>\n")
	}
	return b.String()
}

func strconvQuote(b []byte) string {
	if len(b) > 80 {
		b = append(b[:80:80], "..."...)
	}
	return strings.ReplaceAll(strings.TrimSpace(strings.ReplaceAll(string(quoteBytes(b)), "\n", `\n`)), "\t", `\t`)
}

func quoteBytes(b []byte) []byte {
	var out []byte
	for _, c := range b {
		switch {
		case c == 0:
			out = append(out, `\0`...)
		case c == '\r':
			out = append(out, `\r`...)
		case c < 0x20 && c != '\n' && c != '\t' || c >= 0x7f:
			out = append(out, '?')
		default:
			out = append(out, c)
		}
	}
	return out
}
