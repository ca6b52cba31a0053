package containers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxSymlinks bounds symlink resolution, as the kernel's MAXSYMLINKS (40).
const maxSymlinks = 40

// resolveUnder resolves p, an absolute path on the host, to its canonical form
// by following symlinks inside root: an absolute link target restarts at root,
// never at this process's "/", so /var/run -> /run resolves the same on the
// host and on a host mounted at /host. Components that do not exist are kept
// as they are (the rest of the path is returned unresolved). The result is a
// host path ("/run/docker.sock"), not prefixed by root.
func resolveUnder(root, p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("resolve %q: not an absolute path", p)
	}
	rest := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	resolved := "/"
	links := 0
	for len(rest) > 0 {
		comp := rest[0]
		rest = rest[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, comp)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				// Keep the unresolvable remainder literally.
				return path.Join(append([]string{next}, rest...)...), nil
			}
			return "", fmt.Errorf("resolve %q: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("resolve %q: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", fmt.Errorf("resolve %q: %w", p, err)
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return resolved, nil
}

// hostPath joins a host path to root for this process to open.
func hostPath(root, p string) string { return filepath.Join(root, p) }

// isPathWithin reports whether p equals dir or lies below it (both clean,
// absolute host paths).
func isPathWithin(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}
