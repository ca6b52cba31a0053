package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/policy"
)

var testTiming = Timing{
	Debounce:     5 * time.Millisecond,
	EventOverlap: time.Second,
	HealthPing:   30 * time.Millisecond,
	PingTimeout:  200 * time.Millisecond,
	StopTimeout:  3 * time.Second,
}

func policyDoc(mode, onStop string, extra string) string {
	return fmt.Sprintf(`firewall:
  mode: %s
agent:
  resync_interval: 10s
  drift_interval: 500ms
  docker_backoff_min: 10ms
  docker_backoff_max: 40ms
  on_stop: %s
log:
  level: debug
%s`, mode, onStop, extra)
}

type harness struct {
	t       *testing.T
	calls   *calls
	docker  *fakeDocker
	auditor *fakeAuditor
	fw      *fakeFirewall
	notify  *fakeNotifier
	logs    *captureHook
	sigs    chan os.Signal
	mu      sync.Mutex
	doc     string
	done    chan error
	cancel  context.CancelFunc
	stopped bool
}

func (h *harness) setPolicy(doc string) {
	h.mu.Lock()
	h.doc = doc
	h.mu.Unlock()
}

// start runs the agent with fakes; configure adjusts the harness or Config
// before Run.
func start(t *testing.T, doc string, configure ...func(*harness, *Config)) *harness {
	t.Helper()
	c := &calls{}
	h := &harness{
		t: t, calls: c, docker: newFakeDocker(c), auditor: &fakeAuditor{calls: c, dockerOK: true},
		fw: &fakeFirewall{calls: c}, notify: &fakeNotifier{}, logs: &captureHook{},
		sigs: make(chan os.Signal, 4), doc: doc, done: make(chan error, 1),
	}
	cfg := Config{
		PolicyFile: "/etc/hardend/policy.yaml",
		Version:    "test",
		Docker:     h.docker, Auditor: h.auditor, Firewall: h.fw, Notifier: h.notify,
		Getenv:  func(string) string { return "" },
		Signals: h.sigs, Stderr: io.Discard, LogHook: h.logs,
		LoadPolicy: func(string) (*policy.Policy, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return policy.Parse([]byte(h.doc))
		},
		Timing: testTiming,
	}
	for _, f := range configure {
		f(h, &cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		if !h.stopped {
			h.stop()
		}
	})
	return h
}

// stop sends SIGTERM and waits for Run to return.
func (h *harness) stop() error {
	h.t.Helper()
	h.stopped = true
	h.sigs <- syscall.SIGTERM
	select {
	case err := <-h.done:
		h.cancel()
		return err
	case <-time.After(10 * time.Second):
		h.cancel()
		h.t.Fatal("Run did not return after SIGTERM")
		return nil
	}
}

func (h *harness) waitReady() {
	h.t.Helper()
	eventually(h.t, "READY", func() bool {
		return slices.ContainsFunc(h.notify.all(), func(s string) bool { return strings.HasPrefix(s, "READY") })
	})
}

func (h *harness) waitLog(s string, n int) []logged {
	h.t.Helper()
	var got []logged
	eventually(h.t, fmt.Sprintf("%d log records with %q", n, s), func() bool {
		got = h.logs.matching(s)
		return len(got) >= n
	})
	return got
}

