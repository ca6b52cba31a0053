package kernel

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	h := writeTree(t, map[string]string{"ok": "1\n", "big": strings.Repeat("x", 101), "dir/": ""})
	if b, err := h.readFile("ok", 100); err != nil || string(b) != "1\n" {
		t.Errorf("readFile(ok) = %q, %v", b, err)
	}
	if _, err := h.readFile("big", 100); !errors.Is(err, errTooLarge) {
		t.Errorf("readFile(big) error = %v, want errTooLarge", err)
	}
	if _, err := h.readFile("dir", 100); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("readFile(dir) error = %v", err)
	}
	_, err := h.readFile("missing", 100)
	if !isNotExist(err) || strings.Contains(err.Error(), string(h)) {
		t.Errorf("readFile(missing) error = %v: want not-exist naming only the relative path", err)
	}
	if err := os.Symlink("/dev/zero", h.path("zero")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.readFile("zero", 100); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("readFile(-> /dev/zero) error = %v", err)
	}
}
