package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hardend/hardend/internal/check"
)

func sample() *Report {
	priv := check.Definition{ID: "HD-CTR-002", Area: "containers", Title: "container is privileged", Severity: check.Critical, References: []string{"CIS Docker 5.5"}}
	kptr := check.Definition{ID: "HD-KERN-005", Area: "kernel", Title: "information-leak sysctls weak", Severity: check.Low}
	virtD := check.Definition{ID: "HD-VIRT-001", Area: "virt", Title: "shared-kernel container", Severity: check.Critical}
	web := check.Subject{Kind: check.KindContainer, ID: "0123456789ab", Name: "web"}
	exempt := priv.Fail(check.Subject{Kind: check.KindContainer, ID: "ffff", Name: "ci"}, "Privileged=true", "drop --privileged")
	exempt.Exemption = "CI needs it"
	return &Report{
		Tool: Tool{Name: "hardend", Version: "test"},
		Host: map[string]any{"virtualization": "kvm", "kernel_release": "6.1.0"},
		Results: []check.Result{
			virtD.Pass(check.Host, "no container markers"),
			kptr.Fail(check.Subject{Kind: check.KindHost, Name: "kernel.kptr_restrict"}, "kernel.kptr_restrict=0", "sysctl -w kernel.kptr_restrict=1"),
			priv.Fail(web, "HostConfig.Privileged=true", "run without --privileged"),
			exempt,
			kptr.Err(check.Host, "proc/sys/kernel/dmesg_restrict: permission denied"),
		},
	}
}

func TestSummaryAndExitCode(t *testing.T) {
	tests := []struct {
		threshold check.Severity
		gating    int
		exit      int
	}{
		{check.Critical, 1, 1}, // only the unexempted privileged container
		{check.Low, 2, 1},
	}
	for _, tt := range tests {
		r := sample()
		r.Summarize(tt.threshold)
		if r.Summary.Gating != tt.gating || r.ExitCode() != tt.exit {
			t.Errorf("threshold %v: gating %d exit %d, want %d %d", tt.threshold, r.Summary.Gating, r.ExitCode(), tt.gating, tt.exit)
		}
		if r.Summary.Exempted != 1 || r.Summary.ByStatus["error"] != 1 {
			t.Errorf("summary: %+v", r.Summary)
		}
	}
	r := &Report{Results: []check.Result{sample().Results[0]}}
	r.Summarize(check.Info)
	if r.ExitCode() != 0 {
		t.Errorf("only passes: exit %d, want 0", r.ExitCode())
	}
}

func TestJSONContract(t *testing.T) {
	r := sample()
	r.Summarize(check.High)
	var buf bytes.Buffer
	if err := r.JSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Host    map[string]any `json:"host"`
		Summary map[string]any `json:"summary"`
		Results []struct {
			ID, Status, Severity, Title, Evidence, Remediation string
			Subject                                            struct{ Kind, ID, Name string }
			References                                         []string
		} `json:"results"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, buf.String())
	}
	got := doc.Results[2]
	if got.ID != "HD-CTR-002" || got.Status != "fail" || got.Severity != "critical" || got.Subject.Kind != "container" ||
		got.Subject.Name != "web" || got.Remediation == "" || len(got.References) != 1 {
		t.Errorf("result fields: %+v", got)
	}
	if doc.Host["virtualization"] != "kvm" || doc.Summary == nil {
		t.Errorf("host/summary: %v %v", doc.Host, doc.Summary)
	}
}

func TestTextWorstFirstNoColour(t *testing.T) {
	r := sample()
	r.Summarize(check.High)
	var buf bytes.Buffer
	if err := r.Text(&buf, false, false); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "\x1b[") {
		t.Error("colour codes without a terminal")
	}
	for _, want := range []string{"Virtualization", "Kernel", "Containers", "[FAIL CRITICAL] HD-CTR-002", "fix: run without --privileged", "[EXEMPT] HD-CTR-002", "exempt: CI needs it", "[ERROR] HD-KERN-005", "1 passed", "1 at or above high"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "Virtualization") > strings.Index(out, "Kernel") || strings.Index(out, "Kernel") > strings.Index(out, "Containers") {
		t.Errorf("areas out of order:\n%s", out)
	}
	if strings.Index(out, "[FAIL CRITICAL] HD-CTR-002") > strings.Index(out, "[EXEMPT]") {
		t.Errorf("worst not first:\n%s", out)
	}
	var col bytes.Buffer
	r.Text(&col, true, false)
	if !strings.Contains(col.String(), "\x1b[") {
		t.Error("no colour when asked for")
	}
}

func TestSARIF(t *testing.T) {
	r := sample()
	var buf bytes.Buffer
	if err := r.SARIF(&buf, nil); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID       string `json:"ruleId"`
				Level        string `json:"level"`
				Suppressions []any  `json:"suppressions"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "2.1.0" || len(doc.Runs) != 1 {
		t.Fatalf("sarif: %+v", doc)
	}
	ids := map[string]int{}
	for _, rule := range doc.Runs[0].Tool.Driver.Rules {
		ids[rule.ID]++
	}
	if len(ids) != 3 || ids["HD-CTR-002"] != 1 {
		t.Errorf("one rule per check ID: %v", ids)
	}
	// 2 failures (one suppressed) + 1 error; passes are not results.
	if n := len(doc.Runs[0].Results); n != 4 {
		t.Errorf("sarif results: got %d, want 4", n)
	}
}
