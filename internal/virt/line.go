package virt

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"syscall"
)

// End-of-line markers as systemd's read_line_full() classifies them.
const (
	eolNone     = 0
	eolZero     = 1 << 0 // \0
	eolTen      = 1 << 1 // \n
	eolThirteen = 1 << 2 // \r
)

func categorizeEOL(c byte, onlyNUL bool) int {
	if !onlyNUL {
		switch c {
		case '\n':
			return eolTen
		case '\r':
			return eolThirteen
		}
	}
	if c == 0 {
		return eolZero
	}
	return eolNone
}

// readLine reproduces systemd 252's read_line_full() (src/basic/fileio.c): a line
// ends at \n, \r or \0 (only \0 when onlyNUL, i.e. read_nul_string()); a run of
// *different* markers (\r\n, \n\r, \n\0, \r\n\0 ...) is one line end, a repeated
// marker starts a new (empty) line, and nothing follows a \0 in the same end.
// It returns the line without markers and the number of bytes consumed; 0 bytes and
// no error means EOF. A line of limit or more characters is ENOBUFS, like systemd.
func readLine(r *bufio.Reader, limit int, onlyNUL bool) (string, int, error) {
	var buf []byte
	n, count := 0, 0
	prev := eolNone
	for {
		if n >= limit {
			return "", count, syscall.ENOBUFS
		}
		c, err := r.ReadByte()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", count, err
		}
		eol := categorizeEOL(c, onlyNUL)
		if prev&eolZero != 0 ||
			(eol == eolNone && prev != eolNone) ||
			(eol != eolNone && prev&eol != 0) {
			// Put it back: it starts the next line.
			_ = r.UnreadByte()
			break
		}
		count++
		if eol != eolNone {
			prev |= eol
			continue
		}
		buf = append(buf, c)
		n++
	}
	return string(buf), count, nil
}

// parseLines splits data into the lines successive read_line() calls return. It is
// the pure form of readLine, used by parsers and their tests.
func parseLines(data []byte, onlyNUL bool) ([]string, error) {
	r := bufio.NewReader(bytes.NewReader(data))
	var lines []string
	for {
		line, n, err := readLine(r, longLineMax, onlyNUL)
		if err != nil {
			return lines, err
		}
		if n == 0 {
			return lines, nil
		}
		lines = append(lines, line)
	}
}

// parseOneLine is read_one_line_file() on bytes: the first line and whether the
// file held anything at all (systemd's "r > 0").
func parseOneLine(data []byte) (line string, nonEmpty bool, err error) {
	line, n, err := readLine(bufio.NewReader(bytes.NewReader(data)), longLineMax, false)
	return line, n > 0, err
}
