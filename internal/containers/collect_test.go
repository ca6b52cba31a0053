package containers

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/policy"
)

func scenarioNames() []string {
	var out []string
	for _, sc := range scenarios {
		out = append(out, sc.name)
	}
	return out
}

func collectFake(t *testing.T, f *fakeEngine, root string, timeout time.Duration) (*Snapshot, []check.Result) {
	t.Helper()
	opts := Options{Host: f.Host, Root: root, Timeout: timeout, Concurrency: 4}
	c, err := Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	snap := Collect(context.Background(), c, opts)
	return snap, Checks(snap, opts)
}

// The recorded containers of every scenario, through the real client against
// the recorded API answers: each fails exactly its expected HD-CTR checks,
// with the host's /proc (recorded) and without it (inspect only).
func TestChecksOnRecordedScenarios(t *testing.T) {
	rec := loadRecorded(t)
	for _, mode := range []string{"with /proc", "inspect only"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeEngine(t, rec, scenarioNames()...)
			root := fixtureRoot(t, rec)
			if mode == "inspect only" {
				for _, pid := range rec.Pids {
					os.RemoveAll(filepath.Join(root, "proc", strconv.Itoa(pid)))
				}
			}
			snap, results := collectFake(t, f, root, 5*time.Second)
			if snap.Err != nil {
				t.Fatal(snap.Err)
			}
			if got := len(snap.Containers); got != len(scenarios) {
				t.Fatalf("%d containers, want %d (failed: %v)", got, len(scenarios), snap.Failed)
			}
			for _, ctr := range snap.Containers {
				if (mode == "with /proc") != (ctr.Proc != nil) {
					t.Errorf("%s: Proc %v, ProcErr %v", ctr.Name, ctr.Proc, ctr.ProcErr)
				}
			}
			got, errs := failing(results, "HD-CTR-")
			for _, r := range errs {
				t.Errorf("%s on %s: error: %s", r.ID, r.Subject.Name, r.Evidence)
			}
			for _, sc := range scenarios {
				if diff := cmp.Diff(sc.fail, got[sc.name]); diff != "" {
					t.Errorf("%s: failing checks (-want +got):\n%s", sc.name, diff)
					for _, r := range results {
						if r.Subject.Name == sc.name && r.Status == check.Fail {
							t.Logf("  %s: %s", r.ID, r.Evidence)
						}
					}
				}
			}
		})
	}
}

