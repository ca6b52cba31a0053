//go:build linux

package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tools the root tests need; RequireRoot skips when one is missing.
var tools = []string{"ip", "nsenter", "iptables-save", "iptables-restore", "dockerd", "docker"}

// RequireRoot skips the test unless it runs as root with the tools a real-kernel
// test needs. The README's test command runs as root and installs them, so in CI
// these tests always run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, iptables, dockerd); run ./scripts/test.sh as root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s on PATH (./scripts/test.sh installs it): %v", tool, err)
		}
	}
}

// Netns is a network namespace created by the test, pinned at Path.
type Netns struct {
	Name string
	Path string // /run/netns/Name
}

var nsCounter atomic.Int64

// NewNetns creates a fresh network namespace with loopback up. Its name is unique
// to this process, so parallel tests and parallel test binaries never collide. It
// is deleted when the test ends.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	RequireRoot(t)
	name := fmt.Sprintf("hdt%d-%d", os.Getpid(), nsCounter.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &Netns{Name: name, Path: "/run/netns/" + name}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n.Run(t, "ip", "link", "set", "lo", "up")
	return n
}

// Command returns a command that runs argv inside the namespace (nsenter --net,
// not `ip netns exec`, which remounts /sys and hides the cgroup mounts dockerd
// needs). nsenter execs argv, so the command's pid is argv's pid.
func (n *Netns) Command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.Path, "--"}, argv...)...)
}

// Run runs argv inside the namespace, fails the test on error and returns stdout.
func (n *Netns) Run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := n.Output(argv...)
	if err != nil {
		t.Fatalf("in %s: %s: %v", n.Name, strings.Join(argv, " "), err)
	}
	return out
}

// Output runs argv inside the namespace with a 60 s deadline and returns stdout;
// the error carries stderr.
func (n *Netns) Output(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := n.Command(ctx, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// inNetns runs fn on a fresh OS thread switched into the namespace. The thread is
// never switched back: the goroutine exits still locked, so the runtime discards
// the thread and no other goroutine ever runs in the wrong namespace. Sockets
// created by fn stay in the namespace for their whole life, whichever thread
// later reads or writes them.
func (n *Netns) inNetns(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(n.Path)
		if err != nil {
			errc <- fmt.Errorf("open %s: %w", n.Path, err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Dial opens a connection from inside the namespace.
func (n *Netns) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.inNetns(func() error {
		var err error
		c, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return c, err
}

// Listen opens a listener inside the namespace.
func (n *Netns) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.inNetns(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket opens a packet listener (UDP) inside the namespace.
func (n *Netns) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.inNetns(func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}

// WaitListening waits (up to 10 s) until addr accepts TCP connections from
// inside the namespace: a server in a fresh container, or a fresh IPv6 address
// still in duplicate address detection, is not there at once.
func (n *Netns) WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := n.Dial("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s in %s: %v", addr, n.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