// The first subscription comes before the first audit, READY=1 comes only
// once the first audit is done, and the status says what was found.
func TestStartSubscribesThenAuditsThenReady(t *testing.T) {
	gate := make(chan struct{})
	h := start(t, policyDoc("report", "keep", ""), func(h *harness, _ *Config) {
		h.auditor.gate = gate
		h.auditor.set(defPriv.Fail(web, "Privileged=true", "drop --privileged"))
	})
	eventually(t, "first audit started", func() bool { return h.calls.count("audit") == 1 })
	time.Sleep(50 * time.Millisecond)
	for _, m := range h.notify.all() {
		if strings.HasPrefix(m, "READY") {
			t.Fatalf("READY before the first audit finished: %v", h.notify.all())
		}
	}
	close(gate)
	h.waitReady()
	log := h.calls.all()
	sub, aud := slices.Index(log, "subscribe"), slices.IndexFunc(log, func(s string) bool { return strings.HasPrefix(s, "audit") })
	if sub < 0 || aud < sub {
		t.Errorf("want subscribe before the first audit: %v", log)
	}
	if hints := h.auditor.allHints(); hints[0] != nil {
		t.Errorf("first audit must be full (nil hint), got %v", hints[0])
	}
	ready := ""
	for _, m := range h.notify.all() {
		if strings.HasPrefix(m, "READY") {
			ready = m
		}
	}
	if !strings.Contains(ready, "1 finding (1 critical)") || !strings.Contains(ready, "docker up") {
		t.Errorf("READY status: %q", ready)
	}
	f := h.waitLog("finding: Privileged container: web", 1)[0]
	if f.fields["check"] != "HD-CTR-002" || f.fields["msgid"] != "finding" || f.fields["container"] != "web" || f.fields["severity"] != "critical" {
		t.Errorf("finding fields: %v", f.fields)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if all := h.notify.all(); all[len(all)-1] != "STOPPING" {
		t.Errorf("last notification %q, want STOPPING", all[len(all)-1])
	}
}

// Findings are state: one line when one appears, nothing while it stays, one
// line with its duration when it clears.
func TestFindingsLoggedOnAppearAndClearOnly(t *testing.T) {
	h := start(t, policyDoc("report", "keep", ""), func(h *harness, _ *Config) {
		h.auditor.set(defRoot.Pass(web, "uid 1000"))
	})
	h.waitReady()
	h.auditor.set(defRoot.Fail(web, "User=\"\"", "-u 1000"))
	h.docker.emit("container", "start", "0123456789abcdef", nil)
	h.waitLog("finding: Runs as root: web", 1)
	for i := range 5 {
		h.docker.emit("container", "update", "0123456789abcdef", nil)
		eventually(t, "audit", func() bool { return h.calls.count("audit") >= 3+i })
	}
	time.Sleep(50 * time.Millisecond)
	h.auditor.set(defRoot.Pass(web, "uid 1000"))
	h.docker.emit("container", "update", "0123456789abcdef", nil)
	c := h.waitLog("cleared after", 1)
	if n := len(h.logs.matching("finding: Runs as root")); n != 1 {
		t.Errorf("the finding was logged %d times over several scans, want once", n)
	}
	if c[0].fields["msgid"] != "cleared" || c[0].fields["check"] != "HD-CTR-001" || c[0].fields["lasted"] == nil {
		t.Errorf("cleared record: %+v", c[0])
	}
	if hints := h.auditor.allHints(); !slices.ContainsFunc(hints, func(h []string) bool { return slices.Equal(h, []string{"0123456789abcdef"}) }) {
		t.Errorf("event audits should name the container: %v", hints)
	}
}

// Enforce mode: an event reconciles at once, even while an audit is stuck.
func TestEnforceReconcilesOnEventWithoutWaitingForAudit(t *testing.T) {
	h := start(t, policyDoc("enforce", "keep", ""))
	h.waitReady()
	eventually(t, "startup reconcile", func() bool { return h.calls.count("reconcile") >= 1 })
	gate := make(chan struct{})
	h.auditor.mu.Lock()
	h.auditor.gate = gate
	h.auditor.mu.Unlock()
	defer close(gate)
	h.docker.emit("container", "start", "aaaa", nil) // starts an audit that hangs
	eventually(t, "audit started", func() bool { return h.auditor.auditing() })
	before := h.calls.count("reconcile")
	for i := range 10 {
		at := time.Now()
		h.docker.emit("container", "create", fmt.Sprintf("c%d", i), nil)
		eventually(t, "reconcile after event", func() bool { return h.calls.count("reconcile") > before })
		before = h.calls.count("reconcile")
		if d := time.Since(at); d > 2*time.Second {
			t.Errorf("event %d: reconcile after %v", i, d)
		}
	}
}

func (f *fakeAuditor) auditing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gate != nil && len(f.hints) >= 2
}

