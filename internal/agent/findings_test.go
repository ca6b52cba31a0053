package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/containers"
)

var (
	defPriv  = check.Definition{ID: "HD-CTR-002", Area: "containers", Title: "Privileged container", Severity: check.Critical}
	defRoot  = check.Definition{ID: "HD-CTR-001", Area: "containers", Title: "Runs as root", Severity: check.High}
	defKptr  = check.Definition{ID: "HD-KERN-005", Area: "kernel", Title: "Information-leak sysctls", Severity: check.Low}
	defNet   = check.Definition{ID: "HD-NET-001", Area: "network", Title: "Internal port reachable", Severity: check.High}
	defLive  = check.Definition{ID: "HD-DMN-008", Area: "daemon", Title: "live-restore off", Severity: check.Low}
	web      = check.Subject{Kind: check.KindContainer, ID: "0123456789ab", Name: "web"}
	db       = check.Subject{Kind: check.KindContainer, ID: "ba9876543210", Name: "db"}
	kptr     = check.Subject{Kind: check.KindHost, Name: "kernel.kptr_restrict"}
	dbPort   = check.Subject{Kind: check.KindPort, ID: "ba9876543210/5432/tcp", Name: "db 5432/tcp"}
	everyone = func(string) bool { return true }
)

type changeSummary struct {
	Kind    changeKind
	Check   string
	Subject string
	Status  check.Status
	Lasted  time.Duration
	Reason  string
}

func summarize(cs []change) []changeSummary {
	var out []changeSummary
	for _, c := range cs {
		out = append(out, changeSummary{c.kind, c.result.ID, keyOf(c.result).subject, c.result.Status, c.lasted, c.reason})
	}
	return out
}

func TestFindingsUpdate(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	exempt := defRoot.Fail(db, "User=\"\"", "-u 1000")
	exempt.Exemption = "legacy image"
	renamed := web
	renamed.Name = "web-renamed"
	dmnA := defLive.Fail(check.Subject{Kind: check.KindDaemon, ID: "unix:///run/docker.sock", Name: "dockerd (pid 10)"}, "", "")
	dmnB := defLive.Fail(check.Subject{Kind: check.KindDaemon, ID: "unix:///run/docker.sock", Name: "dockerd (pid 99)"}, "", "")

	steps := []struct {
		name    string
		at      time.Duration
		results []check.Result
		trusted func(string) bool
		want    []changeSummary
	}{
		{"first scan: every failure and error appears, worst first", 0, []check.Result{
			defKptr.Fail(kptr, "0", "sysctl"), defPriv.Fail(web, "Privileged=true", "drop it"), defRoot.Pass(web, "uid 1000"),
			defRoot.Err(db, "inspect: deadline"), exempt, dmnA,
		}, everyone, []changeSummary{
			{appeared, "HD-CTR-002", web.ID, check.Fail, 0, ""},
			{appeared, "HD-CTR-001", db.ID, check.Error, 0, ""},
			{appeared, "HD-DMN-008", dmnA.Subject.ID, check.Fail, 0, ""},
			{appeared, "HD-KERN-005", "kernel.kptr_restrict", check.Fail, 0, ""},
		}},
		{"same scan again: nothing to say; renames and a new dockerd pid are the same subject", time.Minute, []check.Result{
			defKptr.Fail(kptr, "0", "sysctl"), defPriv.Fail(renamed, "Privileged=true", "drop it"),
			defRoot.Err(db, "inspect: deadline"), exempt, dmnB,
		}, everyone, nil},
		{"error becomes a failure: changed, not a new finding", 2 * time.Minute, []check.Result{
			defKptr.Fail(kptr, "0", "sysctl"), defPriv.Fail(web, "Privileged=true", "drop it"),
			defRoot.Fail(db, "User=\"\"", "-u 1000"), dmnB,
		}, everyone, []changeSummary{
			{changed, "HD-CTR-001", db.ID, check.Fail, 0, ""},
		}},
		{"a scan without Docker keeps the Docker-backed findings", 3 * time.Minute, []check.Result{
			defKptr.Pass(kptr, "1"), defLive.Err(dmnB.Subject, "docker unreachable"),
		}, func(area string) bool { return area == "kernel" || area == "virt" }, []changeSummary{
			{cleared, "HD-KERN-005", "kernel.kptr_restrict", check.Fail, 3 * time.Minute, "passes now"},
		}},
		{"exemption, pass, skip and disappearance clear, with how long they lasted", 10 * time.Minute, []check.Result{
			exempt, defPriv.Skip(web, "container stopped"), dmnB,
			defNet.Fail(dbPort, "reachable from 192.0.2.2", "policy"),
			defNet.Pass(dbPort, "IPv6: not reachable"), // the same subject twice: the failure counts
		}, everyone, []changeSummary{
			{cleared, "HD-CTR-002", web.ID, check.Fail, 10 * time.Minute, "not applicable now: container stopped"},
			{cleared, "HD-CTR-001", db.ID, check.Fail, 10 * time.Minute, "exempted by policy: legacy image"},
			{appeared, "HD-NET-001", dbPort.ID, check.Fail, 0, ""},
		}},
		{"subject gone", 11 * time.Minute, []check.Result{dmnB}, everyone, []changeSummary{
			{cleared, "HD-NET-001", dbPort.ID, check.Fail, time.Minute, "no longer reported (its subject is gone)"},
		}},
	}
	f := newFindings()
	for _, s := range steps {
		got := summarize(f.update(s.results, t0.Add(s.at), s.trusted))
		if diff := cmp.Diff(s.want, got, cmp.AllowUnexported(changeSummary{})); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", s.name, diff)
		}
	}
	if got := f.counts().String(); got != "1 finding (1 low)" {
		t.Errorf("counts: %q", got)
	}
}

