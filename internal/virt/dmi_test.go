package virt

import (
	"strings"
	"testing"
)

func TestParseDMIVendor(t *testing.T) {
	tests := []struct {
		in, line, id string
	}{
		{"KVM\n", "KVM", "kvm"},
		{"KVM Virtual Machine\n", "KVM Virtual Machine", "kvm"},
		{"OpenStack Nova\n", "OpenStack Nova", "kvm"},
		{"OpenStack Foundation\n", "OpenStack Foundation", "kvm"},
		{"KubeVirt\n", "KubeVirt", "kvm"},
		{"Amazon EC2\n", "Amazon EC2", "amazon"},
		{"QEMU\n", "QEMU", "qemu"},
		{"VMware, Inc.\n", "VMware, Inc.", "vmware"},
		{"VMW\n", "VMW", "vmware"},
		{"innotek GmbH\n", "innotek GmbH", "oracle"},
		{"VirtualBox\n", "VirtualBox", "oracle"},
		{"Oracle Corporation\n", "Oracle Corporation", "oracle"},
		{"Xen\n", "Xen", "xen"},
		{"Bochs\n", "Bochs", "bochs"},
		{"Parallels Software International Inc.\n", "Parallels Software International Inc.", "parallels"},
		{"BHYVE\n", "BHYVE", "bhyve"},
		{"Hyper-V UEFI Release v4.1\n", "Hyper-V UEFI Release v4.1", "microsoft"},
		{"Apple Virtualization Platform\n", "Apple Virtualization Platform", "apple"},
		{"Google Compute Engine\n", "Google Compute Engine", "google"},
		// Vendors systemd 252 does not know: CPUID decides on these.
		{"Microsoft Corporation\n", "Microsoft Corporation", "none"},
		{"Google\n", "Google", "none"},
		{"Hetzner\n", "Hetzner", "none"},
		{"DigitalOcean\n", "DigitalOcean", "none"},
		{"Alibaba Cloud\n", "Alibaba Cloud", "none"},
		// Prefix match, case-sensitive, first line only.
		{"kvm\n", "kvm", "none"},
		{" KVM\n", " KVM", "none"},
		{"HVM domU\nXen\n", "HVM domU", "none"},
		{"KV\x00M", "KV", "none"},
		{"", "", "none"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			line, id, err := parseDMIVendor([]byte(tt.in))
			if err != nil {
				t.Fatalf("parseDMIVendor: %v", err)
			}
			if line != tt.line || id != tt.id {
				t.Errorf("parseDMIVendor(%q) = %q, %q; want %q, %q", tt.in, line, id, tt.line, tt.id)
			}
		})
	}
}

func smbiosEntry(n int, length, byte19 byte) []byte {
	b := make([]byte, n)
	if n > 1 {
		b[1] = length
	}
	if n > 19 {
		b[19] = byte19
	}
	return b
}

func TestParseSMBIOS(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		signed bool
		want   smbiosBit
	}{
		{name: "vm bit set", in: smbiosEntry(24, 0x18, 0x10), signed: true, want: smbiosVMSet},
		{name: "vm bit clear", in: smbiosEntry(24, 0x18, 0x0c), signed: true, want: smbiosVMUnset},
		{name: "other bits only", in: smbiosEntry(24, 0x18, 0xef), signed: true, want: smbiosVMUnset},
		{name: "truncated to 19 bytes", in: smbiosEntry(19, 0x18, 0), signed: true, want: smbiosVMUnknown},
		{name: "empty", in: nil, signed: true, want: smbiosVMUnknown},
		{name: "exactly 20 bytes", in: smbiosEntry(20, 20, 0x10), signed: true, want: smbiosVMSet},
		{name: "structure too short for extension byte 2", in: smbiosEntry(24, 0x13, 0x10), signed: true, want: smbiosVMUnknown},
		{name: "length 0x90 is negative through x86's signed char", in: smbiosEntry(160, 0x90, 0x10), signed: true, want: smbiosVMUnknown},
		{name: "length 0x90 on ARM's unsigned char", in: smbiosEntry(160, 0x90, 0x10), signed: false, want: smbiosVMSet},
		{name: "length 0x7f", in: smbiosEntry(160, 0x7f, 0x10), signed: true, want: smbiosVMSet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseSMBIOS(tt.in, tt.signed); got != tt.want {
				t.Errorf("parseSMBIOS = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseAmazonProductName(t *testing.T) {
	tests := []struct {
		in    string
		metal bool
	}{
		{"i3.metal\n", true},
		{"m5.metal", true},
		{"c6g.metal-16xl\n", true},
		{"m5.metalx", false},
		{"a1.medium\n", false},
		{"m5.large.metal\n", true},
		{"x.metal.metal", false}, // only the first occurrence counts
		{"m5\n.metal", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := parseAmazonProductName([]byte(tt.in)); got != tt.metal {
			t.Errorf("parseAmazonProductName(%q) = %t, want %t", tt.in, got, tt.metal)
		}
	}
}

func FuzzParseDMIVendor(f *testing.F) {
	for _, v := range dmiVendors {
		f.Add([]byte(v.prefix + " x\n"))
	}
	f.Add([]byte("\r\nKVM"))
	f.Fuzz(func(t *testing.T, data []byte) {
		line, id, err := parseDMIVendor(data)
		if err != nil {
			t.Fatalf("parseDMIVendor: %v", err)
		}
		if strings.ContainsAny(line, "\r\n\x00") {
			t.Fatalf("line %q keeps a marker", line)
		}
		if id == none {
			return
		}
		ok := false
		for _, v := range dmiVendors {
			if strings.HasPrefix(line, v.prefix) {
				if v.id != id {
					t.Fatalf("%q: first matching entry says %s, got %s", line, v.id, id)
				}
				ok = true
				break
			}
		}
		if !ok {
			t.Fatalf("%q matched %s without a table entry", line, id)
		}
	})
}

func FuzzParseSMBIOS(f *testing.F) {
	f.Add(smbiosEntry(24, 0x18, 0x10), true)
	f.Add(smbiosEntry(19, 0x18, 0x10), false)
	f.Fuzz(func(t *testing.T, data []byte, signed bool) {
		got := parseSMBIOS(data, signed)
		if len(data) < 20 && got != smbiosVMUnknown {
			t.Fatalf("%d bytes decided %v", len(data), got)
		}
		if got == smbiosVMSet && data[19]&0x10 == 0 {
			t.Fatal("set without bit 4")
		}
		if !signed && len(data) >= 20 && data[1] >= 20 && got == smbiosVMUnknown {
			t.Fatal("unsigned length >= 20 left unknown")
		}
		_ = parseAmazonProductName(data)
	})
}
