//go:build linux

package testenv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// EngineOptions shape the test dockerd.
type EngineOptions struct {
	// Args are extra dockerd flags, e.g. "--ipv6", "--userland-proxy=false",
	// "-H", "tcp://127.0.0.1:2375".
	Args []string
	// DaemonJSON is the daemon.json the engine reads (--config-file); "" means "{}".
	// The machine's own /etc/docker/daemon.json is never read.
	DaemonJSON string
	// NS runs the engine in an existing namespace instead of a new one.
	NS *Netns
}

// Engine is a real dockerd confined to its own network namespace.
type Engine struct {
	NS     *Netns
	Dir    string // temporary directory holding data-root, exec-root, socket, logs
	Socket string // path of the API socket
	Host   string // DOCKER_HOST value: "unix://" + Socket
	Image  string // the busybox test image, present in every engine

	opts    EngineOptions
	args    []string
	cmd     *exec.Cmd
	waitErr chan error
	logFile *os.File
}

// StartEngine starts dockerd in a fresh network namespace (or opts.NS), imports
// the busybox test image, and registers the teardown: every container removed,
// dockerd stopped (SIGTERM, then SIGKILL of the processes it started), mounts
// under Dir unmounted, Dir and the namespace deleted.
func StartEngine(t testing.TB, opts EngineOptions) *Engine {
	t.Helper()
	RequireRoot(t)
	ns := opts.NS
	if ns == nil {
		ns = NewNetns(t)
	}
	// A short directory: the socket path must fit in sun_path (108 bytes).
	dir, err := os.MkdirTemp("", "hdt")
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{NS: ns, Dir: dir, Socket: filepath.Join(dir, "d.sock"), Image: Image, opts: opts}
	e.Host = "unix://" + e.Socket
	t.Cleanup(func() { e.teardown(t) })

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	runtimePath := filepath.Join(dir, runtimeName)
	if err := os.Symlink(self, runtimePath); err != nil {
		t.Fatal(err)
	}
	daemonJSON := opts.DaemonJSON
	if daemonJSON == "" {
		daemonJSON = "{}"
	}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(daemonJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	unique := filepath.Base(dir)
	e.args = append([]string{"dockerd",
		"--host", e.Host,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--config-file", filepath.Join(dir, "daemon.json"),
		// Separate containerd namespaces keep parallel engines from ever seeing,
		// restoring or cleaning up each other's containers.
		"--containerd-namespace", unique,
		"--containerd-plugins-namespace", unique + "-plugins",
		"--add-runtime", "hardend-test=" + runtimePath,
		"--default-runtime", "hardend-test",
		// busybox as pid 1 ignores SIGTERM: do not wait 10 s per container on Stop.
		"--shutdown-timeout", "1",
	}, opts.Args...)
	e.Start(t)

	tarball, err := busyboxRootfs()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "-H", e.Host, "import", "-", Image)
	cmd.Stdin = bytes.NewReader(tarball)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import test image: %v: %s", err, out)
	}
	return e
}

// Start starts dockerd (again) with the same flags and data, and waits until its
// API answers.
func (e *Engine) Start(t testing.TB) {
	t.Helper()
	if e.cmd != nil {
		t.Fatal("testenv: engine already running")
	}
	logFile, err := os.OpenFile(filepath.Join(e.Dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := e.NS.Command(context.Background(), e.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so a terminal's ^C reaches the test binary, which
	// then tears the engine down in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start dockerd: %v", err)
	}
	e.cmd, e.logFile = cmd, logFile
	e.waitErr = make(chan error, 1)
	go func() { e.waitErr <- cmd.Wait() }()
	if err := e.waitReady(30 * time.Second); err != nil {
		t.Fatalf("dockerd did not come up: %v\n%s", err, e.LogTail(40))
	}
}

// Stop stops dockerd with SIGTERM (SIGKILL after 20 s) and waits for it.
// Containers keep their state; Start brings the daemon back.
func (e *Engine) Stop(t testing.TB) {
	t.Helper()
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.waitErr:
	case <-time.After(20 * time.Second):
		t.Logf("dockerd did not stop in 20 s; killing pid %d", e.cmd.Process.Pid)
		_ = e.cmd.Process.Kill()
		<-e.waitErr
	}
	e.cmd = nil
	e.logFile.Close()
}

// Restart is Stop then Start.
func (e *Engine) Restart(t testing.TB) {
	t.Helper()
	e.Stop(t)
	e.Start(t)
}

// PID is dockerd's pid (0 when stopped).
func (e *Engine) PID() int {
	if e.cmd == nil {
		return 0
	}
	return e.cmd.Process.Pid
}

// Signal sends sig to dockerd, e.g. SIGSTOP and SIGCONT to freeze the API.
func (e *Engine) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if e.cmd == nil {
		t.Fatal("testenv: engine not running")
	}
	if err := e.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal dockerd: %v", err)
	}
}

