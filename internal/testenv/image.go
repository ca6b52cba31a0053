//go:build linux

package testenv

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"time"
)

// Image is the name of the test image every engine has: busybox-static as a whole
// root filesystem, imported without any registry.
const Image = "hardend-test/busybox"

// busyboxApplets get a symlink in /bin, so `sh -c`, `httpd`, `nc` work as commands.
var busyboxApplets = []string{"sh", "httpd", "nc", "sleep", "cat", "id", "ls", "echo", "true", "wget", "ps", "touch", "mkdir", "netstat"}

// busyboxRootfs returns a tar of the test image's root filesystem: /bin/busybox
// and its applets, a passwd with root and an unprivileged "app" (1000:1000), a
// world-writable /tmp and /www/index.html for `httpd -h /www`.
func busyboxRootfs() ([]byte, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("read /bin/busybox (Debian package busybox-static): %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	add := func(h *tar.Header, body []byte) error {
		h.ModTime = now
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if len(body) > 0 {
			_, err := tw.Write(body)
			return err
		}
		return nil
	}
	dir := func(name string, mode int64) error {
		return add(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}, nil)
	}
	file := func(name string, mode int64, body string) error {
		return add(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}, []byte(body))
	}
	steps := []func() error{
		func() error { return dir("bin/", 0o755) },
		func() error { return dir("etc/", 0o755) },
		func() error { return dir("www/", 0o755) },
		func() error { return dir("tmp/", 0o1777) },
		func() error { return dir("data/", 0o777) },
		func() error { return add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bin) },
		func() error {
			return file("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n")
		},
		func() error { return file("etc/group", 0o644, "root:x:0:\napp:x:1000:\n") },
		func() error { return file("www/index.html", 0o644, "hardend-test\n") },
	}
	for _, a := range busyboxApplets {
		steps = append(steps, func() error {
			return add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
		})
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