func failing(results []check.Result, prefix string) (map[string][]string, []check.Result) {
	out := map[string][]string{}
	var errs []check.Result
	for _, r := range results {
		if !strings.HasPrefix(r.ID, prefix) {
			continue
		}
		if r.Status == check.Error {
			errs = append(errs, r)
		}
		if r.Status == check.Fail {
			out[r.Subject.Name] = append(out[r.Subject.Name], r.ID)
		} else if _, ok := out[r.Subject.Name]; !ok {
			out[r.Subject.Name] = nil
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out, errs
}

func resultFor(results []check.Result, id, subjectName string) (check.Result, bool) {
	for _, r := range results {
		if r.ID == id && (subjectName == "" || r.Subject.Name == subjectName) {
			return r, true
		}
	}
	return check.Result{}, false
}

// Evidence and remediation speak the guide's language.
func TestEvidenceAndRemediation(t *testing.T) {
	rec := loadRecorded(t)
	f := newFakeEngine(t, rec, scenarioNames()...)
	_, results := collectFake(t, f, fixtureRoot(t, rec), 5*time.Second)
	tests := []struct {
		id, name              string
		sev                   check.Severity
		evidence, remediation string
	}{
		{"HD-CTR-001", "default", check.High, "runs as uid 0 on the host", "-u 1000:1000"},
		{"HD-CTR-001", "root-user", check.High, `Config.User is "0:0"`, "USER app"},
		{"HD-CTR-002", "privileged", check.Critical, "Privileged is true", "remove --privileged"},
		{"HD-CTR-003", "docker-socket", check.Critical, "is the Docker socket " + f.Socket, "never map the Docker socket"},
		{"HD-CTR-003", "socket-dir", check.Critical, "holds the Docker socket " + f.Socket, "remove `-v " + f.Dir + ":/engine`"},
		{"HD-CTR-003", "var-run", check.Critical, "holds the Docker socket /run/docker.sock", "policy exemption"},
		{"HD-CTR-003", "host-root", check.Critical, "-v /:/host:ro holds the Docker socket", "never map the Docker socket"},
		{"HD-CTR-003", "docker-socket", check.Critical, "Read-only does not help", "remove `-v " + f.Socket + ":/var/run/docker.sock`"},
		{"HD-CTR-004", "default", check.Medium, "14 capabilities it never asked for", "--cap-drop=ALL"},
		{"HD-CTR-004", "publish-all", check.Medium, "NET_RAW", "--cap-drop=ALL --cap-add=NET_BIND_SERVICE"},
		{"HD-CTR-004", "cap-add-all", check.Medium, "capabilities it never asked for", "--cap-drop=ALL"},
		{"HD-CTR-005", "cap-add-sys-admin", check.High, "SYS_ADMIN", "remove SYS_ADMIN"},
		{"HD-CTR-005", "privileged", check.High, "privileged", "SYS_MODULE"},
		{"HD-CTR-006", "writable-rootfs", check.Medium, "ReadonlyRootfs is false", "--read-only, with a volume"},
		{"HD-CTR-007", "host-root", check.Medium, "-v /:/host:ro covers host /, /etc", "read-only"},
		{"HD-CTR-007", "host-etc", check.Medium, "-v /etc:/hostetc:ro is host /etc", "named volume"},
		{"HD-CTR-008", "host-network", check.High, "network (--network host", "-p 127.0.0.1:PORT:PORT"},
		{"HD-CTR-008", "host-namespaces", check.High, "pid (--pid host", "drop --uts host"},
		{"HD-CTR-009", "seccomp-unconfined", check.High, "seccomp=unconfined", "default profiles"},
		{"HD-CTR-009", "privileged", check.High, "neither seccomp nor AppArmor", "remove --privileged"},
		{"HD-CTR-010", "no-new-privileges-missing", check.Medium, "NoNewPrivs: 0", "--security-opt no-new-privileges"},
		{"HD-CTR-011", "no-limits", check.Low, "no memory limit", "--memory"},
		{"HD-CTR-012", "device", check.Medium, "--device /dev/zero:/dev/hostzero:rwm", "remove the devices"},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			r, ok := resultFor(results, tt.id, tt.name)
			if !ok {
				t.Fatal("no result")
			}
			if r.Status != check.Fail || r.Severity != tt.sev {
				t.Errorf("status %s severity %s, want fail %s", r.Status, r.Severity, tt.sev)
			}
			if !strings.Contains(r.Evidence, tt.evidence) {
				t.Errorf("evidence %q lacks %q", r.Evidence, tt.evidence)
			}
			if !strings.Contains(r.Remediation, tt.remediation) {
				t.Errorf("remediation %q lacks %q", r.Remediation, tt.remediation)
			}
			if r.Subject.Kind != check.KindContainer || len(r.Subject.ID) != 12 || r.Subject.Name != tt.name {
				t.Errorf("subject %+v", r.Subject)
			}
		})
	}
}

func TestPolicyInfoAndExemption(t *testing.T) {
	rec := loadRecorded(t)
	f := newFakeEngine(t, rec, "docker-socket", "var-run")
	snap, results := collectFake(t, f, fixtureRoot(t, rec), 5*time.Second)
	info := snap.PolicyInfo()
	id := rec.IDs["docker-socket"][:12]
	want := policy.ContainerInfo{Name: "docker-socket", Image: "hardend-test/busybox", Labels: map[string]string{}}
	if diff := cmp.Diff(want, info[id]); diff != "" {
		t.Errorf("PolicyInfo()[%s] (-want +got):\n%s", id, diff)
	}
	pol, err := policy.Parse([]byte("exemptions:\n  - check: HD-CTR-003\n    container: docker-*\n    reason: CI agent drives Docker\n"))
	if err != nil {
		t.Fatal(err)
	}
	pol.Apply(results, info, time.Now())
	for _, r := range results {
		if r.ID != "HD-CTR-003" {
			continue
		}
		if wantEx := r.Subject.Name == "docker-socket"; (r.Exemption != "") != wantEx || r.Status != check.Fail {
			t.Errorf("%s: status %s exemption %q", r.Subject.Name, r.Status, r.Exemption)
		}
	}
}

