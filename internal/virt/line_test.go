package virt

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLines(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		onlyNUL bool
		want    []string
	}{
		{name: "empty", in: "", want: nil},
		{name: "no newline", in: "abc", want: []string{"abc"}},
		{name: "unix", in: "a\nb\n", want: []string{"a", "b"}},
		{name: "windows", in: "a\r\nb\r\n", want: []string{"a", "b"}},
		{name: "old mac", in: "a\rb", want: []string{"a", "b"}},
		{name: "lf cr is one end", in: "a\n\rb", want: []string{"a", "b"}},
		{name: "repeated marker starts an empty line", in: "a\n\nb", want: []string{"a", "", "b"}},
		{name: "crlf crlf", in: "a\r\n\r\nb", want: []string{"a", "", "b"}},
		{name: "nul ends", in: "a\x00b", want: []string{"a", "b"}},
		{name: "lf nul is one end", in: "a\n\x00b", want: []string{"a", "b"}},
		{name: "nothing follows a nul", in: "a\x00\nb", want: []string{"a", "", "b"}},
		{name: "only newline", in: "\n", want: []string{""}},
		{name: "nul strings keep newlines", in: "a=1\nx\x00b=2\x00", onlyNUL: true, want: []string{"a=1\nx", "b=2"}},
		{name: "nul strings empty entries", in: "\x00\x00a", onlyNUL: true, want: []string{"", "", "a"}},
		{name: "nul strings carriage return kept", in: "a\r\x00", onlyNUL: true, want: []string{"a\r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLines([]byte(tt.in), tt.onlyNUL)
			if err != nil {
				t.Fatalf("parseLines: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOneLine(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		want     string
		nonEmpty bool
		err      error
	}{
		{name: "empty file", in: nil, want: "", nonEmpty: false},
		{name: "just a newline counts as content", in: []byte("\n"), want: "", nonEmpty: true},
		{name: "first line", in: []byte("lxc\ndocker\n"), want: "lxc", nonEmpty: true},
		{name: "cut at nul", in: []byte("lxc\x00docker"), want: "lxc", nonEmpty: true},
		{name: "line below the limit", in: bytes.Repeat([]byte("a"), longLineMax-1), want: strings.Repeat("a", longLineMax-1), nonEmpty: true},
		{name: "line at the limit is ENOBUFS", in: bytes.Repeat([]byte("a"), longLineMax), err: syscall.ENOBUFS},
		{name: "line at the limit even with newline", in: append(bytes.Repeat([]byte("a"), longLineMax), '\n'), err: syscall.ENOBUFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, nonEmpty, err := parseOneLine(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if got != tt.want || nonEmpty != tt.nonEmpty {
				t.Errorf("parseOneLine = %q, %t; want %q, %t", got, nonEmpty, tt.want, tt.nonEmpty)
			}
		})
	}
}

func FuzzParseLines(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\n\r\nb", "\x00\x00", "x\n\r\x00y", "container=lxc\x00"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, onlyNUL bool) {
		lines, err := parseLines(data, onlyNUL)
		if err != nil {
			t.Fatalf("parseLines: %v", err)
		}
		total := 0
		for _, l := range lines {
			total += len(l)
			if strings.IndexByte(l, 0) >= 0 || (!onlyNUL && strings.ContainsAny(l, "\r\n")) {
				t.Fatalf("line %q keeps a marker", l)
			}
		}
		// Lines plus markers are the input: nothing invented, nothing lost but markers.
		markers := 0
		for _, c := range data {
			if c == 0 || (!onlyNUL && (c == '\n' || c == '\r')) {
				markers++
			}
		}
		if total+markers != len(data) {
			t.Fatalf("%d line bytes + %d markers != %d input bytes", total, markers, len(data))
		}
		first, _, err := parseOneLine(data)
		if err != nil {
			t.Fatal(err)
		}
		if !onlyNUL && len(lines) > 0 && first != lines[0] {
			t.Fatalf("parseOneLine %q != first line %q", first, lines[0])
		}
	})
}
