package virt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Limits systemd 252 applies when it reads (src/basic/fileio.h, fileio.c,
// process-util.c). Reproducing them matters: a too-long first line is an error that
// aborts VM detection in systemd, not a truncated value.
const (
	longLineMax         = 1024 * 1024         // LONG_LINE_MAX
	readVirtualBytesMax = 4*1024*1024 - 2     // READ_VIRTUAL_BYTES_MAX
	environmentBlockMax = 5 * 1024 * 1024     // ENVIRONMENT_BLOCK_MAX
	cpuinfoMax          = 64 * 1024 * 1024    // hardend's own bound on /proc/cpuinfo (see scanCPUInfo)
	smbiosReadMax       = readVirtualBytesMax // read_full_virtual_file() limit
)

// errSpecialFile refuses FIFOs and sockets planted where a host file belongs:
// systemd would block reading them forever; hardend reports them unreadable.
var errSpecialFile = errors.New("a FIFO or socket, not a file: not read")

// rootFS reads host files below a root directory. Paths given to its methods are
// absolute host paths ("/proc/vz"); they are joined below root, like procfs.FS.
type rootFS struct {
	root string
}

// path maps an absolute host path to the file below root.
func (f rootFS) path(p string) string {
	return filepath.Join(f.root, p)
}

// isNotExist reports ENOENT exactly: systemd treats only ENOENT as "absent"
// (ENOTDIR, EACCES, EISDIR... are errors), and so do we.
func isNotExist(err error) bool {
	return errors.Is(err, syscall.ENOENT)
}

// access is access(path, F_OK): it follows symlinks, a dangling one is ENOENT.
func (f rootFS) access(p string) error {
	_, err := os.Stat(f.path(p))
	return err
}

// exists is access() == 0.
func (f rootFS) exists(p string) bool {
	return f.access(p) == nil
}

// readOneLineFile is systemd's read_one_line_file(): the first line as cut by
// read_line() and the number of bytes consumed (0 only for an empty file).
func (f rootFS) readOneLineFile(p string) (string, int, error) {
	file, err := openNoBlock(f.path(p))
	if err != nil {
		return "", 0, err
	}
	defer file.Close()
	line, n, err := readLine(bufio.NewReader(file), longLineMax, false)
	if err != nil {
		return "", 0, &fs.PathError{Op: "read", Path: f.path(p), Err: err}
	}
	return line, n, nil
}

// readVirtualFile is systemd's read_full_virtual_file(): a regular file only
// (EBADF otherwise), at most READ_VIRTUAL_BYTES_MAX bytes (EFBIG beyond), and, when
// the caller does not take the size (allowNUL false), no embedded NUL (EBADMSG).
func (f rootFS) readVirtualFile(p string, allowNUL bool) ([]byte, error) {
	file, err := openNoBlock(f.path(p))
	if err != nil {
		return nil, err
	}
	defer file.Close()
	regular, err := file.isRegular()
	if err != nil {
		return nil, err
	}
	if !regular {
		return nil, &fs.PathError{Op: "read", Path: f.path(p), Err: syscall.EBADF}
	}
	data, err := io.ReadAll(io.LimitReader(file, readVirtualBytesMax+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: f.path(p), Err: err}
	}
	if len(data) > readVirtualBytesMax {
		return nil, &fs.PathError{Op: "read", Path: f.path(p), Err: syscall.EFBIG}
	}
	if !allowNUL && bytes.IndexByte(data, 0) >= 0 {
		return nil, &fs.PathError{Op: "read", Path: f.path(p), Err: syscall.EBADMSG}
	}
	return data, nil
}

// open opens a file for streaming (cpuinfo, environ) without blocking on FIFOs.
func (f rootFS) open(p string) (io.ReadCloser, error) {
	return openNoBlock(f.path(p))
}

// readDirNames lists a directory like opendir()+readdir().
func (f rootFS) readDirNames(p string) ([]string, error) {
	entries, err := os.ReadDir(f.path(p))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// errText renders an error for evidence without repeating the path twice.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s: %v", pe.Path, pe.Err)
	}
	return err.Error()
}
