package testenv

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// ModuleRoot is the repository root, found from this file's location so tests in
// any package can build the project's commands.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate the module root")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BuildHardend builds ./cmd/hardend into the test's temporary directory and
// returns its path. The build cache makes repeated builds cheap (a link).
func BuildHardend(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hardend")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/hardend")
	cmd.Dir = ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hardend: %v\n%s", err, b)
	}
	return out
}
