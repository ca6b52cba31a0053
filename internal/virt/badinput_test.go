package virt

import (
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/check"
)

// detectWithin runs Detect and fails the test if it takes longer than d (a FIFO or
// an endless file must not hang the detector).
func detectWithin(t *testing.T, d time.Duration, src Source) Detection {
	t.Helper()
	done := make(chan Detection, 1)
	go func() { done <- Detect(src) }()
	select {
	case det := <-done:
		return det
	case <-time.After(d):
		t.Fatalf("Detect(%s) did not return within %v", src.Root, d)
		return Detection{}
	}
}

// assertNoWrongPass: results computed from unreadable evidence are never pass.
func assertNoWrongPass(t *testing.T, d Detection, res []check.Result) {
	t.Helper()
	containerUndecided := d.ContainerErr != nil || (d.Container == none && len(d.ContainerUnsure) > 0)
	for _, r := range res {
		if r.Evidence == "" {
			t.Errorf("%s %s without evidence", r.ID, r.Status)
		}
		if strings.Contains(r.Evidence, "internal error") {
			t.Errorf("%s: %s", r.ID, r.Evidence)
		}
	}
	if containerUndecided && res[0].Status == check.Pass {
		t.Errorf("HD-VIRT-001 passes on undecided container evidence: %s", res[0].Evidence)
	}
	if (containerUndecided || d.VMErr != nil || len(d.VMUnsure) > 0) && res[1].Status != check.Fail {
		t.Errorf("HD-VIRT-002 = %s although detection was incomplete", res[1].Status)
	}
}

func TestBadInput(t *testing.T) {
	long := strings.Repeat("x", longLineMax+10)
	tests := []struct {
		name  string
		files map[string]string
		root  string // overrides the tree
		// what the evidence must name as unreadable or failed
		mention  string
		s001     check.Status
		vmErr    bool
		ctrErr   bool
		unsure   bool
		noDetect bool
	}{
		{name: "empty root", files: map[string]string{}, mention: "proc/1/environ", s001: check.Error, unsure: true},
		{name: "root does not exist", root: "/nonexistent/hardend-virt-test", mention: "proc/1/environ", s001: check.Error, unsure: true},
		{name: "no /sys at all", files: map[string]string{"/proc/1/environ": "HOME=/\x00", "/proc/cpuinfo": "vendor_id\t: GenuineIntel\n"},
			mention: "no DMI vendor files", s001: check.Pass},
		{name: "malformed cpuinfo", files: map[string]string{"/proc/1/environ": "A=B\x00", "/proc/cpuinfo": "\xff\xfe\x00vendor_id\r\t: \x00\x00\n\n\rflags"},
			mention: "vm: none", s001: check.Pass},
		{name: "overlong cpuinfo line", files: map[string]string{"/proc/1/environ": "A=B\x00", "/proc/cpuinfo": long + "\n"},
			mention: "no buffer space", s001: check.Pass, vmErr: true},
		{name: "truncated DMI files", files: map[string]string{"/proc/1/environ": "A=B\x00", "/sys/class/dmi/id/product_name": "",
			"/sys/class/dmi/id/sys_vendor": "Amaz", "/sys/firmware/dmi/entries/0-0/raw": "\x00\x18\x00\x00\x00"},
			mention: "SMBIOS VM bit unknown", s001: check.Pass},
		{name: "truncated amazon", files: map[string]string{"/proc/1/environ": "A=B\x00", "/sys/class/dmi/id/sys_vendor": "Amazon EC2",
			"/sys/firmware/dmi/entries/0-0/raw": "\x00\x18"}, mention: "assumed virtual", s001: check.Pass},
		{name: "environ is a directory", files: map[string]string{"/proc/1/environ": "<dir>"}, mention: "is a directory", s001: check.Error, unsure: true},
		{name: "environ is a FIFO", files: map[string]string{"/proc/1/environ": "<fifo>"}, mention: "FIFO", s001: check.Error, unsure: true},
		{name: "environ is endless", files: map[string]string{"/proc/1/environ": "->/dev/zero"}, mention: "no buffer space", s001: check.Error, unsure: true},
		{name: "environ unreadable but PID 1 is systemd", files: map[string]string{"/proc/1/environ": "<dir>", "/proc/1/comm": "systemd\n"},
			mention: "PID 1 is systemd", s001: check.Pass},
		{name: "systemd's container file is a FIFO", files: map[string]string{"/run/systemd/container": "<fifo>"}, mention: "FIFO",
			s001: check.Error, ctrErr: true},
		{name: "cpuinfo is a FIFO", files: map[string]string{"/proc/1/environ": "A=B\x00", "/proc/cpuinfo": "<fifo>"}, mention: "FIFO",
			s001: check.Pass, vmErr: true},
		{name: "DMI file is endless", files: map[string]string{"/proc/1/environ": "A=B\x00", "/sys/class/dmi/id/product_name": "->/dev/zero",
			"/sys/firmware/dmi/entries/0-0/raw": "->/dev/zero"}, mention: "bad file descriptor", s001: check.Pass},
		{name: "symlink loop at /proc/vz", files: map[string]string{"/proc/vz": "->vz", "/proc/1/environ": "A=B\x00"},
			mention: "too many levels of symbolic links", s001: check.Error, unsure: true},
		{name: "/proc is a file", files: map[string]string{"/proc": "x"}, mention: "not a directory", s001: check.Error, unsure: true, vmErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tt.root
			if root == "" {
				root = mkTree(t, tt.files)
			}
			d := detectWithin(t, 20*time.Second, Source{Root: root, Arch: "x86_64", CPUID: noHV})
			res := Checks(d, root)
			assertNoWrongPass(t, d, res)
			all := strings.Join(d.Evidence, "\n") + "\n" + strings.Join(d.Unreadable, "\n") + "\n" + fmt.Sprint(d.VMErr, d.ContainerErr)
			if !strings.Contains(all, tt.mention) {
				t.Errorf("evidence does not mention %q:\n%s", tt.mention, all)
			}
			if res[0].Status != tt.s001 {
				t.Errorf("HD-VIRT-001 = %s, want %s: %s", res[0].Status, tt.s001, res[0].Evidence)
			}
			if (d.VMErr != nil) != tt.vmErr || (d.ContainerErr != nil) != tt.ctrErr || (len(d.ContainerUnsure) > 0) != tt.unsure {
				t.Errorf("vmErr=%v containerErr=%v unsure=%v; want %t/%t/%t", d.VMErr, d.ContainerErr, d.ContainerUnsure, tt.vmErr, tt.ctrErr, tt.unsure)
			}
		})
	}
}

