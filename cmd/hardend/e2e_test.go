//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/testenv"
)

// The whole product from the outside: the built binary, run as a sysadmin runs
// it, inside the network namespace of a real dockerd, judged by real packets from
// an outsider namespace.

type e2eHost struct {
	bin string
	e   *testenv.Engine
	o   *testenv.Outsider
}

// hardend runs the binary in the engine's namespace against its daemon.
func (h *e2eHost) hardend(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := h.e.NS.Command(ctx, append([]string{h.bin}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+h.e.Host, "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("hardend %s: %v", strings.Join(args, " "), err)
	}
	return code, stdout.String(), stderr.String()
}

type jsonReport struct {
	Host    map[string]any `json:"host"`
	Summary struct {
		Gating int `json:"gating_failures"`
	} `json:"summary"`
	Results []struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Severity string `json:"severity"`
		Subject  struct {
			Kind, ID, Name string
		} `json:"subject"`
		Evidence    string `json:"evidence"`
		Remediation string `json:"remediation"`
	} `json:"results"`
	Remediation *struct {
		DryRun bool   `json:"dry_run"`
		Plan   string `json:"plan"`
		Result string `json:"result"`
		Error  string `json:"error"`
	} `json:"remediation"`
}

func (h *e2eHost) report(t *testing.T, args ...string) (int, jsonReport) {
	t.Helper()
	code, out, stderr := h.hardend(t, append([]string{"--check", "--format", "json"}, args...)...)
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("hardend --check %v: exit %d, invalid JSON (%v)\nstderr: %s\nstdout: %.2000s", args, code, err, stderr, out)
	}
	return code, r
}

// failing lists "ID subject-name" of the failed results whose subject matches.
func (r jsonReport) failing(id string, subject *regexp.Regexp) []string {
	var out []string
	for _, res := range r.Results {
		if res.ID == id && res.Status == "fail" && (subject == nil || subject.MatchString(res.Subject.Name) || subject.MatchString(res.Subject.ID)) {
			out = append(out, res.ID+" "+res.Subject.Name)
		}
	}
	return out
}

func (h *e2eHost) rules(t *testing.T) string {
	t.Helper()
	return h.e.NS.Run(t, "iptables-save") + "\n#v6\n" + h.e.NS.Run(t, "ip6tables-save")
}

// stripCounters removes what changes between two dumps of the same rules.
var dumpNoise = regexp.MustCompile(`(?m)^# (Generated|Completed).*$|\[\d+:\d+\]`)

func sameRules(a, b string) bool {
	return dumpNoise.ReplaceAllString(a, "") == dumpNoise.ReplaceAllString(b, "")
}