// Drift: a flush of hardend's rules is repaired by a reconcile; while Docker
// is unavailable, by restoring the last plan.
func TestDriftRepaired(t *testing.T) {
	h := start(t, policyDoc("enforce", "keep", ""))
	h.waitReady()
	h.fw.setDrift("jump from DOCKER-USER missing")
	eventually(t, "drift repaired by a reconcile", func() bool {
		log := h.calls.all()
		i := slices.Index(log, "drift")
		return i >= 0 && slices.Contains(log[i:], "reconcile")
	})
	h.waitLog("firewall drift", 1)

	h.docker.setPingErr(errors.New("connection refused"))
	h.docker.breakStream(errors.New("unexpected EOF"))
	h.waitLog("Docker unavailable: degraded", 1)
	h.fw.setDrift("chain HARDEND flushed")
	eventually(t, "restore while degraded", func() bool { return h.calls.count("restore") == 1 })
}

// Docker going away: degraded (log + STATUS), no reconcile, then back with a
// resubscription from before the last event, a full audit and a reconcile.
func TestDegradedAndBack(t *testing.T) {
	h := start(t, policyDoc("enforce", "keep", ""), func(h *harness, _ *Config) {
		h.auditor.set(defPriv.Fail(web, "Privileged=true", ""))
	})
	h.waitReady()
	last := h.docker.emit("container", "start", "c1", nil)
	eventually(t, "event audit", func() bool { return h.calls.count("audit") >= 2 })

	h.docker.setPingErr(errors.New("dial unix /run/docker.sock: connection refused"))
	h.docker.breakStream(errors.New("unexpected EOF"))
	h.waitLog("Docker unavailable: degraded", 1)
	eventually(t, "degraded status", func() bool {
		return slices.ContainsFunc(h.notify.all(), func(s string) bool {
			return strings.Contains(s, "STATUS") && strings.Contains(s, "degraded: Docker unavailable")
		})
	})
	// A scan that cannot read Docker keeps the container finding.
	h.auditor.setDockerOK(false)
	h.auditor.set()
	h.sigs <- syscall.SIGHUP // a reload triggers a full audit, now without Docker
	eventually(t, "audit while degraded", func() bool { return h.calls.count("audit") >= 3 })
	time.Sleep(50 * time.Millisecond)
	if len(h.logs.matching("cleared")) != 0 {
		t.Fatal("a scan without Docker cleared a container finding")
	}
	recs := h.calls.count("reconcile")
	h.auditor.setDockerOK(true)
	h.auditor.set(defPriv.Fail(web, "Privileged=true", ""))
	h.docker.setPingErr(nil)
	h.waitLog("Docker available again", 1)
	eventually(t, "reconcile on return", func() bool { return h.calls.count("reconcile") > recs })
	subs := h.docker.subscriptions()
	if since := subs[len(subs)-1]; since.After(last.Time) {
		t.Errorf("resubscribed from %v, after the last seen event at %v: events in between would be lost", since, last.Time)
	}
	eventually(t, "full audit on return", func() bool {
		hints := h.auditor.allHints()
		return len(hints) >= 4 && hints[len(hints)-1] == nil
	})
	if n := len(h.logs.matching("finding: Privileged container")); n != 1 {
		t.Errorf("finding logged %d times across the outage, want once", n)
	}
}