// TestUnreadableFiles: files root could read but this user cannot. Mode bits do not
// bind root, so as root TestUnreadableAsNobody re-runs this test as nobody.
func TestUnreadableFiles(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("file modes do not bind root; TestUnreadableAsNobody runs this as nobody")
	}
	tests := []struct {
		name           string
		files          map[string]string
		chmod          string
		vmErr, ctrErr  bool
		unsure         bool
		unreadableHint string
	}{
		{name: "PID 1 environment", files: map[string]string{"/proc/1/environ": "container=lxc\x00"}, chmod: "/proc/1/environ",
			unsure: true, unreadableHint: "environ"},
		{name: "DMI product name", files: map[string]string{"/proc/1/environ": "", "/sys/class/dmi/id/product_name": "KVM\n"},
			chmod: "/sys/class/dmi/id/product_name", vmErr: true, unreadableHint: "product_name"},
		{name: "SMBIOS table is root-only on real hosts", files: map[string]string{"/proc/1/environ": "", "/sys/firmware/dmi/entries/0-0/raw": smbiosV},
			chmod: "/sys/firmware/dmi/entries/0-0/raw", unreadableHint: "raw"},
		{name: "systemd's container file", files: map[string]string{"/run/systemd/container": "lxc\n"}, chmod: "/run/systemd/container",
			ctrErr: true, unreadableHint: "container"},
		{name: "/proc not searchable", files: map[string]string{"/proc/vz/x": "", "/proc/1/environ": ""}, chmod: "/proc",
			unsure: true, vmErr: true, unreadableHint: "/proc/vz"}, // cpuinfo: EACCES fails VM detection, as in systemd
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := mkTree(t, tt.files)
			p := filepath.Join(root, tt.chmod)
			if err := os.Chmod(p, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(p, 0o755) })
			d := detectWithin(t, 20*time.Second, Source{Root: root, Arch: "x86_64", CPUID: noHV})
			assertNoWrongPass(t, d, Checks(d, root))
			if (d.VMErr != nil) != tt.vmErr || (d.ContainerErr != nil) != tt.ctrErr || (len(d.ContainerUnsure) > 0) != tt.unsure {
				t.Errorf("vmErr=%v containerErr=%v unsure=%v; want %t/%t/%t", d.VMErr, d.ContainerErr, d.ContainerUnsure, tt.vmErr, tt.ctrErr, tt.unsure)
			}
			if !strings.Contains(strings.Join(d.Unreadable, " "), tt.unreadableHint) || !strings.Contains(strings.Join(d.Unreadable, " "), "permission denied") {
				t.Errorf("Unreadable = %v, want a permission error on %s", d.Unreadable, tt.unreadableHint)
			}
		})
	}
}

