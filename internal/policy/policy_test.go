package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/check"
)

func TestDefaultParses(t *testing.T) {
	p := Default()
	if p.FailOn != check.High || p.Firewall.Mode != "report" || p.Firewall.Default != "allow" {
		t.Fatalf("default policy: got fail_on=%v mode=%q default=%q", p.FailOn, p.Firewall.Mode, p.Firewall.Default)
	}
	if len(p.Firewall.Internal) == 0 || !contains(p.Firewall.Internal[0].Ports, "2375/tcp") {
		t.Fatalf("default policy must list the Docker API port as internal: %+v", p.Firewall.Internal)
	}
}

// The installed policy file is the embedded default, byte for byte.
func TestPackagedPolicyIsDefault(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "packaging", "policy.yaml"))
	if os.IsNotExist(err) {
		t.Skip("packaging/policy.yaml not present")
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(DefaultYAML()) {
		t.Fatal("packaging/policy.yaml differs from internal/policy/default.yaml")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown top key", "fail_on: high\nfailon: low\n", "field failon not found"},
		{"unknown nested key", "firewall:\n  mdoe: enforce\n", "field mdoe not found"},
		{"bad severity", "fail_on: severe\n", "unknown severity"},
		{"bad mode", "firewall:\n  mode: block\n", "firewall.mode"},
		{"bad default", "firewall:\n  default: open\n", "firewall.default"},
		{"bad port", "firewall:\n  internal:\n    - container: \"*\"\n      ports: [\"80\"]\n", "port \"80\""},
		{"bad interfaces", "firewall:\n  interfaces: all\n", "interfaces"},
		{"exemption without reason", "exemptions:\n  - check: HD-CTR-003\n    container: ci\n", "reason is required"},
		{"exemption bad id", "exemptions:\n  - check: CTR-3\n    container: ci\n    reason: x\n", "not a check ID"},
		{"exemption bad date", "exemptions:\n  - check: HD-CTR-003\n    container: ci\n    reason: x\n    expires: soon\n", "YYYY-MM-DD"},
		{"bad severity override", "severity:\n  HD-CTR-011: tiny\n", "unknown severity"},
		{"bad label", "firewall:\n  public:\n    - label: web\n      ports: [\"80/tcp\"]\n", "key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseFull(t *testing.T) {
	doc := `fail_on: medium
firewall:
  mode: enforce
  default: deny
  interfaces: [eth0, ens3]
  public:
    - container: "web-*"
      ports: ["80/tcp", "443/tcp"]
exemptions:
  - check: HD-CTR-003
    container: "ci-runner"
    reason: "CI agent drives Docker"
    expires: 2027-01-01
severity:
  HD-CTR-011: info
`
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if p.FailOn != check.Medium || p.Firewall.Mode != "enforce" || p.Firewall.Default != "deny" {
		t.Errorf("got %+v", p)
	}
	if got := strings.Join(p.Firewall.Interfaces.Names, ","); got != "eth0,ens3" {
		t.Errorf("interfaces: got %q", got)
	}
	if p.Exemptions[0].Expires.Format(time.DateOnly) != "2027-01-01" {
		t.Errorf("expires: got %v", p.Exemptions[0].Expires)
	}
	if p.Severity["HD-CTR-011"] != check.Info {
		t.Errorf("severity override: got %v", p.Severity["HD-CTR-011"])
	}
}

func TestApply(t *testing.T) {
	p, err := Parse([]byte(`exemptions:
  - check: HD-CTR-003
    container: "ci-*"
    reason: "CI agent drives Docker"
    expires: 2027-01-01
  - check: HD-CTR-006
    label: "app=legacy"
    reason: "legacy app writes to /"
severity:
  HD-CTR-011: info
`))
	if err != nil {
		t.Fatal(err)
	}
	def3 := check.Definition{ID: "HD-CTR-003", Area: "containers", Severity: check.Critical}
	def6 := check.Definition{ID: "HD-CTR-006", Area: "containers", Severity: check.Medium}
	def11 := check.Definition{ID: "HD-CTR-011", Area: "containers", Severity: check.Low}
	ci := check.Subject{Kind: check.KindContainer, ID: "aaa", Name: "ci-runner"}
	web := check.Subject{Kind: check.KindContainer, ID: "bbb", Name: "web"}
	infos := map[string]ContainerInfo{
		"aaa": {Name: "/ci-runner", Image: "gitlab/runner"},
		"bbb": {Name: "/web", Image: "nginx", Labels: map[string]string{"app": "legacy"}},
	}
	mk := func() []check.Result {
		return []check.Result{def3.Fail(ci, "", ""), def3.Fail(web, "", ""), def6.Fail(web, "", ""), def6.Fail(ci, "", ""), def11.Fail(ci, "", "")}
	}

	before := mk()
	p.Apply(before, infos, time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC))
	wantExempt := []bool{true, false, true, false, false}
	for i, r := range before {
		if (r.Exemption != "") != wantExempt[i] {
			t.Errorf("before expiry, result %d (%s %s): exemption %q, want exempt=%v", i, r.ID, r.Subject.Name, r.Exemption, wantExempt[i])
		}
	}
	if before[4].Severity != check.Info {
		t.Errorf("severity override not applied: %v", before[4].Severity)
	}

	// The expiry day itself still counts; the day after, the exemption stops
	// applying and the result says so.
	after := mk()
	p.Apply(after, infos, time.Date(2027, 1, 2, 0, 0, 1, 0, time.UTC))
	if after[0].Exemption != "" || !strings.Contains(after[0].Note, "expired on 2027-01-01") {
		t.Errorf("after expiry: exemption %q note %q", after[0].Exemption, after[0].Note)
	}
	if !after[0].Gates(check.High) {
		t.Error("an expired exemption must gate again")
	}
}

func TestLoadRefusesUnsafeFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create root-owned and foreign-owned files")
	}
	dir := t.TempDir()
	write := func(name string, mode os.FileMode, uid int) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte("fail_on: low\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(f, uid, 0); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if p, err := Load(write("ok.yaml", 0o644, 0)); err != nil || p.FailOn != check.Low {
		t.Fatalf("root-owned 0644: got %v, %v", p, err)
	}
	for _, c := range []struct {
		name string
		mode os.FileMode
		uid  int
		want string
	}{
		{"world.yaml", 0o666, 0, "writable by everyone"},
		{"user.yaml", 0o644, 1000, "owned by uid 1000"},
	} {
		if _, err := Load(write(c.name, c.mode, c.uid)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "absent.yaml")); err == nil {
		t.Error("missing file: want an error")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("exemptions:\n  - check: HD-CTR-003\n    reason: x\n    expires: 2027-01-01\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse(data)
	})
}

