package virt

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestParseProcField(t *testing.T) {
	tests := []struct {
		name, in, pattern string
		want              string
		err               error
	}{
		{name: "tracer zero", in: "Name:\tx\nTracerPid:\t0\nUid:\t0\n", pattern: "TracerPid", want: "0"},
		{name: "tracer pid", in: "TracerPid:\t4242\n", pattern: "TracerPid", want: "4242"},
		{name: "leading zeros dropped", in: "TracerPid:\t000123\n", pattern: "TracerPid", want: "123"},
		{name: "spaces before colon", in: "TracerPid \t:\t7\n", pattern: "TracerPid", want: "7"},
		{name: "not at line start", in: "XTracerPid:\t7\nTracerPid:\t8\n", pattern: "TracerPid", want: "8"},
		{name: "missing", in: "Name:\tx\n", pattern: "TracerPid", err: syscall.ENOENT},
		{name: "no colon", in: "TracerPid 7\n", pattern: "TracerPid", err: syscall.ENOENT},
		{name: "pattern at end", in: "TracerPid", pattern: "TracerPid", err: syscall.ENOENT},
		{name: "empty value backs off onto the colon", in: "TracerPid:\n", pattern: "TracerPid", want: ":"},
		{name: "empty value at eof", in: "TracerPid:", pattern: "TracerPid", want: ""},
		{name: "embedded nul", in: "TracerPid:\t0\x00\n", pattern: "TracerPid", err: syscall.EBADMSG},
		{name: "zvm", in: "VM00 Name:        LINUX1\nVM00 Control Program: z/VM    6.4.0\n", pattern: "VM00 Control Program", want: "z/VM"},
		{name: "kvm on s390", in: "VM00 Control Program: KVM/Linux\n", pattern: "VM00 Control Program", want: "KVM/Linux"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcField([]byte(tt.in), tt.pattern, whitespace)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("parseProcField = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParsePID(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"1", 1, true}, {"4242", 4242, true}, {"+7", 7, true}, {"2147483647", 2147483647, true},
		{"0x10", 16, true}, {"010", 8, true}, {"0b11", 3, true}, {"0o17", 15, true},
		{"0", 0, false}, {"-1", 0, false}, {"2147483648", 0, false}, {"", 0, false}, {":", 0, false},
		{"12a", 0, false}, {"08", 0, false}, {"0x", 0, false}, {"99999999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := parsePID(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parsePID(%q) = %d, %v; want %d ok=%t", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseSysinfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"VM00 Control Program: z/VM    7.2.0\n", "zvm"},
		{"VM00 Control Program: KVM/Linux\n", "kvm"},
		{"LPAR Name: LP01\n", "none"},
		{"", "none"},
	}
	for _, tt := range tests {
		got, err := parseSysinfo([]byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("parseSysinfo(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseSysinfo([]byte("VM00 Control Program: z/VM\x00")); !errors.Is(err, syscall.EBADMSG) {
		t.Errorf("NUL in sysinfo: err = %v, want EBADMSG", err)
	}
}

func FuzzParseProcField(f *testing.F) {
	f.Add([]byte("Name:\tx\nTracerPid:\t0\n"))
	f.Add([]byte("TracerPid:\n"))
	f.Add([]byte("VM00 Control Program: z/VM 7\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseProcField(data, "TracerPid", whitespace)
		if err == nil {
			if strings.ContainsAny(v, whitespace) {
				t.Fatalf("value %q holds a terminator", v)
			}
			if !strings.Contains(string(data), v) {
				t.Fatalf("value %q not in input", v)
			}
		}
		if pid, err := parseTracerPID(data); err == nil && (pid < 0 || pid > 1<<31-1) {
			t.Fatalf("pid %d out of range", pid)
		}
		if id, err := parseSysinfo(data); err == nil && id != "zvm" && id != "kvm" && id != none {
			t.Fatalf("sysinfo id %q", id)
		}
	})
}