func TestCountsString(t *testing.T) {
	tests := []struct {
		c    counts
		want string
	}{
		{counts{}, "no findings"},
		{counts{undecided: 2}, "no findings, 2 undecided"},
		{counts{bySeverity: [5]int{check.Critical: 1, check.High: 2, check.Info: 3}}, "6 findings (1 critical, 2 high, 3 info)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		ev       containers.Event
		id       string
		full, ok bool
	}{
		{"container start", containers.Event{Type: "container", Action: "start", ID: "c1"}, "c1", false, true},
		{"container destroy", containers.Event{Type: "container", Action: "destroy", ID: "c1"}, "c1", false, true},
		{"container rename", containers.Event{Type: "container", Action: "rename", ID: "c1"}, "c1", false, true},
		{"container exec is noise", containers.Event{Type: "container", Action: "exec_start: sh", ID: "c1"}, "", false, false},
		{"network connect names the container", containers.Event{Type: "network", Action: "connect", ID: "n1", Attributes: map[string]string{"container": "c2"}}, "c2", false, true},
		{"network connect without a container", containers.Event{Type: "network", Action: "disconnect", ID: "n1"}, "", true, true},
		{"network create is noise", containers.Event{Type: "network", Action: "create", ID: "n1"}, "", false, false},
		{"daemon reload", containers.Event{Type: "daemon", Action: "reload", ID: "d"}, "", true, true},
		{"image pull", containers.Event{Type: "image", Action: "pull", ID: "busybox"}, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, full, ok := classify(tt.ev)
			if id != tt.id || full != tt.full || ok != tt.ok {
				t.Errorf("classify = %q %v %v, want %q %v %v", id, full, ok, tt.id, tt.full, tt.ok)
			}
		})
	}
}

func TestWorkCoalesces(t *testing.T) {
	w := newWork()
	w.add("a", false)
	w.add("b", false)
	w.add("a", false)
	if len(w.kick) != 1 {
		t.Fatalf("kicks: %d, want 1 (coalesced)", len(w.kick))
	}
	ids, full := w.take()
	if full || len(ids) != 2 {
		t.Errorf("take: %v %v", ids, full)
	}
	w.add("a", false)
	w.add("", true)
	if ids, full := w.take(); !full || ids != nil {
		t.Errorf("take after full: %v %v", ids, full)
	}
	if ids, full := w.take(); full || len(ids) != 0 {
		t.Errorf("empty take: %v %v", ids, full)
	}
}
