package kernel

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testNow is the day golden expectations are computed for: 5.10 and 5.15 are the
// oldest longterm series still supported in December 2026.
var testNow = time.Date(2026, time.December, 15, 12, 0, 0, 0, time.UTC)

// writeTree creates a host tree in a temp dir from slash paths to contents; a
// path ending in "/" becomes an (empty) directory.
func writeTree(t testing.TB, files map[string]string) hostFS {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if p[len(p)-1] == '/' {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return hostFS(root)
}

// fixture returns the path of a testdata tree.
func fixture(name string) string { return filepath.Join("testdata", name) }
