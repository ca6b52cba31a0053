package virt

import (
	"bytes"
	"strconv"
	"strings"
	"syscall"
)

// whitespace is systemd's WHITESPACE.
const whitespace = " \t\n\r"

// parseProcField is systemd 252's get_proc_field() on a file's contents: the value
// of "pattern:" where pattern starts a line (spaces/tabs allowed before the colon),
// with leading spaces, tabs and zeros dropped (keeping one "0" if nothing else is
// left) and cut at the first terminator byte. A missing field is ENOENT. The
// contents were read with read_full_virtual_file() without a size, so an embedded
// NUL is EBADMSG.
func parseProcField(data []byte, pattern, terminator string) (string, error) {
	if bytes.IndexByte(data, 0) >= 0 {
		return "", syscall.EBADMSG
	}
	status := string(data)
	t := 0
	for {
		// Find pattern at the beginning of a line.
		for {
			i := strings.Index(status[t:], pattern)
			if i < 0 {
				return "", syscall.ENOENT
			}
			t += i
			ok := t == 0 || status[t-1] == '\n'
			t += len(pattern)
			if ok {
				break
			}
		}
		t += spanOf(status[t:], " \t")
		if t >= len(status) {
			return "", syscall.ENOENT
		}
		if status[t] == ':' {
			break
		}
	}
	t++
	if t < len(status) {
		t += spanOf(status[t:], " \t")
		t += spanOf(status[t:], "0")
		// Back off one char if nothing but whitespace and zeros is left.
		if t >= len(status) || strings.IndexByte(" \t\n\v\f\r", status[t]) >= 0 {
			t--
		}
	}
	rest := status[t:]
	if i := strings.IndexAny(rest, terminator); i >= 0 {
		rest = rest[:i]
	}
	return rest, nil
}

// spanOf is strspn().
func spanOf(s, set string) int {
	i := 0
	for i < len(s) && strings.IndexByte(set, s[i]) >= 0 {
		i++
	}
	return i
}

// parseTracerPID returns the TracerPid of a /proc/self/status as systemd's proot
// check reads it: 0 for "not traced", else the pid parse_pid() accepts.
func parseTracerPID(data []byte) (int, error) {
	v, err := parseProcField(data, "TracerPid", whitespace)
	if err != nil {
		return 0, err
	}
	if v == "0" {
		return 0, nil
	}
	return parsePID(v)
}

// parsePID is systemd's parse_pid(): strtoul() after leading whitespace (an
// optional '+', "0x" hex, "0" octal, and systemd's own "0b"/"0o" prefixes), the
// whole string consumed, a positive value that fits pid_t. Values get here with
// leading zeros already stripped by get_proc_field(), so in practice this is a
// positive decimal number.
func parsePID(s string) (int, error) {
	s = strings.TrimLeft(s, whitespace)
	neg := false
	body := s
	if body != "" && (body[0] == '+' || body[0] == '-') {
		neg = body[0] == '-'
		body = body[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(body, "0b") || strings.HasPrefix(body, "0B"):
		base, body = 2, body[2:]
	case strings.HasPrefix(body, "0o") || strings.HasPrefix(body, "0O"):
		base, body = 8, body[2:]
	case strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X"):
		base, body = 16, body[2:]
	case len(body) > 1 && body[0] == '0':
		base, body = 8, body[1:]
	}
	if body == "" {
		return 0, syscall.EINVAL
	}
	u, err := strconv.ParseUint(body, base, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, syscall.ERANGE
		}
		return 0, syscall.EINVAL
	}
	if neg && u != 0 {
		return 0, syscall.ERANGE
	}
	if u == 0 || u > 1<<31-1 {
		return 0, syscall.ERANGE
	}
	return int(u), nil
}

// parseSysinfo is detect_vm_zvm() on /proc/sysinfo (s390): "z/VM" under
// "VM00 Control Program" is z/VM, any other control program is KVM; no such field
// (ENOENT) is not a VM.
func parseSysinfo(data []byte) (string, error) {
	v, err := parseProcField(data, "VM00 Control Program", whitespace)
	if err != nil {
		if err == syscall.ENOENT {
			return none, nil
		}
		return "", err
	}
	if v == "z/VM" {
		return "zvm", nil
	}
	return "kvm", nil
}
