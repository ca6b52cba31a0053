//go:build linux

package containers

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/testenv"
	"github.com/moby/moby/client"
)

// TestE2EGuidePatterns runs every scenario of the hardening guide as a real
// container in a real engine and asserts the exact set of failing HD-CTR
// checks per container, the published ports, the daemon checks of a default
// engine, and a policy exemption.
func TestE2EGuidePatterns(t *testing.T) {
	e := testenv.StartEngine(t, testenv.EngineOptions{})
	// Four `docker run` at a time: the engine, not the CLI, is the bottleneck.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make(chan error, len(scenarios))
	for _, sc := range scenarios {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			args := append([]string{"run", "-d", "--name", sc.name}, sc.expand(e.Socket, e.Dir)...)
			if _, err := e.DockerErr(append(append(args, e.Image), sc.command()...)...); err != nil {
				errs <- fmt.Errorf("%s: %w", sc.name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	opts := Options{Host: e.Host, Root: "/", Timeout: 10 * time.Second}
	c, err := Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	snap := Collect(context.Background(), c, opts)
	if snap.Err != nil {
		t.Fatalf("Collect: %v", snap.Err)
	}
	if snap.Daemon.PID != e.PID() {
		t.Errorf("ReadDaemon found pid %d (%v), want the engine's %d", snap.Daemon.PID, snap.Daemon.FindErr, e.PID())
	}
	if len(snap.Containers) != len(scenarios) || len(snap.Failed) != 0 {
		t.Fatalf("inspected %d containers (%d failed), want %d", len(snap.Containers), len(snap.Failed), len(scenarios))
	}
	results := Checks(snap, opts)

	got, errResults := failing(results, "HD-CTR-")
	for _, r := range errResults {
		t.Errorf("%s on %s: error: %s", r.ID, r.Subject.Name, r.Evidence)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if diff := cmp.Diff(sc.fail, got[sc.name]); diff != "" {
				t.Errorf("failing HD-CTR checks of `docker run %s` (-want +got):\n%s", strings.Join(sc.args, " "), diff)
				for _, r := range results {
					if r.Subject.Name == sc.name && r.Status == check.Fail {
						t.Logf("  %s %s: %s", r.ID, r.Severity, r.Evidence)
					}
				}
			}
		})
	}

	// Severities the catalogue varies.
	if r, _ := resultFor(results, "HD-CTR-007", "host-etc"); r.Severity != check.Medium {
		t.Errorf("read-only /etc mount: severity %v, want medium", r.Severity)
	}
	// Published ports, as the firewall needs them.
	ports := map[string][]PortBinding{}
	for _, ctr := range snap.Containers {
		ports[ctr.Name] = ctr.Ports
	}
	wantPorts := map[string][]PortBinding{
		"publish-all":          {{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, {HostIP: "::", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
		"hardened":             {{HostIP: "127.0.0.1", HostPort: 8082, ContainerPort: 80, Proto: "tcp"}},
		"host-network-publish": {{HostIP: "", HostPort: 80, ContainerPort: 80, Proto: "tcp"}},
		"default":              nil,
	}
	for name, want := range wantPorts {
		if diff := cmp.Diff(want, ports[name]); diff != "" {
			t.Errorf("%s: Ports (-want +got):\n%s", name, diff)
		}
	}

	// The daemon checks of an engine with Docker's defaults.
	wantDaemon := map[string]check.Status{
		"HD-DMN-001": check.Pass, "HD-DMN-002": check.Pass, "HD-DMN-003": check.Fail, "HD-DMN-004": check.Pass,
		"HD-DMN-005": check.Fail, "HD-DMN-006": check.Fail, "HD-DMN-007": check.Fail, "HD-DMN-008": check.Fail,
		"HD-DMN-009": check.Fail, "HD-DMN-010": check.Pass, "HD-DMN-011": check.Pass,
	}
	gotDaemon := map[string]check.Status{}
	for _, r := range results {
		if strings.HasPrefix(r.ID, "HD-DMN-") {
			gotDaemon[r.ID] = r.Status
			if r.Subject.Kind != check.KindDaemon || r.Subject.ID != e.Host {
				t.Errorf("%s: subject %+v, want the daemon at %s", r.ID, r.Subject, e.Host)
			}
		}
	}
	if diff := cmp.Diff(wantDaemon, gotDaemon); diff != "" {
		t.Errorf("daemon checks (-want +got):\n%s", diff)
		for _, r := range results {
			if strings.HasPrefix(r.ID, "HD-DMN-") {
				t.Logf("  %s %s: %s", r.ID, r.Status, r.Evidence)
			}
		}
	}

	// A CI agent that must drive Docker: exempted by name, visibly.
	pol, err := policy.Parse([]byte("exemptions:\n  - check: HD-CTR-003\n    container: docker-socket\n    reason: CI agent drives Docker\n"))
	if err != nil {
		t.Fatal(err)
	}
	pol.Apply(results, snap.PolicyInfo(), time.Now())
	for _, r := range results {
		if r.ID == "HD-CTR-003" && r.Status == check.Fail {
			if (r.Subject.Name == "docker-socket") != (r.Exemption != "") {
				t.Errorf("HD-CTR-003 on %s: exemption %q", r.Subject.Name, r.Exemption)
			}
		}
	}
}

// A daemon with a TCP API on loopback, no TLS: HD-DMN-001 fails, at high
// (local privilege escalation, not reachable from the network).
func TestE2EDaemonTCPWithoutTLS(t *testing.T) {
	e := testenv.StartEngine(t, testenv.EngineOptions{Args: []string{"-H", "tcp://127.0.0.1:2375"}})
	_, results := Audit(context.Background(), Options{Host: e.Host, Timeout: 10 * time.Second})
	r, ok := resultFor(results, "HD-DMN-001", "")
	if !ok || r.Status != check.Fail || r.Severity != check.High || !strings.Contains(r.Evidence, "127.0.0.1:2375") {
		t.Fatalf("HD-DMN-001 = %s %s: %s; want a high failure naming 127.0.0.1:2375", r.Status, r.Severity, r.Evidence)
	}
	// The same API reached over TCP by hardend itself, from inside the
	// engine's namespace (the only place 127.0.0.1:2375 exists).
	opts := Options{Host: "tcp://127.0.0.1:2375", Timeout: 10 * time.Second}.withDefaults()
	api, err := client.New(client.WithHost(opts.Host), client.WithAPIVersionNegotiation(),
		client.WithDialContext(func(ctx context.Context, network, addr string) (net.Conn, error) {
			return e.NS.Dial(network, addr, 2*time.Second)
		}))
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{api: api, opts: opts}
	defer c.Close()
	snap := Collect(context.Background(), c, opts)
	if snap.Err != nil {
		t.Fatalf("audit over %s from the engine's namespace: %v", opts.Host, snap.Err)
	}
	if snap.Daemon.PID != e.PID() {
		t.Errorf("dockerd serving %s: pid %d (%v), want %d", opts.Host, snap.Daemon.PID, snap.Daemon.FindErr, e.PID())
	}
	r, _ = resultFor(Checks(snap, opts), "HD-DMN-001", "")
	if r.Status != check.Fail || !strings.Contains(r.Evidence, "hardend reached the API") {
		t.Errorf("over TCP: HD-DMN-001 = %s: %s", r.Status, r.Evidence)
	}
}

// A daemon configured the way the guide and CIS want: the daemon checks pass,
// and a container without --security-opt no-new-privileges passes HD-CTR-010
// through the daemon default.
func TestE2EHardenedDaemon(t *testing.T) {
	e := testenv.StartEngine(t, testenv.EngineOptions{DaemonJSON: `{
  "ip": "127.0.0.1",
  "icc": false,
  "no-new-privileges": true,
  "live-restore": true,
  "userland-proxy": false
}`})
	e.Docker(t, append(append([]string{"run", "-d", "--name", "nnp-by-default"}, without("--security-opt")...), e.Image, "sleep", "600")...)
	_, results := Audit(context.Background(), Options{Host: e.Host, Timeout: 10 * time.Second})
	for _, id := range []string{"HD-DMN-001", "HD-DMN-002", "HD-DMN-003", "HD-DMN-004", "HD-DMN-005", "HD-DMN-007", "HD-DMN-008", "HD-DMN-009", "HD-DMN-010", "HD-DMN-011"} {
		if r, _ := resultFor(results, id, ""); r.Status != check.Pass {
			t.Errorf("%s = %s: %s", id, r.Status, r.Evidence)
		}
	}
	if r, _ := resultFor(results, "HD-DMN-006", ""); r.Status != check.Fail {
		t.Errorf("HD-DMN-006 (no userns-remap) = %s: %s", r.Status, r.Evidence)
	}
	got, _ := failing(results, "HD-CTR-")
	if len(got["nnp-by-default"]) != 0 {
		t.Errorf("nnp-by-default fails %v; want none (no-new-privileges is the daemon default)", got["nnp-by-default"])
	}
}

// A malformed daemon.json next to a running engine: HD-DMN-010 names the line
// and column; the settings checks still answer from the API.
func TestE2EMalformedDaemonJSON(t *testing.T) {
	e := testenv.StartEngine(t, testenv.EngineOptions{})
	// dockerd read a valid file at start; an admin then broke it.
	if err := os.WriteFile(filepath.Join(e.Dir, "daemon.json"), []byte("{\n  \"iptables\": \"false\",\n  \"icc\": false,\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, results := Audit(context.Background(), Options{Host: e.Host, Timeout: 10 * time.Second})
	r, _ := resultFor(results, "HD-DMN-010", "")
	if r.Status != check.Fail || !strings.Contains(r.Evidence, "line 4, column 1") {
		t.Errorf("HD-DMN-010 = %s: %s; want a failure at line 4, column 1", r.Status, r.Evidence)
	}
	if r, _ := resultFor(results, "HD-DMN-005", ""); r.Status != check.Fail || !strings.Contains(r.Evidence, "GET /networks") {
		t.Errorf("HD-DMN-005 = %s: %s; want a failure read from the API", r.Status, r.Evidence)
	}
}

// The ways the daemon cannot be used: each is a clear non-pass result with the
// reason, fast.
func TestE2EUnreachable(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()

	t.Run("no socket", func(t *testing.T) {
		host := "unix://" + filepath.Join(dir, "absent.sock")
		results := auditWithin(t, Options{Host: host, Timeout: 2 * time.Second}, 5*time.Second)
		assertNoPass(t, results, check.Skip, "no Docker daemon at "+host, false)
	})
	t.Run("socket nobody listens on", func(t *testing.T) {
		p := filepath.Join(dir, "dead.sock")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		results := auditWithin(t, Options{Host: "unix://" + p, Timeout: 2 * time.Second}, 5*time.Second)
		assertNoPass(t, results, check.Error, "nothing accepts connections", false)
	})
	t.Run("not a socket", func(t *testing.T) {
		p := filepath.Join(dir, "file.sock")
		os.WriteFile(p, nil, 0o600)
		results := auditWithin(t, Options{Host: "unix://" + p, Timeout: 2 * time.Second}, 5*time.Second)
		assertNoPass(t, results, check.Error, "not a socket", false)
	})

	e := testenv.StartEngine(t, testenv.EngineOptions{})
	e.Docker(t, "run", "-d", "--name", "one", e.Image, "sleep", "600")
	t.Run("SIGSTOPped daemon", func(t *testing.T) {
		e.Signal(t, syscall.SIGSTOP)
		defer e.Signal(t, syscall.SIGCONT)
		results := auditWithin(t, Options{Host: e.Host, Timeout: time.Second}, 4*time.Second)
		// dockerd's process, flags and socket are still there: the daemon
		// checks that read them may pass; nothing that needs the API does.
		assertNoPass(t, results, check.Error, "did not answer", true)
	})
	t.Run("SIGSTOPped daemon, events", func(t *testing.T) {
		e.Signal(t, syscall.SIGSTOP)
		defer e.Signal(t, syscall.SIGCONT)
		c, err := Connect(Options{Host: e.Host, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		_, errc := c.Events(context.Background(), time.Time{})
		select {
		case err := <-errc:
			if err == nil || !strings.Contains(err.Error(), "did not answer") {
				t.Errorf("Events on a frozen daemon: %v", err)
			}
		case <-time.After(4 * time.Second):
			t.Fatal("Events on a frozen daemon hangs")
		}
		t.Logf("frozen daemon's event subscription failed after %v", time.Since(start).Round(time.Millisecond))
	})
	t.Run("stopped daemon", func(t *testing.T) {
		e.Docker(t, "rm", "-f", "one") // dockerd stops faster with nothing to stop
		e.Stop(t)
		results := auditWithin(t, Options{Host: e.Host, Timeout: 2 * time.Second}, 5*time.Second)
		assertNoPass(t, results, "", "no Docker daemon at "+e.Host, false)
	})
}

func auditWithin(t *testing.T, opts Options, limit time.Duration) []check.Result {
	t.Helper()
	start := time.Now()
	facts, results := Audit(context.Background(), opts)
	took := time.Since(start)
	t.Logf("audit of %s took %v: %s", opts.Host, took.Round(time.Millisecond), facts.Error)
	if took > limit {
		t.Errorf("audit took %v, want under %v", took, limit)
	}
	if facts.Reachable {
		t.Errorf("facts say reachable")
	}
	return results
}

// assertNoPass: no result passes (daemon checks may, from host evidence, when
// daemonMayPass); the container checks have the wanted status (any non-pass
// if "") and mention the reason.
func assertNoPass(t *testing.T, results []check.Result, want check.Status, reason string, daemonMayPass bool) {
	t.Helper()
	ctr := 0
	for _, r := range results {
		if r.Status == check.Pass && !(daemonMayPass && strings.HasPrefix(r.ID, "HD-DMN-")) {
			t.Errorf("%s passed with the daemon unreachable: %s", r.ID, r.Evidence)
		}
		if !strings.HasPrefix(r.ID, "HD-CTR-") {
			continue
		}
		ctr++
		if (want != "" && r.Status != want) || r.Status == check.Pass || r.Status == check.Fail || !strings.Contains(r.Evidence, reason) {
			t.Errorf("%s = %s %q; want %s mentioning %q", r.ID, r.Status, r.Evidence, want, reason)
		}
	}
	if ctr != len(containerDefs) {
		t.Errorf("%d container results, want one per check (%d)", ctr, len(containerDefs))
	}
	if !slices.ContainsFunc(results, func(r check.Result) bool { return r.ID == "HD-DMN-001" }) {
		t.Error("no HD-DMN-001 result")
	}
}