// Docker absent at start: the agent still becomes ready (systemd would kill it
// otherwise), says it is degraded, and audits fully when Docker arrives.
func TestDockerDownAtStart(t *testing.T) {
	h := start(t, policyDoc("report", "keep", ""), func(h *harness, _ *Config) {
		h.docker.pingErr = errors.New("no such file or directory")
		h.auditor.dockerOK = false
		h.auditor.results = []check.Result{defKptr.Fail(kptr, "0", "")}
	})
	h.waitReady()
	h.waitLog("Docker unavailable at start", 1)
	var ready string
	for _, m := range h.notify.all() {
		if strings.HasPrefix(m, "READY") {
			ready = m
		}
	}
	if !strings.Contains(ready, "degraded") || !strings.Contains(ready, "1 finding (1 low)") {
		t.Errorf("READY status %q", ready)
	}
	if h.calls.count("subscribe") != 0 {
		t.Error("subscribed while ping fails")
	}
	audits := h.calls.count("audit")
	h.auditor.setDockerOK(true)
	h.docker.setPingErr(nil)
	h.waitLog("Docker available again", 1)
	eventually(t, "full audit on arrival", func() bool { return h.calls.count("audit []") > audits || h.calls.count("audit") > audits })
	if hints := h.auditor.allHints(); hints[len(hints)-1] != nil {
		t.Errorf("audit on arrival must be full, got hint %v", hints[len(hints)-1])
	}
}

// SIGHUP: a broken policy is rejected and the old one kept (the agent goes on
// working on it); a good one applies; leaving enforce removes the rules.
func TestReloadPolicy(t *testing.T) {
	h := start(t, policyDoc("report", "keep", ""))
	h.waitReady()

	h.setPolicy("firewall:\n  mode: enforse\n")
	h.sigs <- syscall.SIGHUP
	rej := h.waitLog("policy reload rejected", 1)
	if !strings.Contains(fmt.Sprint(rej[0].fields["error"]), "firewall.mode") {
		t.Errorf("rejection should say why: %v", rej[0].fields)
	}
	h.setPolicy(policyDoc("report", "keep", "  targets:\n    - type: tls\n      address: h:6514\n      ca_file: /nonexistent/ca.pem\n"))
	h.sigs <- syscall.SIGHUP
	rej = h.waitLog("policy reload rejected", 2)
	if !strings.Contains(fmt.Sprint(rej[1].fields["error"]), "ca_file") {
		t.Errorf("rejection should say why: %v", rej[1].fields)
	}
	audits := h.calls.count("audit")
	h.docker.emit("container", "start", "still-working", nil)
	eventually(t, "events still handled after rejected reloads", func() bool { return h.calls.count("audit") > audits })
	if h.calls.count("reconcile") != 0 {
		t.Error("reconciled in report mode")
	}

	h.setPolicy(policyDoc("enforce", "keep", ""))
	h.sigs <- syscall.SIGHUP
	h.waitLog("policy reloaded", 1)
	eventually(t, "reconcile after switching to enforce", func() bool { return h.calls.count("reconcile") >= 1 })

	h.setPolicy(policyDoc("report", "keep", ""))
	h.sigs <- syscall.SIGHUP
	eventually(t, "reset after leaving enforce", func() bool { return h.calls.count("reset") == 1 })
	notes := strings.Join(h.notify.all(), "|")
	if strings.Count(notes, "RELOADING") != 4 {
		t.Errorf("RELOADING per SIGHUP: %s", notes)
	}
}

// SIGTERM leaves the rules in place unless the policy says reset.
func TestStopKeepsOrResetsRules(t *testing.T) {
	for _, onStop := range []string{"keep", "reset"} {
		t.Run(onStop, func(t *testing.T) {
			h := start(t, policyDoc("enforce", onStop, ""))
			h.waitReady()
			if err := h.stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got, want := h.calls.count("reset"), map[string]int{"keep": 0, "reset": 1}[onStop]; got != want {
				t.Errorf("resets: %d, want %d", got, want)
			}
		})
	}
}

