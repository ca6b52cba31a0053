package procnet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// UnixSocket is one row of /proc/net/unix.
type UnixSocket struct {
	Path      string // bound path; "@name" for abstract sockets; "" if unbound
	Inode     uint64
	Listening bool // __SO_ACCEPTCON: a server socket accepting connections
}

// soAcceptCon is the kernel's __SO_ACCEPTCON flag in the Flags column.
const soAcceptCon = 1 << 16

// ParseUnix parses the contents of /proc/net/unix.
func ParseUnix(data []byte) ([]UnixSocket, error) {
	var out []UnixSocket
	for i, line := range bytes.Split(data, []byte("\n")) {
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if i == 0 && string(fields[0]) == "Num" {
			continue
		}
		if len(fields) < 7 || !bytes.HasSuffix(fields[0], []byte(":")) {
			return nil, fmt.Errorf("line %d: %w: %d fields, want at least 7", i+1, ErrFormat, len(fields))
		}
		flags, err := strconv.ParseUint(string(fields[3]), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w: flags %q", i+1, ErrFormat, fields[3])
		}
		inode, err := strconv.ParseUint(string(fields[6]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w: inode %q", i+1, ErrFormat, fields[6])
		}
		s := UnixSocket{Inode: inode, Listening: flags&soAcceptCon != 0}
		if len(fields) > 7 {
			// The path is the rest of the line, spaces included.
			s.Path = string(bytes.TrimRight(line[fieldStart(line, 7):], "\r"))
		}
		out = append(out, s)
	}
	return out, nil
}

// fieldStart returns the byte offset where the n-th (0-based) whitespace
// separated field of line begins.
func fieldStart(line []byte, n int) int {
	inField := false
	seen := -1
	for i, c := range line {
		space := c == ' ' || c == '\t'
		if !space && !inField {
			seen++
			if seen == n {
				return i
			}
		}
		inField = !space
	}
	return len(line)
}

// UnixSockets reads <root>/proc/<pid>/net/unix: the unix sockets of pid's
// network namespace.
func UnixSockets(root string, pid int) ([]UnixSocket, error) {
	file := filepath.Join(root, "proc", strconv.Itoa(pid), "net", "unix")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read unix sockets: %w", err)
	}
	socks, err := ParseUnix(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	return socks, nil
}

// SocketInodes returns the inodes of the sockets process pid holds open, from
// the "socket:[N]" links in <root>/proc/<pid>/fd. Links that vanish while being
// read (the process closed them) are skipped.
func SocketInodes(root string, pid int) (map[uint64]bool, error) {
	dir := filepath.Join(root, "proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list open files: %w", err)
	}
	out := make(map[uint64]bool)
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if ino, ok := parseSocketLink(target); ok {
			out[ino] = true
		}
	}
	return out, nil
}

// parseSocketLink decodes an fd link target "socket:[12345]".
func parseSocketLink(target string) (uint64, bool) {
	rest, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, "]")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(num, 10, 64)
	return ino, err == nil
}
