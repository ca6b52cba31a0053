//go:build linux

package virt

import (
	"io"
	"io/fs"
	"syscall"
)

// rawFile reads a descriptor with plain read(2), outside Go's poller: opened with
// O_NONBLOCK, a FIFO or tty planted in a tree returns EAGAIN or EOF instead of
// hanging the detector (systemd would block there; a security tool must not).
type rawFile struct {
	fd   int
	path string
}

func openNoBlock(path string) (*rawFile, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFIFO || st.Mode&syscall.S_IFMT == syscall.S_IFSOCK {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: path, Err: errSpecialFile}
	}
	return &rawFile{fd: fd, path: path}, nil
}

func (r *rawFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(r.fd, p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: r.path, Err: err}
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// isRegular is fstat(2) on the open descriptor, so the type checked is the type read.
func (r *rawFile) isRegular() (bool, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(r.fd, &st); err != nil {
		return false, &fs.PathError{Op: "fstat", Path: r.path, Err: err}
	}
	return st.Mode&syscall.S_IFMT == syscall.S_IFREG, nil
}

func (r *rawFile) Close() error {
	return syscall.Close(r.fd)
}