func TestRunRefusesToStart(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		cfg  func(*Config)
		want string
	}{
		{"bad policy", "firewall:\n  mode: block\n", nil, "firewall.mode"},
		{"unusable log target", policyDoc("report", "keep", "  targets:\n    - type: tls\n      address: h:1\n      ca_file: /nonexistent\n"), nil, "ca_file"},
		{"malformed docker host", policyDoc("report", "keep", ""), func(c *Config) { c.Auditor, c.DockerHost = nil, "tcp://[::1" }, "docker host"},
		{"unknown failpoint", policyDoc("report", "keep", ""), func(c *Config) {
			c.Getenv = func(k string) string { return map[string]string{FailpointEnv: "everywhere"}[k] }
		}, "unknown failpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{
				PolicyFile: "p", Docker: newFakeDocker(&calls{}), Auditor: &fakeAuditor{calls: &calls{}}, Notifier: &fakeNotifier{},
				Stderr: io.Discard, Getenv: func(string) string { return "" },
				LoadPolicy: func(string) (*policy.Policy, error) { return policy.Parse([]byte(tt.doc)) },
			}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// FAULTS.md 17 at the agent level: the only syslog target is a receiver that
// accepts and never reads. Hundreds of findings flood the log, and reconciles
// still follow events at once.
func TestBlockedLoggerNeverDelaysReconcile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // never read
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	doc := policyDoc("enforce", "keep", "") + fmt.Sprintf("  targets:\n    - type: tcp\n      address: %q\n      queue: 16\n", ln.Addr().String())
	var many []check.Result
	for i := range 2000 {
		many = append(many, defRoot.Fail(check.Subject{Kind: check.KindContainer, ID: fmt.Sprintf("c%05d", i), Name: strings.Repeat("n", 500)}, strings.Repeat("e", 1000), ""))
	}
	h := start(t, doc, func(h *harness, cfg *Config) {
		h.auditor.results = many
		cfg.LogHook = nil // only the stalled target
	})
	h.waitReady()
	eventually(t, "startup reconcile", func() bool { return len(h.fw.reconciles()) >= 1 })
	var worst time.Duration
	for i := range 20 {
		n := len(h.fw.reconciles())
		at := time.Now()
		// Every other scan clears or brings back all 2000 findings: 2000 lines.
		if i%2 == 0 {
			h.auditor.set()
		} else {
			h.auditor.set(many...)
		}
		h.docker.emit("container", "start", fmt.Sprintf("x%d", i), nil)
		eventually(t, "reconcile", func() bool { return len(h.fw.reconciles()) > n })
		worst = max(worst, h.fw.reconciles()[n].Sub(at))
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("worst event-to-reconcile with a stalled syslog receiver: %v", worst)
	if worst > 2*time.Second {
		t.Errorf("a reconcile waited %v", worst)
	}
}

// Against a real NOTIFY_SOCKET: READY=1 with a status, WATCHDOG=1 at half of
// WATCHDOG_USEC, RELOADING=1 and READY=1 around SIGHUP, STOPPING=1 at the end.
func TestSystemdNotifications(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	env := map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": fmt.Sprint(os.Getpid())}
	h := start(t, policyDoc("report", "keep", ""), func(h *harness, cfg *Config) {
		cfg.Notifier = nil
		cfg.Getenv = func(k string) string { return env[k] }
	})
	var seen []string
	next := func(prefix string) string {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-got:
				seen = append(seen, m)
				if strings.HasPrefix(m, prefix) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %q notification; got %q", prefix, seen)
			}
		}
	}
	if m := next("READY=1"); !strings.Contains(m, "\nSTATUS=no findings; docker up; firewall: report only") {
		t.Errorf("READY: %q", m)
	}
	start := time.Now()
	for range 3 {
		next("WATCHDOG=1")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("3 watchdog pings took %v with WATCHDOG_USEC=100ms", d)
	}
	h.sigs <- syscall.SIGHUP
	next("RELOADING=1\nMONOTONIC_USEC=")
	next("READY=1")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	next("STOPPING=1")
}

