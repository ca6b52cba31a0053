package virt

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestParseEnviron(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		value string
		found bool
		err   error
	}{
		{name: "empty", in: ""},
		{name: "lxc", in: "container=lxc\x00", value: "lxc", found: true},
		{name: "among others", in: "PATH=/bin\x00container=podman\x00HOME=/\x00", value: "podman", found: true},
		{name: "leading empty entry", in: "\x00LANG=C\x00container=podman\x00\n", value: "podman", found: true},
		{name: "no trailing nul", in: "HOME=/\x00container=lxc", value: "lxc", found: true},
		{name: "newline is part of the value", in: "container=lxc\n", value: "lxc\n", found: true},
		{name: "empty value is found", in: "container=\x00", value: "", found: true},
		{name: "first wins", in: "container=lxc\x00container=docker\x00", value: "lxc", found: true},
		{name: "prefix of another name", in: "containers=lxc\x00container_uuid=x\x00"},
		{name: "not at entry start", in: "Xcontainer=lxc\x00"},
		{name: "value with equals", in: "container=a=b\x00", value: "a=b", found: true},
		{name: "entry at the line limit", in: "A=" + strings.Repeat("x", longLineMax) + "\x00container=lxc\x00", err: syscall.ENOBUFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value, found, err := parseEnviron([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if value != tt.value || found != tt.found {
				t.Errorf("parseEnviron = %q, %t; want %q, %t", value, found, tt.value, tt.found)
			}
		})
	}
}

func TestScanEnvironBlockLimit(t *testing.T) {
	// More than ENVIRONMENT_BLOCK_MAX bytes before the variable: systemd gives up.
	var b bytes.Buffer
	entry := "X=" + strings.Repeat("y", 64*1024) + "\x00"
	for b.Len() <= environmentBlockMax {
		b.WriteString(entry)
	}
	b.WriteString("container=lxc\x00")
	if _, _, err := parseEnviron(b.Bytes()); !errors.Is(err, syscall.ENOBUFS) {
		t.Errorf("err = %v, want ENOBUFS", err)
	}
	if _, _, err := scanEnvironVar(endless(0), "container"); !errors.Is(err, syscall.ENOBUFS) {
		t.Errorf("endless NULs: err = %v, want ENOBUFS", err)
	}
}

func FuzzParseEnviron(f *testing.F) {
	f.Add([]byte("container=lxc\x00"))
	f.Add([]byte("\x00A=B\x00container=\x00"))
	f.Add([]byte("container=oci\ncontainer=docker"))
	f.Fuzz(func(t *testing.T, data []byte) {
		value, found, err := parseEnviron(data)
		if err != nil {
			t.Fatalf("parseEnviron: %v", err)
		}
		if !found {
			if value != "" {
				t.Fatalf("value %q without found", value)
			}
			for _, e := range bytes.Split(data, []byte{0}) {
				if bytes.HasPrefix(e, []byte("container=")) {
					t.Fatalf("missed entry %q", e)
				}
			}
			return
		}
		if strings.IndexByte(value, 0) >= 0 {
			t.Fatalf("value %q holds a NUL", value)
		}
		if !bytes.Contains(data, []byte("container="+value)) {
			t.Fatalf("value %q not in input", value)
		}
	})
}