// Docker runs the docker CLI against this engine and returns its trimmed stdout;
// it fails the test on error.
func (e *Engine) Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.DockerErr(args...)
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// DockerErr is Docker returning the error (with stderr) instead of failing.
func (e *Engine) DockerErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", e.Host}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// HTTPClient talks to the engine's API socket directly (cheaper than the CLI in
// tight loops).
func (e *Engine) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", e.Socket)
		},
	}}
}

// LogTail returns the last n lines dockerd logged.
func (e *Engine) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(e.Dir, "dockerd.log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (e *Engine) waitReady(limit time.Duration) error {
	client := e.HTTPClient()
	client.Timeout = time.Second
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-e.waitErr:
			e.waitErr <- err
			return fmt.Errorf("dockerd exited: %v", err)
		default:
		}
		resp, err := client.Get("http://docker/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("ping: %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s within %s: %v", e.Socket, limit, last)
}

// teardown removes every container, stops dockerd and the containerd it started,
// and removes everything under Dir. It runs even when the test failed.
func (e *Engine) teardown(t testing.TB) {
	if e.cmd != nil {
		// A frozen daemon (a fault test) must be thawed to answer.
		_ = e.cmd.Process.Signal(syscall.SIGCONT)
		e.RemoveAllContainers(t)
		containerd := readPid(filepath.Join(e.Dir, "exec", "containerd", "containerd.pid"))
		e.Stop(t)
		// dockerd stops the containerd it supervises; if it was killed, we stop it.
		if containerd > 0 && processAlive(containerd) && isChildOfEngine(containerd, e.Dir) {
			_ = syscall.Kill(containerd, syscall.SIGKILL)
		}
	}
	unmountBelow(t, e.Dir)
	if err := os.RemoveAll(e.Dir); err != nil {
		t.Errorf("testenv: remove %s: %v", e.Dir, err)
	}
}

func readPid(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	return pid
}

func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// isChildOfEngine makes sure a pid read from a pid file still names the
// containerd of this engine (its command line mentions the engine's directory)
// before it is killed.
func isChildOfEngine(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(dir))
}

// unmountBelow detaches every mount under dir, deepest first (overlay layers,
// netns bind mounts, shm) so that dir can be removed.
func unmountBelow(t testing.TB, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			mp := unescapeMount(fields[4])
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				points = append(points, mp)
			}
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			t.Logf("testenv: unmount %s: %v", p, err)
		}
	}
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// RemoveAllContainers force-removes every container of the engine, 25 per
// call, 8 calls at a time: one `docker rm -f` of 500 containers outlasts any
// sane deadline, and a killed removal leaves shims running after the namespace
// is gone.
func (e *Engine) RemoveAllContainers(t testing.TB) {
	out, err := e.DockerErr("ps", "-aq")
	if err != nil || out == "" {
		return
	}
	ids := strings.Fields(out)
	const batch, parallel = 25, 8
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for len(ids) > 0 {
		n := min(batch, len(ids))
		chunk := ids[:n]
		ids = ids[n:]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := e.DockerErr(append([]string{"rm", "-f"}, chunk...)...); err != nil {
				t.Logf("testenv: removing containers: %v", err)
			}
		}()
	}
	wg.Wait()
}
