//go:build linux

package kernel

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadFileFIFO: a FIFO planted in a hostile tree must not hang the audit.
func TestReadFileFIFO(t *testing.T) {
	h := writeTree(t, nil)
	if err := os.MkdirAll(filepath.Join(string(h), "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(h.path("proc/modules"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.readFile("proc/modules", limitList)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("readFile(fifo) error = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("readFile blocked on a FIFO")
	}
	// And the whole audit on that tree.
	f, res := audit(h, Options{}, testNow)
	if len(res) == 0 || f.Modules[0].State != ModUnknown {
		t.Errorf("audit over a FIFO: %d results, bridge %s", len(res), f.Modules[0].State)
	}
}