// TestUnreadableAsNobody re-executes TestUnreadableFiles as user nobody when the
// suite runs as root (as CI does), so permission errors are exercised for real.
func TestUnreadableAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: TestUnreadableFiles runs directly")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "hardend-virt-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "virt.test")
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	in.Close()
	out.Close()
	cmd := exec.Command(bin, "-test.run=^TestUnreadableFiles$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + tmp, "TMPDIR=" + tmp}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("TestUnreadableFiles as nobody: %v\n%s", err, outb)
	}
	if !strings.Contains(string(outb), "--- PASS: TestUnreadableFiles") {
		t.Fatalf("TestUnreadableFiles did not run as nobody:\n%s", outb)
	}
	t.Logf("as nobody:\n%s", outb)
}

// TestGeneratedTreesInvariants runs Detect and Checks over many hostile trees:
// no panic (the recover would turn one into an "internal error"), no pass on
// unreadable evidence, evidence on every result.
func TestGeneratedTreesInvariants(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 300; i++ {
		g := genHostTree(r)
		root := t.TempDir()
		g.write(t, root)
		for _, arch := range []string{"x86_64", "aarch64", "ppc64le", "s390x"} {
			d := Detect(Source{Root: root, Arch: arch, CPUID: &CPUID{Hypervisor: r.Intn(2) == 0, Signature: oneOf(r, "KVMKVMKVM", "", "?")}})
			if d.VMErr != nil && strings.Contains(d.VMErr.Error(), "internal error") {
				t.Fatalf("tree %d (%s): %v\n%s", i, arch, d.VMErr, g.describe())
			}
			assertNoWrongPass(t, d, Checks(d, root))
		}
	}
}

// FuzzDetect spreads fuzz bytes over the files Detect reads and checks the same
// invariants: whatever the tree holds, Detect returns and Checks never pass on
// what could not be read.
func FuzzDetect(f *testing.F) {
	f.Add([]byte("container=lxc\x00|lxc\n|KVM\n|\x00\x18\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10|vendor_id\t: User Mode Linux\n"), uint8(0))
	f.Add([]byte("|||Amazon EC2|c5.metal|control_d|800|xen"), uint8(7))
	paths := []string{"/proc/1/environ", "/run/systemd/container", "/sys/class/dmi/id/product_name",
		"/sys/firmware/dmi/entries/0-0/raw", "/proc/cpuinfo", "/sys/class/dmi/id/sys_vendor", "/proc/xen/capabilities",
		"/sys/hypervisor/properties/features", "/sys/hypervisor/type", "/proc/self/status", "/proc/sys/kernel/osrelease",
		"/run/host/container-manager", "/proc/device-tree/hypervisor/compatible", "/proc/sysinfo"}
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		root := t.TempDir()
		for i, chunk := range strings.Split(string(data), "|") {
			if i >= len(paths) {
				break
			}
			full := filepath.Join(root, paths[i])
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if flags&(1<<uint(i%8)) != 0 && i < 8 {
				// A directory where the file belongs.
				if err := os.MkdirAll(full, 0o755); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.WriteFile(full, []byte(chunk), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		arch := []string{"x86_64", "aarch64", "ppc64le", "s390x"}[flags%4]
		d := Detect(Source{Root: root, Arch: arch, CPUID: &CPUID{Hypervisor: flags&0x40 != 0, Signature: "KVMKVMKVM"}})
		if d.VMErr != nil && strings.Contains(d.VMErr.Error(), "internal error") {
			t.Fatal(d.VMErr)
		}
		assertNoWrongPass(t, d, Checks(d, root))
	})
}
