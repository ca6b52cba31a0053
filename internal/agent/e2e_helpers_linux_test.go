//go:build linux

package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/audit"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/testenv"
	"golang.org/x/sys/unix"
)

// world is one real dockerd in its own namespace, an outsider host, the
// hardend binary, and a watch on every rule change in the engine's namespace.
type world struct {
	eng *testenv.Engine
	out *testenv.Outsider
	bin string
	dir string
	cli *containers.Client // the test's own view of Docker
	mon *ruleMonitor
	n   atomic.Int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	testenv.RequireRoot(t)
	for _, tool := range []string{"nft", "ip6tables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian packages nftables, iptables)", tool)
		}
	}
	w := &world{bin: testenv.BuildHardend(t), dir: t.TempDir()}
	w.eng = testenv.StartEngine(t, testenv.EngineOptions{})
	w.out = w.eng.Outsider(t)
	cli, err := containers.Connect(containers.Options{Host: w.eng.Host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	w.cli = cli
	w.mon = startRuleMonitor(t, w.eng.NS)
	return w
}

// policyFile writes a root-owned policy file, as the agent requires.
func (w *world) policyFile(t *testing.T, doc string) string {
	t.Helper()
	f := filepath.Join(w.dir, fmt.Sprintf("policy-%d.yaml", w.n.Add(1)))
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// run starts a detached busybox container that serves HTTP on port 80, with
// extra docker run flags, and returns its full ID.
func (w *world) run(t *testing.T, name string, flags ...string) string {
	t.Helper()
	args := append([]string{"run", "-d", "--name", name}, flags...)
	args = append(args, w.eng.Image, "httpd", "-f", "-p", "80", "-h", "/")
	id := w.eng.Docker(t, args...)
	t.Cleanup(func() { w.eng.DockerErr("rm", "-f", name) })
	return id
}

// agentProc is hardend running as systemd would run it: its own process, in
// the engine's namespace, DOCKER_HOST set, a NOTIFY_SOCKET to talk to.
type agentProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	policy  string
	logFile string
	notify  *notifyListener
	done    chan struct{}
	waitErr error
}

// startAgent starts hardend with the policy document doc and extra
// environment variables.
func (w *world) startAgent(t *testing.T, doc string, env ...string) *agentProc {
	t.Helper()
	n := w.n.Add(1)
	a := &agentProc{t: t, policy: w.policyFile(t, doc), logFile: filepath.Join(w.dir, fmt.Sprintf("agent-%d.log", n)), done: make(chan struct{})}
	a.notify = listenNotify(t, filepath.Join(w.dir, fmt.Sprintf("notify-%d.sock", n)))
	logf, err := os.Create(a.logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	a.cmd = w.eng.NS.Command(context.Background(), w.bin, "--config", a.policy)
	a.cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_HOST=" + w.eng.Host, "NOTIFY_SOCKET=" + a.notify.path}, env...)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start hardend: %v", err)
	}
	go func() { a.waitErr = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		if !a.exited() {
			a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("hardend's log (%s), last lines:\n%s", a.logFile, a.tail(40))
		}
	})
	return a
}

func (a *agentProc) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

func (a *agentProc) signal(sig syscall.Signal) {
	a.t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		a.t.Fatalf("signal hardend: %v", err)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agentProc) stop() {
	a.t.Helper()
	a.signal(syscall.SIGTERM)
	select {
	case <-a.done:
		if a.waitErr != nil {
			a.t.Errorf("hardend exited with %v after SIGTERM", a.waitErr)
		}
	case <-time.After(20 * time.Second):
		a.t.Fatal("hardend did not stop within 20s of SIGTERM")
	}
}

// kill SIGKILLs the agent.
func (a *agentProc) kill() {
	a.t.Helper()
	a.cmd.Process.Kill()
	<-a.done
}

func (a *agentProc) log() string {
	b, _ := os.ReadFile(a.logFile)
	return string(b)
}

