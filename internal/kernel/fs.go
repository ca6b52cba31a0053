package kernel

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Read limits. Every host file is untrusted input (a hostile or broken tree under
// --root can put anything there), so nothing is read unbounded. Real files are far
// below these: /proc/modules ~10 KiB, modules.dep ~0.5-1 MiB, a kernel config
// ~250 KiB decompressed.
const (
	limitSmall   = 64 << 10 // sysctls, osrelease, status, lsm, cmdline, sysfs attributes
	limitList    = 2 << 20  // proc/modules, mounts, modules.builtin
	limitDep     = 16 << 20 // modules.dep
	limitConfig  = 8 << 20  // a kernel config, decompressed
	limitConfigZ = 4 << 20  // proc/config.gz as stored (compressed)
)

// errTooLarge says a file exceeded its read limit; it is reported, never parsed
// truncated, because a truncated kernel config would look like missing options.
var errTooLarge = errors.New("larger than the read limit")

// hostFS reads a host's files below a root directory: "/" on a live host, "/host"
// when hardend runs in a container with the host mounted there, or a testdata tree.
// Paths given to its methods are slash-separated and relative ("proc/modules").
type hostFS string

// path returns the on-disk path of rel below the root.
func (h hostFS) path(rel string) string {
	return filepath.Join(string(h), filepath.FromSlash(rel))
}

// live reports whether the root is this machine's own "/", where asking the
// running kernel directly (uname) is allowed.
func (h hostFS) live() bool { return filepath.Clean(string(h)) == "/" }

// readFile reads rel, refusing anything but a regular file (a FIFO would block, a
// device never end) and anything longer than limit. Errors name rel, not the
// absolute path, so evidence reads the same on every root.
func (h hostFS) readFile(rel string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(h.path(rel), os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	defer f.Close()
	return readOpen(rel, f, limit)
}

// readOpen checks that f is a regular file and reads at most limit bytes of it.
func readOpen(rel string, f *os.File, limit int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		what := "not a regular file"
		if fi.IsDir() {
			what = "is a directory"
		}
		return nil, fmt.Errorf("%s: %s", rel, what)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w (%d bytes)", rel, errTooLarge, limit)
	}
	return b, nil
}

// isDir reports whether rel is a directory (following symlinks).
func (h hostFS) isDir(rel string) bool {
	fi, err := os.Stat(h.path(rel))
	return err == nil && fi.IsDir()
}

// exists reports whether rel exists; a dangling symlink counts (proc/<pid>/ns/*
// are symlinks to "user:[4026531837]"-style names that resolve nowhere in a copy).
func (h hostFS) exists(rel string) bool {
	_, err := os.Lstat(h.path(rel))
	return err == nil
}

// unwrapPath drops the absolute path from *fs.PathError so that the caller's
// relative name is the only one in the message.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// isNotExist reports whether err means the file is absent.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// printable quotes an untrusted value for evidence, cut to a readable length.
func printable(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// firstLine returns the trimmed first line of a small text file.
func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