func TestAgentLogMetricsDefaults(t *testing.T) {
	p := Default()
	want := Agent{ResyncInterval: 5 * time.Minute, DriftInterval: 5 * time.Second, SummaryInterval: time.Hour,
		DockerBackoffMin: time.Second, DockerBackoffMax: 30 * time.Second, OnStop: "keep"}
	if p.Agent != want {
		t.Errorf("agent defaults: got %+v, want %+v", p.Agent, want)
	}
	if p.Log.Level != "info" || len(p.Log.Targets) != 1 || p.Log.Targets[0] != (LogTarget{Type: "stderr"}) {
		t.Errorf("log defaults: got %+v", p.Log)
	}
	if p.Metrics != (Metrics{}) {
		t.Errorf("metrics must be off by default: %+v", p.Metrics)
	}
	// A document without these sections gets the same defaults.
	q, err := Parse([]byte("fail_on: high\n"))
	if err != nil {
		t.Fatal(err)
	}
	if q.Agent != p.Agent || len(q.Log.Targets) != 1 || q.Metrics != p.Metrics {
		t.Errorf("defaults without the sections: %+v %+v %+v", q.Agent, q.Log, q.Metrics)
	}
}

func TestParseAgentLogMetrics(t *testing.T) {
	doc := `agent:
  resync_interval: 10m
  drift_interval: 2s
  summary_interval: 0s
  docker_backoff_min: 500ms
  docker_backoff_max: 1m
  on_stop: reset
log:
  level: debug
  targets:
    - type: stderr
      format: json
    - type: local
    - type: udp
      address: "192.0.2.10:514"
      facility: local3
    - type: tls
      address: "logs.example.net:6514"
      ca_file: /etc/hardend/ca.pem
      cert_file: /etc/hardend/c.pem
      key_file: /etc/hardend/c.key
      server_name: logs.example.net
      format: rfc3164
      queue: 4096
metrics:
  listen: "[::1]:9641"
`
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	wantAgent := Agent{ResyncInterval: 10 * time.Minute, DriftInterval: 2 * time.Second, DockerBackoffMin: 500 * time.Millisecond,
		DockerBackoffMax: time.Minute, OnStop: "reset"}
	if p.Agent != wantAgent {
		t.Errorf("agent: got %+v, want %+v", p.Agent, wantAgent)
	}
	wantTargets := []LogTarget{
		{Type: "stderr", Format: "json"},
		{Type: "local"},
		{Type: "udp", Address: "192.0.2.10:514", Facility: "local3"},
		{Type: "tls", Address: "logs.example.net:6514", CAFile: "/etc/hardend/ca.pem", CertFile: "/etc/hardend/c.pem",
			KeyFile: "/etc/hardend/c.key", ServerName: "logs.example.net", Format: "rfc3164", Queue: 4096},
	}
	if p.Log.Level != "debug" || len(p.Log.Targets) != len(wantTargets) {
		t.Fatalf("log: got %+v", p.Log)
	}
	for i := range wantTargets {
		if p.Log.Targets[i] != wantTargets[i] {
			t.Errorf("log.targets[%d]: got %+v, want %+v", i, p.Log.Targets[i], wantTargets[i])
		}
	}
	if p.Metrics.Listen != "[::1]:9641" {
		t.Errorf("metrics: %+v", p.Metrics)
	}
}

func TestParseAgentLogMetricsErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown agent key", "agent:\n  resync: 5m\n", "field resync not found"},
		{"unknown log key", "log:\n  target: []\n", "field target not found"},
		{"unknown target key", "log:\n  targets:\n    - type: udp\n      adress: h:514\n", "field adress not found"},
		{"unknown metrics key", "metrics:\n  port: 9641\n", "field port not found"},
		{"bad duration", "agent:\n  drift_interval: soon\n", "time.Duration"},
		{"bare number duration", "agent:\n  drift_interval: 5\n", "time.Duration"},
		{"resync too short", "agent:\n  resync_interval: 1s\n", "agent.resync_interval"},
		{"drift too short", "agent:\n  drift_interval: 1ms\n", "agent.drift_interval"},
		{"summary too short", "agent:\n  summary_interval: 5s\n", "agent.summary_interval"},
		{"backoff inverted", "agent:\n  docker_backoff_min: 1m\n  docker_backoff_max: 1s\n", "below docker_backoff_min"},
		{"bad on_stop", "agent:\n  on_stop: flush\n", "agent.on_stop"},
		{"bad level", "log:\n  level: trace\n", "log.level"},
		{"no targets", "log:\n  targets: []\n", "at least one target"},
		{"bad type", "log:\n  targets:\n    - type: kafka\n", "type \"kafka\""},
		{"udp without port", "log:\n  targets:\n    - type: udp\n      address: logs\n", "want host:port"},
		{"relative local socket", "log:\n  targets:\n    - type: local\n      address: dev/log\n", "absolute socket path"},
		{"bad facility", "log:\n  targets:\n    - type: tcp\n      address: h:514\n      facility: local9\n", "facility \"local9\""},
		{"bad syslog format", "log:\n  targets:\n    - type: tcp\n      address: h:514\n      format: json\n", "want rfc5424 or rfc3164"},
		{"bad stderr format", "log:\n  targets:\n    - type: stderr\n      format: rfc5424\n", "want text or json"},
		{"tls key on udp", "log:\n  targets:\n    - type: udp\n      address: h:514\n      ca_file: /x\n", "only apply to type tls"},
		{"cert without key", "log:\n  targets:\n    - type: tls\n      address: h:6514\n      cert_file: /x\n", "go together"},
		{"stderr twice", "log:\n  targets:\n    - type: stderr\n    - type: stderr\n", "more than once"},
		{"metrics on every interface", "metrics:\n  listen: \":9641\"\n", "not a loopback address"},
		{"metrics public", "metrics:\n  listen: \"192.0.2.1:9641\"\n", "not a loopback address"},
		{"metrics no port", "metrics:\n  listen: \"127.0.0.1\"\n", "want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Parse([]byte("metrics:\n  listen: \"192.0.2.1:9641\"\n  allow_remote: true\n")); err != nil {
		t.Errorf("allow_remote: %v", err)
	}
}