// The metrics endpoint (policy metrics.listen) serves the agent's state.
func TestMetricsEndpoint(t *testing.T) {
	h := start(t, policyDoc("enforce", "keep", "")+"metrics:\n  listen: \"127.0.0.1:0\"\n", func(h *harness, _ *Config) {
		h.auditor.set(defPriv.Fail(web, "Privileged=true", ""), defRoot.Fail(web, "root", ""), defRoot.Fail(db, "root", ""))
	})
	h.waitReady()
	addr := fmt.Sprint(h.waitLog("metrics endpoint listening", 1)[0].fields["listen"])
	eventually(t, "a reconcile", func() bool { return h.calls.count("reconcile") >= 1 })
	var body string
	eventually(t, "scrape", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, "hardend_reconciles_total 1")
	})
	for _, want := range []string{
		`hardend_findings{check="HD-CTR-001",severity="high"} 2`,
		`hardend_findings{check="HD-CTR-002",severity="critical"} 1`,
		`hardend_docker_up 1`,
		`hardend_scans_total{kind="full"} 1`,
		`hardend_log_messages_dropped_total{target="stderr",reason="queue_full"} 0`,
		`hardend_build_info{version="test"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
}

// The firewall hears which container an event named (one inspect, not a
// re-read of all); Docker's arrival and the resync timer ask for everything.
func TestReconcileHints(t *testing.T) {
	h := start(t, policyDoc("enforce", "keep", ""))
	h.waitReady()
	eventually(t, "startup reconcile", func() bool { return len(h.fw.allHints()) >= 1 })
	if first := h.fw.allHints()[0]; first != nil {
		t.Errorf("startup reconcile hint %v, want nil (full)", first)
	}
	n := len(h.fw.allHints())
	h.docker.emit("container", "start", "0123456789abcdef", nil)
	eventually(t, "event reconcile", func() bool { return len(h.fw.allHints()) > n })
	if got := h.fw.allHints()[n]; !slices.Equal(got, []string{"0123456789abcdef"}) {
		t.Errorf("event reconcile hint %v", got)
	}
	n = len(h.fw.allHints())
	h.docker.emit("network", "connect", "net1", map[string]string{"container": "fedcba9876543210"})
	eventually(t, "network event reconcile", func() bool { return len(h.fw.allHints()) > n })
	if got := h.fw.allHints()[n]; !slices.Equal(got, []string{"fedcba9876543210"}) {
		t.Errorf("network event hint %v", got)
	}
}

// A failed reconcile is retried with backoff until it succeeds; a permanent
// refusal is not.
func TestReconcileRetried(t *testing.T) {
	h := start(t, policyDoc("enforce", "keep", ""), func(h *harness, _ *Config) {
		h.fw.recErr = errors.New("xtables lock held")
	})
	h.waitReady()
	eventually(t, "retries", func() bool { return h.calls.count("reconcile") >= 3 })
	h.fw.setErr(nil)
	n := h.calls.count("reconcile")
	h.waitLog("firewall reconcile succeeded again", 1)
	time.Sleep(200 * time.Millisecond)
	if got := h.calls.count("reconcile"); got > n+1 {
		t.Errorf("%d reconciles after the success, want retries to stop", got-n)
	}
	if errs := h.logs.matching("firewall reconcile failed"); len(errs) != 1 {
		t.Errorf("the repeated failure was logged %d times, want once", len(errs))
	}

	h.fw.setErr(fmt.Errorf("docker uses nftables: %w", ErrPermanent))
	h.docker.emit("container", "start", "x", nil)
	eventually(t, "the refused reconcile", func() bool { return h.calls.count("reconcile") > n+1 })
	n = h.calls.count("reconcile")
	time.Sleep(200 * time.Millisecond)
	if got := h.calls.count("reconcile"); got != n {
		t.Errorf("a permanent refusal was retried %d times", got-n)
	}
}

// A reconcile that changed rules is followed by an audit, so the exposure
// checks see the rules just written.
func TestAuditAfterReconcileChangedRules(t *testing.T) {
	h := start(t, policyDoc("enforce", "keep", ""))
	h.waitReady()
	eventually(t, "startup reconcile", func() bool { return h.calls.count("reconcile") >= 1 })
	eventually(t, "an audit after the reconcile", func() bool {
		log := h.calls.all()
		i := slices.Index(log, "reconcile")
		return slices.ContainsFunc(log[i+1:], func(s string) bool { return strings.HasPrefix(s, "audit") })
	})
}
