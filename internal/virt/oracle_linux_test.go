//go:build linux

package virt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// sdvPath is the real systemd-detect-virt the detector is held against.
const sdvPath = "/usr/bin/systemd-detect-virt"

// answers are systemd-detect-virt's three outputs; "error" when it failed.
type answers struct{ def, vm, container string }

func (a answers) String() string {
	return fmt.Sprintf("default=%s vm=%s container=%s", a.def, a.vm, a.container)
}

func detectionAnswers(d Detection) answers {
	or := func(s string, err error) string {
		if err != nil {
			return "error"
		}
		return s
	}
	def := d.Default()
	var defErr error
	if d.ContainerErr != nil || (def == "" && d.VMErr != nil) {
		defErr = errors.New("failed")
	}
	return answers{def: or(def, defErr), vm: or(d.VM, d.VMErr), container: or(d.Container, d.ContainerErr)}
}

// runSDV runs systemd-detect-virt with args, chrooted into root when root != "".
func runSDV(root string, args ...string) (string, error) {
	cmd := exec.Command(sdvPath, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "SYSTEMD_LOG_LEVEL=err"}
	if root != "" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		cmd.Dir = "/"
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := strings.TrimSpace(stdout.String())
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return "", fmt.Errorf("run %s %v: %w (%s)", sdvPath, args, err, stderr.String())
	}
	if out == "" {
		// No answer printed: it failed ("Failed to check for ...").
		return "error", nil
	}
	return out, nil
}

func sdvAnswers(root string) (answers, error) {
	var a answers
	for _, x := range []struct {
		dst  *string
		args []string
	}{{&a.def, nil}, {&a.vm, []string{"--vm"}}, {&a.container, []string{"--container"}}} {
		out, err := runSDV(root, x.args...)
		if err != nil {
			return a, err
		}
		*x.dst = out
	}
	return a, nil
}

// requireSDV252 skips unless systemd 252's systemd-detect-virt is installed.
func requireSDV252(t *testing.T) {
	t.Helper()
	out, err := exec.Command(sdvPath, "--version").Output()
	if err != nil {
		t.Skipf("%s not available: %v", sdvPath, err)
	}
	if !strings.HasPrefix(string(out), "systemd 252 ") {
		t.Skipf("%s is %q, not systemd 252: the detector follows 252", sdvPath, strings.SplitN(string(out), "\n", 2)[0])
	}
}

// TestLiveMatchesSystemdDetectVirt compares Detect on this machine's root with the
// installed systemd-detect-virt: it catches drift on whatever machine CI runs on.
// (On the development machine, a Docker container on a Firecracker KVM guest, both
// say docker / kvm / docker.)
func TestLiveMatchesSystemdDetectVirt(t *testing.T) {
	if _, err := os.Stat(sdvPath); err != nil {
		t.Skipf("systemd-detect-virt not installed: %v", err)
	}
	want, err := sdvAnswers("")
	if err != nil {
		t.Fatal(err)
	}
	d := Detect(Source{Root: "/"})
	if got := detectionAnswers(d); got != want {
		t.Errorf("Detect(/) = %v, systemd-detect-virt says %v\nevidence:\n  %s", got, want, strings.Join(d.Evidence, "\n  "))
	}
	t.Logf("this machine: %v", want)
}

// oracleStage holds systemd-detect-virt and its libraries, hard-linked into each
// chroot so that the binary sees exactly the tree Detect reads.
type oracleStage struct {
	dir   string
	files []string
}

func newOracleStage(t *testing.T) *oracleStage {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the chroot oracle needs root (chroot(2)); CI runs as root")
	}
	requireSDV252(t)
	out, err := exec.Command("ldd", sdvPath).Output()
	if err != nil {
		t.Skipf("ldd %s: %v", sdvPath, err)
	}
	files := []string{sdvPath}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			files = append(files, f)
		}
	}
	st := &oracleStage{dir: t.TempDir()}
	for _, f := range files {
		real, err := filepath.EvalSymlinks(f)
		if err != nil {
			t.Fatalf("resolve %s: %v", f, err)
		}
		if err := copyFile(real, filepath.Join(st.dir, "master", f)); err != nil {
			t.Fatal(err)
		}
		st.files = append(st.files, f)
	}
	return st
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// root makes a fresh chroot: the binary and libraries plus what fill writes.
func (st *oracleStage) root(name string, fill func(root string) error) (string, error) {
	root := filepath.Join(st.dir, "roots", name)
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	if err := fill(root); err != nil {
		return "", err
	}
	for _, f := range st.files {
		dst := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.Link(filepath.Join(st.dir, "master", f), dst); err != nil {
			return "", err
		}
	}
	return root, nil
}

// copyTree copies a fixture tree (regular files and directories only).
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return copyFile(p, target)
	})
}

// TestOracleChroot holds Detect against the real systemd 252 binary, chrooted into
// the very same trees: every case of the shared corpus, every fixture of ours, and
// a few hundred generated hostile trees. Both see this machine's CPUID, so all
// three answers must agree exactly, errors included.
func TestOracleChroot(t *testing.T) {
	st := newOracleStage(t)
	type tree struct {
		name string
		fill func(root string) error
		desc string
	}
	var trees []tree
	for _, dir := range []string{corpusDir, "testdata"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Logf("skip %s: %v", dir, err)
			continue
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			src := filepath.Join(dir, e.Name())
			trees = append(trees, tree{name: filepath.Base(dir) + "-" + e.Name(), fill: func(root string) error { return copyTree(src, root) }})
		}
	}
	r := rand.New(rand.NewSource(252))
	for i := 0; i < 300; i++ {
		g := genHostTree(r)
		trees = append(trees, tree{name: fmt.Sprintf("gen-%03d", i), fill: g.writeTo, desc: g.describe()})
	}
	type outcome struct {
		name     string
		got, sdv answers
		desc     string
		evidence []string
		err      error
	}
	// A small worker pool: each tree costs three short execs.
	work := make(chan tree)
	results := make(chan outcome)
	var wg sync.WaitGroup
	for w := 0; w < max(2, runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tr := range work {
				root, err := st.root(tr.name, tr.fill)
				if err != nil {
					results <- outcome{name: tr.name, err: err}
					continue
				}
				sdv, err := sdvAnswers(root)
				if err != nil {
					results <- outcome{name: tr.name, err: err}
					continue
				}
				d := Detect(Source{Root: root, Arch: "x86_64"})
				results <- outcome{name: tr.name, got: detectionAnswers(d), sdv: sdv, desc: tr.desc, evidence: d.Evidence}
				_ = os.RemoveAll(root)
			}
		}()
	}
	go func() {
		for _, tr := range trees {
			work <- tr
		}
		close(work)
		wg.Wait()
		close(results)
	}()
	agree := 0
	seen := map[answers]int{}
	for o := range results {
		if o.err != nil {
			t.Errorf("%s: %v", o.name, o.err)
			continue
		}
		if o.got != o.sdv {
			t.Errorf("%s: Detect = %v, systemd-detect-virt 252 = %v\ntree:\n%s\nevidence:\n  %s", o.name, o.got, o.sdv, o.desc, strings.Join(o.evidence, "\n  "))
			continue
		}
		agree++
		seen[o.sdv]++
	}
	t.Logf("%d of %d trees: identical answers to systemd-detect-virt 252 (%d distinct answer triples)", agree, len(trees), len(seen))
	if testing.Verbose() {
		for a, n := range seen {
			t.Logf("  %4d × %v", n, a)
		}
	}
}