func writePolicy(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestEndToEndCheckRemediateReset(t *testing.T) {
	testenv.RequireRoot(t)
	h := &e2eHost{bin: testenv.BuildHardend(t)}
	h.e = testenv.StartEngine(t, testenv.EngineOptions{})
	h.o = h.e.Outsider(t)
	run := func(args ...string) string {
		return h.e.Docker(t, append([]string{"run", "-d", "--stop-timeout", "1"}, args...)...)
	}
	// The guide's insecure patterns, and a hardened one.
	run("--name", "web", "-p", "8080:80", testenv.Image, "httpd", "-f", "-p", "80", "-h", "/www")
	run("--name", "redis", "-p", "6379:80", testenv.Image, "httpd", "-f", "-p", "80", "-h", "/www")
	run("--name", "site", "-p", "8443:80", testenv.Image, "httpd", "-f", "-p", "80", "-h", "/www")
	run("--name", "admin", "-p", "127.0.0.1:9000:80", testenv.Image, "httpd", "-f", "-p", "80", "-h", "/www")
	run("--name", "ci", "-v", h.e.Socket+":/var/run/docker.sock", testenv.Image, "sleep", "600")
	run("--name", "hardened", "-u", "1000:1000", "--cap-drop=ALL", "--cap-add=NET_BIND_SERVICE", "--read-only",
		"--security-opt", "no-new-privileges", "--memory", "64m", "--pids-limit", "100",
		"-p", "127.0.0.1:8081:80", testenv.Image, "httpd", "-f", "-p", "80", "-h", "/www")
	// The host's own service (a stand-in for sshd) must stay reachable throughout.
	sshd, err := h.e.NS.Listen("tcp", "[::]:22")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sshd.Close() })
	go func() {
		for {
			c, err := sshd.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	h.o.RouteVia(t, "172.16.0.0/12")
	addr := func(port string) string { return h.o.HostV4.String() + ":" + port }
	h.o.WaitReachable(t, addr("8080"), true)

	// 1. The audit, report only, with the embedded default policy.
	before := h.rules(t)
	code, r := h.report(t)
	if code != 1 {
		t.Errorf("exit %d, want 1 (critical and high findings)", code)
	}
	if got := r.failing("HD-NET-001", regexp.MustCompile(`^redis `)); len(got) == 0 {
		t.Errorf("redis on 6379 (internal by the default policy) not reported by HD-NET-001")
	}
	if got := r.failing("HD-NET-007", regexp.MustCompile(`^web `)); len(got) == 0 {
		t.Errorf("web on 8080 (unlisted) not reported by HD-NET-007")
	}
	if got := r.failing("HD-CTR-003", regexp.MustCompile(`^ci$`)); len(got) != 1 {
		t.Errorf("the engine's socket mounted into ci: HD-CTR-003 %v", got)
	}
	for _, id := range []string{"HD-CTR-001", "HD-CTR-002", "HD-CTR-003", "HD-CTR-004", "HD-CTR-005", "HD-CTR-006", "HD-CTR-008", "HD-CTR-009", "HD-CTR-010", "HD-CTR-011"} {
		if got := r.failing(id, regexp.MustCompile(`^hardened$`)); len(got) > 0 {
			t.Errorf("the hardened container fails %v", got)
		}
	}
	if got := r.failing("HD-NET-002", regexp.MustCompile(`^admin `)); len(got) == 0 {
		t.Errorf("admin (127.0.0.1:9000) reachable by direct routing, not reported by HD-NET-002")
	}
	if !sameRules(before, h.rules(t)) {
		t.Fatal("--check changed the rule set")
	}

	// 2. --dry-run prints the plan and changes nothing.
	policyFile := writePolicy(t, `fail_on: high
firewall:
  mode: enforce
  default: allow
  public:
    - container: "site"
      ports: ["8443/tcp"]
  internal:
    - container: "*"
      ports: ["6379/tcp", "8080/tcp"]
`)
	_, r = h.report(t, "--config", policyFile, "--remediate", "--dry-run")
	if r.Remediation == nil || !r.Remediation.DryRun || !strings.Contains(r.Remediation.Plan, "HARDEND-FORWARD") {
		t.Fatalf("dry run: %+v", r.Remediation)
	}
	if !sameRules(before, h.rules(t)) {
		t.Fatal("--dry-run changed the rule set")
	}

	// 3. --remediate closes what policy says is internal, and the report says so.
	_, r = h.report(t, "--config", policyFile, "--remediate")
	if r.Remediation == nil || r.Remediation.Error != "" {
		t.Fatalf("remediate: %+v", r.Remediation)
	}
	if got := r.failing("HD-NET-001", nil); len(got) > 0 {
		t.Errorf("after --remediate, still reported reachable: %v", got)
	}
	if got := r.failing("HD-NET-005", nil); len(got) > 0 {
		t.Errorf("after --remediate, hardend's own rules reported: %v", got)
	}
	for port, want := range map[string]bool{"8080": false, "6379": false, "8443": true, "22": true, "9000": false} {
		if got := h.o.Reachable(addr(port)); got != want {
			t.Errorf("after --remediate, %s reachable=%v, want %v", addr(port), got, want)
		}
	}
	if !h.o.Reachable("[" + h.o.HostV6.String() + "]:22") {
		t.Error("after --remediate, the host's own service is not reachable over IPv6")
	}
	// Direct routing to a container's own address is closed too.
	ip := h.e.Docker(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "admin")
	if h.o.Reachable(ip + ":80") {
		t.Errorf("after --remediate, admin reachable at its own address %s by direct routing", ip)
	}

	// 4. A second --remediate changes nothing.
	applied := h.rules(t)
	_, r = h.report(t, "--config", policyFile, "--remediate")
	if r.Remediation == nil || !strings.Contains(r.Remediation.Result, "nothing to change") {
		t.Errorf("second --remediate: %+v", r.Remediation)
	}
	if !sameRules(applied, h.rules(t)) {
		t.Error("second --remediate changed the rule set")
	}

	// 5. firewall status shows hardend's rules; reset removes them and nothing else.
	code, out, stderr := h.hardend(t, "firewall", "status")
	if code != 0 || !strings.Contains(out, "HARDEND-FORWARD") {
		t.Errorf("firewall status: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = h.hardend(t, "firewall", "reset")
	if code != 0 {
		t.Fatalf("firewall reset: exit %d\n%s%s", code, out, stderr)
	}
	after := h.rules(t)
	if strings.Contains(after, "HARDEND") {
		t.Errorf("after reset, hardend's rules remain:\n%s", after)
	}
	if !sameRules(ipv4Only(before), ipv4Only(after)) {
		t.Errorf("after reset, the IPv4 rule set differs from before hardend ran:\nbefore:\n%s\nafter:\n%s", ipv4Only(before), ipv4Only(after))
	}
	if !h.o.Reachable(addr("8080")) {
		t.Error("after reset, web is not reachable again")
	}
}

// ipv4Only is the iptables-save half of rules(): on IPv6 an empty filter table
// hardend created may stay (iptables cannot delete a table).
func ipv4Only(dump string) string {
	i := strings.Index(dump, "\n#v6\n")
	if i < 0 {
		return dump
	}
	return dump[:i]
}