func (a *agentProc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(a.log(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// mark is a position in the agent's log: waitLogAfter looks only past it.
func (a *agentProc) mark() int { return len(a.log()) }

// waitLog waits until the agent's stderr holds a line containing s.
func (a *agentProc) waitLog(s string, timeout time.Duration) {
	a.t.Helper()
	a.waitLogAfter(0, s, timeout)
}

// waitLogAfter waits until the agent's stderr holds a line containing s past
// the mark.
func (a *agentProc) waitLogAfter(mark int, s string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(a.log()[mark:], s) {
		if a.exited() {
			a.t.Fatalf("hardend exited (%v) before logging %q; its log:\n%s", a.waitErr, s, a.tail(30))
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("hardend did not log %q within %v; its log:\n%s", s, timeout, a.tail(30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// notifyListener is the service manager's end of NOTIFY_SOCKET.
type notifyListener struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T, path string) *notifyListener {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifyListener{path: path}
	go func() {
		buf := make([]byte, 8192)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	return n
}

func (n *notifyListener) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// wait waits for a notification that contains every one of parts, and
// returns it.
func (n *notifyListener) wait(t *testing.T, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range n.all() {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(m, p)
			}
			if ok {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no notification with %q within %v; got %q", parts, timeout, n.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ruleMonitor follows `nft monitor rules` in a namespace: every rule added
// or removed there, by Docker (iptables-nft) or hardend, with the time the
// line arrived — one clock for Docker's DNAT and hardend's DROP.
type ruleMonitor struct {
	mu    sync.Mutex
	lines []monLine
}

type monLine struct {
	at   time.Time
	text string
}

func startRuleMonitor(t *testing.T, ns *testenv.Netns) *ruleMonitor {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.Command(ctx, "nft", "monitor", "rules")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("nft monitor: %v", err)
	}
	m := &ruleMonitor{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l := monLine{at: time.Now(), text: sc.Text()}
			m.mu.Lock()
			m.lines = append(m.lines, l)
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cmd.Wait() })
	time.Sleep(100 * time.Millisecond) // subscribed before anything happens
	return m
}

// first returns the time of the first line at or after since that contains
// every one of parts, waiting up to timeout for it.
func (m *ruleMonitor) first(since time.Time, timeout time.Duration, parts ...string) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for {
		m.mu.Lock()
		for _, l := range m.lines {
			if l.at.Before(since) {
				continue
			}
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l.text, p)
			}
			if ok {
				m.mu.Unlock()
				return l.at, true
			}
		}
		m.mu.Unlock()
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// blockLine and dnatLine are what nft monitor prints for hardend's DROP of
// port p (IPv4, HARDEND-FORWARD) and Docker's DNAT of it.
func blockParts(p int) []string {
	return []string{"add rule ip filter HARDEND-FORWARD", fmt.Sprintf("ct original proto-dst %d ", p), "drop"}
}

func dnatParts(p int) []string {
	return []string{"add rule ip nat DOCKER", fmt.Sprintf("dport %d ", p), "dnat to"}
}

// save returns iptables-save (IPv4) or ip6tables-save output of the engine's
// namespace.
func (w *world) save(t *testing.T, v6 bool) string {
	t.Helper()
	prog := "iptables-save"
	if v6 {
		prog = "ip6tables-save"
	}
	return w.eng.NS.Run(t, prog)
}

var blockRe = regexp.MustCompile(`--ctorigdstport (\d+) .*--comment "hardend block ([0-9a-f]{12})" -j DROP`)

// hardendState is hardend's part of one family's rules.
type hardendState struct {
	jumps  map[string]int // "DOCKER-USER->HARDEND-FORWARD": count
	blocks map[string]int // "<short ID> <port>": count, in HARDEND-FORWARD (IPv4) or HARDEND-INPUT (IPv6)
	dups   []string       // rules of hardend's chains present more than once
	rules  int            // rules in hardend's chains
}

func parseHardend(dump string) hardendState {
	s := hardendState{jumps: map[string]int{}, blocks: map[string]int{}}
	seen := map[string]int{}
	for _, l := range strings.Split(dump, "\n") {
		if !strings.HasPrefix(l, "-A ") {
			continue
		}
		f := strings.Fields(l)
		chain := f[1]
		if i := slices.Index(f, "-j"); i > 0 && i+1 < len(f) && strings.HasPrefix(f[i+1], firewall.ChainPrefix) {
			s.jumps[chain+"->"+f[i+1]]++
		}
		if !strings.HasPrefix(chain, firewall.ChainPrefix) {
			continue
		}
		s.rules++
		seen[l]++
		if m := blockRe.FindStringSubmatch(l); m != nil {
			s.blocks[m[2]+" "+m[1]]++
		}
	}
	for l, n := range seen {
		if n > 1 {
			s.dups = append(s.dups, l)
		}
	}
	sort.Strings(s.dups)
	return s
}

// expected computes, from the running containers (the test's own read of
// Docker), the blocks a `default: allow` policy with the internal ports
// must produce: IPv4 for bindings on 0.0.0.0 or every address, IPv6 (via
// docker-proxy, INPUT) for bindings on :: or every address.
func (w *world) expected(t *testing.T, internal func(port int) bool) (v4, v6 map[string]int) {
	t.Helper()
	ctx := context.Background()
	ids, err := w.cli.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 = map[string]int{}, map[string]int{}
	for _, id := range ids {
		c, err := w.cli.Inspect(ctx, id)
		if errors.Is(err, containers.ErrGone) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.Ports {
			if !internal(int(p.HostPort)) || p.Proto != "tcp" {
				continue
			}
			k := fmt.Sprintf("%s %d", c.ShortID(), p.HostPort)
			switch p.HostIP {
			case "", "0.0.0.0":
				v4[k] = 1
			}
			switch p.HostIP {
			case "", "::":
				v6[k] = 1
			}
		}
	}
	return v4, v6
}

// converged checks hardend's rules against the running containers: one jump
// into each of its chains, every expected block exactly once and no other,
// no rule twice. It returns what is wrong, "" when nothing is.
func (w *world) converged(t *testing.T, internal func(int) bool) string {
	t.Helper()
	want4, want6 := w.expected(t, internal)
	s4, s6 := parseHardend(w.save(t, false)), parseHardend(w.save(t, true))
	var bad []string
	if n := s4.jumps["DOCKER-USER->"+firewall.ChainForward]; n != 1 || len(s4.jumps) != 1 {
		bad = append(bad, fmt.Sprintf("ipv4 jumps %v, want exactly one DOCKER-USER->HARDEND-FORWARD", s4.jumps))
	}
	if len(want6) > 0 && (s6.jumps["INPUT->"+firewall.ChainInput] != 1 || len(s6.jumps) != 1) {
		bad = append(bad, fmt.Sprintf("ipv6 jumps %v, want exactly one INPUT->HARDEND-INPUT", s6.jumps))
	}
	if !mapsEqual(s4.blocks, want4) {
		bad = append(bad, fmt.Sprintf("ipv4 blocks %v, want %v", s4.blocks, want4))
	}
	if !mapsEqual(s6.blocks, want6) {
		bad = append(bad, fmt.Sprintf("ipv6 blocks %v, want %v", s6.blocks, want6))
	}
	if len(s4.dups)+len(s6.dups) > 0 {
		bad = append(bad, fmt.Sprintf("duplicate rules: %q %q", s4.dups, s6.dups))
	}
	return strings.Join(bad, "; ")
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// waitConverged waits until converged reports nothing wrong, then checks
// the chains byte for byte against the plan a fresh audit makes of the same
// host, and returns how long convergence took.
func (w *world) waitConverged(t *testing.T, pol string, internal func(int) bool, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		if last = w.converged(t, internal); last == "" {
			break
		}
		if time.Since(start) > timeout {
			t.Fatalf("not converged after %v: %s\nipv4:\n%s\nipv6:\n%s", timeout, last, hardendLines(w.save(t, false)), hardendLines(w.save(t, true)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	w.checkAgainstPlan(t, pol)
	return took
}

// checkAgainstPlan compares hardend's chains and jumps with the plan an
// audit of the host makes now (firewall.Inspect: byte for byte, jump
// positions, stale chains).
func (w *world) checkAgainstPlan(t *testing.T, doc string) {
	t.Helper()
	pol, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	scan := audit.Run(ctx, audit.Options{DockerHost: w.eng.Host, Policy: pol, Enforce: true,
		Firewall: firewall.Config{Netns: w.eng.NS.Path}, Docker: w.cli})
	fw := scan.Firewall
	if fw == nil || fw.Plan == nil || fw.Rules == nil {
		t.Fatalf("audit could not plan: %+v", fw)
	}
	if d := firewall.Inspect(fw.Plan, fw.Rules); d.Drifted() {
		t.Errorf("hardend's chains differ from the plan: %v", d.Problems)
	}
}

// hardendLines are the lines of a dump that mention hardend's chains.
func hardendLines(dump string) string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.Contains(l, firewall.ChainPrefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// prober is an outside host connecting in a tight loop: each worker is an OS
// thread switched into the outsider's namespace for good. successes counts
// TCP handshakes; reached those where the container's httpd answered (a
// handshake alone may be docker-proxy's, with nothing behind it yet).
type prober struct {
	attempts, successes, reached atomic.Int64
	mu                           sync.Mutex
	connected                    []string
	stop                         chan struct{}
	once                         sync.Once
	wg                           sync.WaitGroup
}

func startProber(t *testing.T, ns *testenv.Netns, workers int, targets func(i int) string) *prober {
	t.Helper()
	p := &prober{stop: make(chan struct{})}
	ready := make(chan error, workers)
	for wk := range workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			// Never unlocked: the thread ends with the goroutine, so no other
			// goroutine ever runs in the outsider's namespace.
			runtime.LockOSThread()
			f, err := os.Open(ns.Path)
			if err != nil {
				ready <- err
				return
			}
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
			ready <- err
			if err != nil {
				return
			}
			d := net.Dialer{Timeout: 100 * time.Millisecond}
			for i := wk; ; i += workers {
				select {
				case <-p.stop:
					return
				default:
				}
				addr := targets(i)
				p.attempts.Add(1)
				if c, err := d.Dial("tcp", addr); err == nil {
					c.SetDeadline(time.Now().Add(300 * time.Millisecond))
					fmt.Fprint(c, "GET / HTTP/1.0\r\n\r\n")
					if n, _ := c.Read(make([]byte, 64)); n > 0 {
						p.reached.Add(1)
					}
					c.Close()
					p.successes.Add(1)
					p.mu.Lock()
					p.connected = append(p.connected, fmt.Sprintf("%s at %s", addr, time.Now().Format(time.StampMicro)))
					p.mu.Unlock()
				}
			}
		}()
	}
	for range workers {
		if err := <-ready; err != nil {
			t.Fatalf("prober: %v", err)
		}
	}
	return p
}

func (p *prober) halt() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

func percentile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

// procStats reads a process's resident set size and CPU time from /proc.
func procStats(pid int) (rssKB int64, cpu time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &rssKB)
		}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	// USER_HZ is 100 on Linux.
	return rssKB, time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
