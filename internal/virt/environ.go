package virt

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"syscall"
)

// scanEnvironVar looks up one variable in a /proc/PID/environ stream the way
// systemd 252's getenv_for_pid() does: NUL-separated entries read with
// read_nul_string() (so a "\n" is part of the value), the first entry "NAME=..."
// wins, an entry of LONG_LINE_MAX characters or more is ENOBUFS, and the search
// gives up with ENOBUFS once more than ENVIRONMENT_BLOCK_MAX bytes were read.
func scanEnvironVar(r io.Reader, name string) (value string, found bool, err error) {
	br := bufio.NewReader(r)
	prefix := name + "="
	sum := 0
	for {
		if sum > environmentBlockMax {
			return "", false, syscall.ENOBUFS
		}
		entry, n, err := readLine(br, longLineMax, true)
		if err != nil {
			return "", false, err
		}
		if n == 0 {
			return "", false, nil
		}
		sum += n
		if v, ok := strings.CutPrefix(entry, prefix); ok {
			return v, true, nil
		}
	}
}

// parseEnviron is scanEnvironVar(…, "container") on bytes: the value of
// $container in PID 1's environment, as systemd-detect-virt reads it.
func parseEnviron(data []byte) (value string, found bool, err error) {
	return scanEnvironVar(bytes.NewReader(data), "container")
}
