package virt

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestParseXenFeatures(t *testing.T) {
	tests := []struct {
		in       string
		longBits int
		dom0, ok bool
	}{
		{"00000800", 64, true, true},
		{"800", 64, true, true},
		{"00000000", 64, false, true},
		{"fffff7ff", 64, false, true},
		{"0x800", 64, true, true},
		{"0X801", 64, true, true},
		{"  \t801", 64, true, true},
		{"+800", 64, true, true},
		{"-1", 64, true, true},    // strtoul wraps: all bits set
		{"-801", 64, false, true}, // 2^64-0x801 = ^0x800: bit 11 clear
		{"801zz", 64, true, true}, // sscanf stops at the first non-hex byte
		{"1ffffffffffffffff", 64, true, true},
		{"100000000", 32, true, true}, // overflows a 32-bit long: ULONG_MAX
		{"100000000", 64, false, true},
		{"0x", 64, false, true},
		{"", 64, false, false},
		{"zz", 64, false, false},
		{"-", 64, false, false},
	}
	for _, tt := range tests {
		dom0, ok := parseXenFeatures(tt.in, tt.longBits)
		if dom0 != tt.dom0 || ok != tt.ok {
			t.Errorf("parseXenFeatures(%q, %d) = %t, %t; want %t, %t", tt.in, tt.longBits, dom0, ok, tt.dom0, tt.ok)
		}
	}
}

func TestParseXenCapabilities(t *testing.T) {
	tests := []struct {
		in   string
		dom0 bool
		err  error
	}{
		{in: "control_d", dom0: true},
		{in: "", dom0: false},
		{in: "xen,control_d", dom0: true},
		{in: ",,control_d,,", dom0: true},
		{in: "control_d ", dom0: false},
		{in: "\"control_d\"", dom0: false},
		{in: "con\\trol_d", dom0: true},
		{in: "\\control_d", dom0: true},
		{in: "control_d\\", err: syscall.EINVAL},
		{in: "a,b\\", err: syscall.EINVAL},
		{in: "control_d,b\\", dom0: true}, // found before the bad escape
		{in: "control\\,d", dom0: false},
	}
	for _, tt := range tests {
		dom0, err := parseXenCapabilities(tt.in)
		if !errors.Is(err, tt.err) || dom0 != tt.dom0 {
			t.Errorf("parseXenCapabilities(%q) = %t, %v; want %t, %v", tt.in, dom0, err, tt.dom0, tt.err)
		}
	}
}

func FuzzParseXen(f *testing.F) {
	f.Add([]byte("800"), []byte("control_d"))
	f.Add([]byte("-0x"), []byte("a,\\"))
	f.Fuzz(func(t *testing.T, features, caps []byte) {
		line, _, err := parseOneLine(features)
		if err != nil {
			t.Fatal(err)
		}
		d64, ok64 := parseXenFeatures(line, 64)
		d32, ok32 := parseXenFeatures(line, 32)
		if ok64 != ok32 {
			t.Fatalf("%q: ok differs by width", line)
		}
		if !ok64 && (d64 || d32) {
			t.Fatalf("%q: dom0 without a parse", line)
		}
		capLine, _, err := parseOneLine(caps)
		if err != nil {
			t.Fatal(err)
		}
		dom0, err := parseXenCapabilities(capLine)
		if dom0 && err != nil {
			t.Fatal("dom0 with an error")
		}
		if dom0 && !strings.Contains(strings.ReplaceAll(capLine, "\\", ""), "control_d") {
			t.Fatalf("%q: dom0 without control_d", capLine)
		}
	})
}
