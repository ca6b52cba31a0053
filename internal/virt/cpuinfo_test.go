package virt

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCPUInfo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want cpuInfo
		err  error
	}{
		{name: "empty", in: "", want: cpuInfo{}},
		{name: "intel guest", in: "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu hypervisor lm\n",
			want: cpuInfo{VendorID: "GenuineIntel", HypervisorFlag: true, HaveFlags: true}},
		{name: "bare metal", in: "vendor_id\t: AuthenticAMD\nflags\t\t: fpu lm\n",
			want: cpuInfo{VendorID: "AuthenticAMD", HaveFlags: true}},
		{name: "uml", in: "processor\t: 0\nvendor_id\t: User Mode Linux\nmodel name\t: UML\n",
			want: cpuInfo{VendorID: "User Mode Linux", UML: true}},
		{name: "uml prefix", in: "vendor_id\t: User Mode Linux (x86_64)\n",
			want: cpuInfo{VendorID: "User Mode Linux (x86_64)", UML: true}},
		{name: "space instead of tab is not the field", in: "vendor_id : User Mode Linux\n", want: cpuInfo{}},
		{name: "only the first vendor_id counts", in: "vendor_id\t: GenuineIntel\nvendor_id\t: User Mode Linux\n",
			want: cpuInfo{VendorID: "GenuineIntel"}},
		{name: "crlf", in: "vendor_id\t: User Mode Linux\r\n", want: cpuInfo{VendorID: "User Mode Linux", UML: true}},
		{name: "hypervisor word only", in: "flags\t\t: hypervisors\nvendor_id\t: X\n", want: cpuInfo{VendorID: "X", HaveFlags: true}},
		{name: "s390", in: "vendor_id       : IBM/S390\n", want: cpuInfo{}},
		{name: "garbage", in: "\x00\xff\xfe\n\n\r\x00", want: cpuInfo{}},
		{name: "overlong line before vendor_id fails like systemd",
			in: strings.Repeat("x", longLineMax) + "\nvendor_id\t: User Mode Linux\n", err: syscall.ENOBUFS},
		{name: "overlong line after vendor_id is ignored",
			in: "vendor_id\t: GenuineIntel\n" + strings.Repeat("x", longLineMax) + "\n", want: cpuInfo{VendorID: "GenuineIntel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUInfo([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("cpuinfo (-want +got):\n%s", diff)
			}
		})
	}
}

// endless is an io.Reader that never ends, like /dev/zero.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

func TestScanCPUInfoEndless(t *testing.T) {
	if _, err := scanCPUInfoMax(endless('\n'), 1<<20); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("endless newlines: err = %v, want EFBIG", err)
	}
	if _, err := scanCPUInfo(endless('a')); !errors.Is(err, syscall.ENOBUFS) {
		t.Errorf("endless line: err = %v, want ENOBUFS", err)
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	f.Add([]byte("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu hypervisor\n"))
	f.Add([]byte("vendor_id\t: User Mode Linux\n"))
	f.Add([]byte("flags:hypervisor\r\nvendor_id\t: \x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ci, err := parseCPUInfo(data)
		if err != nil {
			t.Fatalf("no line can be overlong in a fuzz input this small: %v", err)
		}
		if ci.UML != strings.HasPrefix(ci.VendorID, "User Mode Linux") {
			t.Fatalf("UML %t for vendor %q", ci.UML, ci.VendorID)
		}
		if ci.UML && !bytes.Contains(data, []byte("vendor_id\t: User Mode Linux")) {
			t.Fatalf("UML without the vendor line in %q", data)
		}
		if ci.HypervisorFlag && !ci.HaveFlags {
			t.Fatal("hypervisor flag without a flags line")
		}
	})
}