func TestRecordedPorts(t *testing.T) {
	rec := loadRecorded(t)
	f := newFakeEngine(t, rec, "publish-all", "hardened", "host-network-publish", "default")
	snap, _ := collectFake(t, f, fixtureRoot(t, rec), 5*time.Second)
	got := map[string][]PortBinding{}
	eps := map[string]int{}
	for _, c := range snap.Containers {
		got[c.Name] = c.Ports
		eps[c.Name] = len(c.Endpoints)
	}
	want := map[string][]PortBinding{
		"publish-all":          {{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, {HostIP: "::", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
		"hardened":             {{HostIP: "127.0.0.1", HostPort: 8082, ContainerPort: 80, Proto: "tcp"}},
		"host-network-publish": {{HostPort: 80, ContainerPort: 80, Proto: "tcp"}},
		"default":              nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Ports (-want +got):\n%s", diff)
	}
	for _, c := range snap.Containers {
		if c.Name == "default" {
			if len(c.Endpoints) != 1 || c.Endpoints[0].Network != "bridge" || !c.Endpoints[0].IPv4.Is4() {
				t.Errorf("default's endpoints: %+v", c.Endpoints)
			}
		}
		if c.Name == "host-network-publish" && (!c.HostNetwork() || c.NetworkMode != "host") {
			t.Errorf("host-network-publish: NetworkMode %q", c.NetworkMode)
		}
	}
	var bridge *Network
	for i := range snap.Networks {
		if snap.Networks[i].Name == "bridge" {
			bridge = &snap.Networks[i]
		}
	}
	if bridge == nil || bridge.Bridge != "docker0" || !bridge.IPv4 || bridge.IPv6 || len(bridge.Subnets) != 1 || bridge.Subnets[0].String() != "172.17.0.0/16" {
		t.Errorf("bridge network: %+v", bridge)
	}
	if f := snap.Facts(); !f.Reachable || f.Version != "20.10.24+dfsg1" || f.APIVersion != "1.41" || f.Containers != 4 || f.Networks != 3 {
		t.Errorf("Facts() = %+v", f)
	}
}

// One list, one inspect per container, nothing else per container.
func TestCollectCallCount(t *testing.T) {
	rec := loadRecorded(t)
	f := newFakeEngine(t, rec, scenarioNames()...)
	collectFake(t, f, fixtureRoot(t, rec), 5*time.Second)
	// ping (HEAD) + info + version + list + networks + one inspect each.
	if got, want := f.inspects.Load(), int64(len(scenarios)); got != want {
		t.Errorf("%d inspects, want %d", got, want)
	}
	if got, max := f.requests.Load(), int64(len(scenarios)+5); got > max {
		t.Errorf("%d requests, want at most %d", got, max)
	}
}

// The daemon fails mid-scan: the list answered, the inspects do not. Failed
// containers get error results for every check, and the scan does not wait
// one deadline per container.
func TestCollectDaemonStopsMidScan(t *testing.T) {
	rec := loadRecorded(t)
	tests := []struct {
		name   string
		setup  func(f *fakeEngine)
		reason string
	}{
		{"connection dropped", func(f *fakeEngine) { f.dropInspectAfter = 2 }, "went away"},
		{"inspects hang", func(f *fakeEngine) {
			f.hang = func(r *http.Request) bool {
				return strings.HasPrefix(r.URL.Path, "/v1.41/containers/") && strings.HasSuffix(r.URL.Path, "/json") && !strings.Contains(r.URL.Path, "containers/json")
			}
		}, "did not answer"},
		{"server errors", func(f *fakeEngine) { f.failInspect = http.StatusInternalServerError }, "injected failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t, rec, scenarioNames()...)
			tt.setup(f)
			start := time.Now()
			snap, results := collectFake(t, f, fixtureRoot(t, rec), 500*time.Millisecond)
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("scan took %v", took)
			}
			if snap.Err != nil {
				t.Fatalf("snapshot error %v; want per-container failures", snap.Err)
			}
			if len(snap.Failed) == 0 || len(snap.Containers)+len(snap.Failed) != len(scenarios) {
				t.Fatalf("%d inspected, %d failed", len(snap.Containers), len(snap.Failed))
			}
			n := 0
			for _, r := range results {
				if strings.HasPrefix(r.ID, "HD-CTR-") && r.Status == check.Error {
					n++
					if !strings.Contains(r.Evidence, tt.reason) {
						t.Errorf("%s: %q lacks %q", r.ID, r.Evidence, tt.reason)
					}
				}
			}
			if n != len(snap.Failed)*len(containerDefs) {
				t.Errorf("%d error results for %d failed containers", n, len(snap.Failed))
			}
		})
	}
}

// A container removed between the list and its inspect is not an error.
func TestCollectContainerGone(t *testing.T) {
	rec := loadRecorded(t)
	f := newFakeEngine(t, rec, strings.Repeat("f", 64)) // listed, unknown to inspect
	snap, results := collectFake(t, f, t.TempDir(), 2*time.Second)
	if snap.Err != nil || len(snap.Failed) != 0 || snap.Gone != 1 {
		t.Fatalf("Err %v, Failed %v, Gone %d", snap.Err, snap.Failed, snap.Gone)
	}
	if r, _ := resultFor(results, "HD-CTR-001", ""); r.Status != check.Skip || !strings.Contains(r.Evidence, "no running containers") {
		t.Errorf("HD-CTR-001 = %s: %s", r.Status, r.Evidence)
	}
}

// A daemon that never answers: the scan ends after one deadline with the
// reason, for the ping as for everything else.
func TestCollectFrozenDaemon(t *testing.T) {
	rec := loadRecorded(t)
	f := newFakeEngine(t, rec, "default")
	f.hang = func(*http.Request) bool { return true }
	start := time.Now()
	snap, results := collectFake(t, f, t.TempDir(), 300*time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v", took)
	}
	var ae *APIError
	if !errors.As(snap.Err, &ae) || ae.Reason != ReasonTimeout {
		t.Fatalf("Err = %v, want a timeout", snap.Err)
	}
	for _, r := range results {
		if r.Status == check.Pass {
			t.Errorf("%s passed: %s", r.ID, r.Evidence)
		}
		if strings.HasPrefix(r.ID, "HD-CTR-") && (r.Status != check.Error || !strings.Contains(r.Evidence, "did not answer ping within 300ms")) {
			t.Errorf("%s = %s: %s", r.ID, r.Status, r.Evidence)
		}
	}
}

func TestDaemonChecksFromAPI(t *testing.T) {
	rec := loadRecorded(t)
	f := newFakeEngine(t, rec, "default")
	_, results := collectFake(t, f, fixtureRoot(t, rec), 5*time.Second)
	// No dockerd in the fixture's /proc: what the API says decides; what only
	// the command line knows is an error, never a pass.
	want := map[string]check.Status{
		"HD-DMN-001": check.Error, "HD-DMN-002": check.Error, "HD-DMN-003": check.Fail, "HD-DMN-004": check.Error,
		"HD-DMN-005": check.Fail, "HD-DMN-006": check.Fail, "HD-DMN-007": check.Error, "HD-DMN-008": check.Fail,
		"HD-DMN-009": check.Error, "HD-DMN-010": check.Error, "HD-DMN-011": check.Error,
	}
	got := map[string]check.Status{}
	for _, r := range results {
		if strings.HasPrefix(r.ID, "HD-DMN-") {
			got[r.ID] = r.Status
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
		for _, r := range results {
			if strings.HasPrefix(r.ID, "HD-DMN-") {
				t.Logf("%s %s: %s", r.ID, r.Status, r.Evidence)
			}
		}
	}
}
