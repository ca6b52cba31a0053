// Package policy owns hardend's policy: the embedded default, loading and
// validating a YAML file (unknown keys are errors, the file must be root-owned),
// and applying severity overrides and exemptions to check results.
package policy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hardend/hardend/internal/check"
	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the embedded default policy, byte for byte.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Policy is the parsed policy file. Keys are a public contract (PRODUCT.md).
type Policy struct {
	FailOn     check.Severity            `yaml:"fail_on"`
	Firewall   Firewall                  `yaml:"firewall"`
	Exemptions []Exemption               `yaml:"exemptions"`
	Severity   map[string]check.Severity `yaml:"severity"`
	Agent      Agent                     `yaml:"agent"`
	Log        Log                       `yaml:"log"`
	Metrics    Metrics                   `yaml:"metrics"`
}

// Agent holds the long-running agent's timings (durations like "5s", "5m").
type Agent struct {
	// ResyncInterval is the slow full re-audit and reconcile, whatever the
	// events said.
	ResyncInterval time.Duration `yaml:"resync_interval"`
	// DriftInterval is the cheap check of hardend's own chain and jump (enforce
	// mode) that repairs a flush, a firewall reload or a dockerd restart.
	DriftInterval time.Duration `yaml:"drift_interval"`
	// SummaryInterval is how often a summary line is logged; 0 = never.
	SummaryInterval time.Duration `yaml:"summary_interval"`
	// DockerBackoffMin and DockerBackoffMax bound the wait between attempts to
	// reach Docker again.
	DockerBackoffMin time.Duration `yaml:"docker_backoff_min"`
	DockerBackoffMax time.Duration `yaml:"docker_backoff_max"`
	// OnStop is what SIGTERM does to hardend's firewall rules: keep (the
	// protection outlives the agent) or reset (remove them).
	OnStop string `yaml:"on_stop"`
}

// Log says where the agent's records go.
type Log struct {
	// Level is the lowest level logged: error, warn, info (default) or debug.
	Level   string      `yaml:"level"`
	Targets []LogTarget `yaml:"targets"`
}

// LogTarget is one log destination.
type LogTarget struct {
	Type     string `yaml:"type"`     // stderr | local | udp | tcp | tls
	Address  string `yaml:"address"`  // host:port (udp, tcp, tls); socket path (local, default /dev/log)
	Facility string `yaml:"facility"` // syslog facility, default daemon
	// Format: text|json for stderr; rfc5424|rfc3164 for syslog targets
	// (default rfc5424, rfc3164 on the local socket).
	Format     string `yaml:"format"`
	CAFile     string `yaml:"ca_file"`     // tls: PEM CA bundle (default: system roots)
	CertFile   string `yaml:"cert_file"`   // tls: client certificate (optional)
	KeyFile    string `yaml:"key_file"`    // tls: its key
	ServerName string `yaml:"server_name"` // tls: name to verify (default: the address's host)
	Queue      int    `yaml:"queue"`       // records waiting for this target at most (default 1024)
}

// Metrics configures the optional Prometheus endpoint.
type Metrics struct {
	// Listen is host:port to serve /metrics on; empty = off.
	Listen string `yaml:"listen"`
	// AllowRemote permits a non-loopback Listen address.
	AllowRemote bool `yaml:"allow_remote"`
}

// Firewall is the network-exposure part of the policy.
type Firewall struct {
	Mode       string     `yaml:"mode"`       // report | enforce
	Default    string     `yaml:"default"`    // allow | deny
	Interfaces Interfaces `yaml:"interfaces"` // auto, or a list of names
	Public     []PortRule `yaml:"public"`
	Internal   []PortRule `yaml:"internal"`
}

// Interfaces is either "auto" (nil Names) or an explicit list.
type Interfaces struct{ Names []string }

// UnmarshalYAML accepts the scalar "auto" or a sequence of interface names.
func (i *Interfaces) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "auto" {
			return fmt.Errorf("line %d: interfaces: want \"auto\" or a list of interface names, got %q", n.Line, n.Value)
		}
		i.Names = nil
		return nil
	}
	return n.Decode(&i.Names)
}

// Selector picks containers by name glob, image glob or label "k=v".
type Selector struct {
	Container string `yaml:"container"`
	Image     string `yaml:"image"`
	Label     string `yaml:"label"`
}

// PortRule is a selector and the ports ("80/tcp") it covers.
type PortRule struct {
	Selector `yaml:",inline"`
	Ports    []string `yaml:"ports"`
}

// Exemption accepts a check's failure for matching subjects, with a reason.
type Exemption struct {
	Check    string `yaml:"check"`
	Selector `yaml:",inline"`
	Subject  string `yaml:"subject"` // glob on the subject's name or id (any kind)
	Reason   string `yaml:"reason"`
	Expires  Date   `yaml:"expires"`
}

// Date is a calendar day (YYYY-MM-DD); the zero value means "never".
type Date struct{ time.Time }

// UnmarshalYAML parses YYYY-MM-DD.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.Parse(time.DateOnly, n.Value)
	if err != nil {
		return fmt.Errorf("line %d: expires: want YYYY-MM-DD, got %q", n.Line, n.Value)
	}
	d.Time = t
	return nil
}

var (
	checkIDPattern = regexp.MustCompile(`^HD-[A-Z]+-[0-9]{3}$`)
	portPattern    = regexp.MustCompile(`^[0-9]{1,5}/(tcp|udp|sctp)$`)
)

// Default returns the embedded default policy.
func Default() *Policy {
	p, err := Parse(defaultYAML)
	if err != nil {
		panic("embedded default policy is invalid: " + err.Error())
	}
	return p
}

// Parse decodes and validates a policy document. Unknown keys are errors.
func Parse(data []byte) (*Policy, error) {
	p := &Policy{
		FailOn:   check.High,
		Firewall: Firewall{Mode: "report", Default: "allow"},
		Agent: Agent{
			ResyncInterval: 5 * time.Minute, DriftInterval: 5 * time.Second, SummaryInterval: time.Hour,
			DockerBackoffMin: time.Second, DockerBackoffMax: 30 * time.Second, OnStop: "keep",
		},
		Log: Log{Level: "info", Targets: []LogTarget{{Type: "stderr"}}},
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Policy) validate() error {
	var errs []error
	switch p.Firewall.Mode {
	case "report", "enforce":
	default:
		errs = append(errs, fmt.Errorf("firewall.mode: want report or enforce, got %q", p.Firewall.Mode))
	}
	switch p.Firewall.Default {
	case "allow", "deny":
	default:
		errs = append(errs, fmt.Errorf("firewall.default: want allow or deny, got %q", p.Firewall.Default))
	}
	for _, list := range []struct {
		name  string
		rules []PortRule
	}{{"public", p.Firewall.Public}, {"internal", p.Firewall.Internal}} {
		for i, r := range list.rules {
			if err := r.Selector.validate(); err != nil {
				errs = append(errs, fmt.Errorf("firewall.%s[%d]: %w", list.name, i, err))
			}
			for _, port := range r.Ports {
				if !portPattern.MatchString(port) {
					errs = append(errs, fmt.Errorf("firewall.%s[%d]: port %q: want NUMBER/tcp|udp|sctp", list.name, i, port))
				}
			}
		}
	}
	for i, e := range p.Exemptions {
		if !checkIDPattern.MatchString(e.Check) {
			errs = append(errs, fmt.Errorf("exemptions[%d]: check %q is not a check ID like HD-CTR-003", i, e.Check))
		}
		if strings.TrimSpace(e.Reason) == "" {
			errs = append(errs, fmt.Errorf("exemptions[%d] (%s): a reason is required", i, e.Check))
		}
		if err := e.Selector.validate(); err != nil {
			errs = append(errs, fmt.Errorf("exemptions[%d]: %w", i, err))
		}
		if _, err := path.Match(e.Subject, ""); err != nil {
			errs = append(errs, fmt.Errorf("exemptions[%d]: subject %q: %w", i, e.Subject, err))
		}
	}
	for id := range p.Severity {
		if !checkIDPattern.MatchString(id) {
			errs = append(errs, fmt.Errorf("severity: %q is not a check ID like HD-CTR-011", id))
		}
	}
	errs = append(errs, p.Agent.validate()...)
	errs = append(errs, p.Log.validate()...)
	errs = append(errs, p.Metrics.validate()...)
	return errors.Join(errs...)
}

func (a Agent) validate() []error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
		min  time.Duration
	}{
		{"resync_interval", a.ResyncInterval, 10 * time.Second},
		{"drift_interval", a.DriftInterval, 500 * time.Millisecond},
		{"docker_backoff_min", a.DockerBackoffMin, 10 * time.Millisecond},
		{"docker_backoff_max", a.DockerBackoffMax, 10 * time.Millisecond},
	} {
		if d.v < d.min {
			errs = append(errs, fmt.Errorf("agent.%s: %v is below the minimum of %v", d.name, d.v, d.min))
		}
	}
	if a.SummaryInterval != 0 && a.SummaryInterval < time.Minute {
		errs = append(errs, fmt.Errorf("agent.summary_interval: %v: want 0 (off) or at least 1m", a.SummaryInterval))
	}
	if a.DockerBackoffMax < a.DockerBackoffMin {
		errs = append(errs, fmt.Errorf("agent.docker_backoff_max (%v) is below docker_backoff_min (%v)", a.DockerBackoffMax, a.DockerBackoffMin))
	}
	switch a.OnStop {
	case "keep", "reset":
	default:
		errs = append(errs, fmt.Errorf("agent.on_stop: want keep or reset, got %q", a.OnStop))
	}
	return errs
}

// syslogFacilities are the facility names log targets accept (RFC 5424 §6.2.1
// plus the usual names); internal/logship accepts the same.
var syslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

func (l Log) validate() []error {
	var errs []error
	switch l.Level {
	case "error", "warn", "info", "debug":
	default:
		errs = append(errs, fmt.Errorf("log.level: want error, warn, info or debug, got %q", l.Level))
	}
	if len(l.Targets) == 0 {
		errs = append(errs, errors.New("log.targets: list at least one target (stderr is the journal under systemd)"))
	}
	stderr := 0
	for i, t := range l.Targets {
		where := fmt.Sprintf("log.targets[%d]", i)
		switch t.Type {
		case "stderr":
			stderr++
			if t.Format != "" && t.Format != "text" && t.Format != "json" {
				errs = append(errs, fmt.Errorf("%s: stderr format: want text or json, got %q", where, t.Format))
			}
			if t.Address != "" || t.Facility != "" {
				errs = append(errs, fmt.Errorf("%s: stderr takes no address or facility", where))
			}
		case "local", "udp", "tcp", "tls":
			if t.Format != "" && t.Format != "rfc5424" && t.Format != "rfc3164" {
				errs = append(errs, fmt.Errorf("%s: %s format: want rfc5424 or rfc3164, got %q", where, t.Type, t.Format))
			}
			if t.Facility != "" && !slices.Contains(syslogFacilities, t.Facility) {
				errs = append(errs, fmt.Errorf("%s: facility %q: want one of %s", where, t.Facility, strings.Join(syslogFacilities, ", ")))
			}
			if t.Type == "local" {
				if t.Address != "" && !path.IsAbs(t.Address) {
					errs = append(errs, fmt.Errorf("%s: local address %q: want an absolute socket path", where, t.Address))
				}
			} else if _, port, err := net.SplitHostPort(t.Address); err != nil || port == "" {
				errs = append(errs, fmt.Errorf("%s: %s address %q: want host:port", where, t.Type, t.Address))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: type %q: want stderr, local, udp, tcp or tls", where, t.Type))
		}
		if t.Type != "tls" && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "") {
			errs = append(errs, fmt.Errorf("%s: ca_file, cert_file, key_file and server_name only apply to type tls", where))
		}
		if (t.CertFile == "") != (t.KeyFile == "") {
			errs = append(errs, fmt.Errorf("%s: cert_file and key_file go together", where))
		}
		if t.Queue < 0 || t.Queue > 1<<20 {
			errs = append(errs, fmt.Errorf("%s: queue %d: want 0 (default) to %d", where, t.Queue, 1<<20))
		}
	}
	if stderr > 1 {
		errs = append(errs, errors.New("log.targets: stderr listed more than once"))
	}
	return errs
}

func (m Metrics) validate() []error {
	if m.Listen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(m.Listen)
	if err != nil || port == "" {
		return []error{fmt.Errorf("metrics.listen %q: want host:port, e.g. 127.0.0.1:9641", m.Listen)}
	}
	if m.AllowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return []error{fmt.Errorf("metrics.listen %q is not a loopback address: findings would be readable from other hosts (set metrics.allow_remote: true to mean it)", m.Listen)}
	}
	return nil
}

func (s Selector) validate() error {
	for _, g := range []string{s.Container, s.Image} {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("bad glob %q: %w", g, err)
		}
	}
	if s.Label != "" && !strings.Contains(s.Label, "=") {
		return fmt.Errorf("label %q: want key=value", s.Label)
	}
	return nil
}

// Load reads a policy file, refusing one that anyone but root could have written:
// hardend runs as root and acts on it.
func Load(file string) (*Policy, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open policy: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat policy: %w", err)
	}
	if err := checkOwnership(file, st); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("read policy %s: %w", file, err)
	}
	p, err := Parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

// checkOwnership refuses files not owned by root, or writable by group (unless
// the group is root) or others.
func checkOwnership(file string, st os.FileInfo) error {
	mode := st.Mode().Perm()
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("policy %s: cannot read its owner", file)
	}
	switch {
	case sys.Uid != 0:
		return fmt.Errorf("policy %s is owned by uid %d, not root: refusing it (chown root:root %s)", file, sys.Uid, file)
	case mode&0o002 != 0:
		return fmt.Errorf("policy %s is writable by everyone (mode %04o): refusing it (chmod 0644 %s)", file, mode, file)
	case mode&0o020 != 0 && sys.Gid != 0:
		return fmt.Errorf("policy %s is writable by group %d (mode %04o): refusing it (chmod 0644 %s)", file, sys.Gid, mode, file)
	}
	return nil
}

// ContainerInfo is what selectors match on. Labels come from the container and are
// only ever compared, never executed or put into rules.
type ContainerInfo struct {
	Name   string
	Image  string
	Labels map[string]string
}

// Matches reports whether the selector picks the container. An empty selector
// matches nothing, so an exemption must name what it covers.
func (s Selector) Matches(c ContainerInfo) bool {
	if s.Container == "" && s.Image == "" && s.Label == "" {
		return false
	}
	if s.Container != "" && !globMatch(s.Container, strings.TrimPrefix(c.Name, "/")) {
		return false
	}
	if s.Image != "" && !globMatch(s.Image, c.Image) {
		return false
	}
	if s.Label != "" {
		k, v, _ := strings.Cut(s.Label, "=")
		got, ok := c.Labels[k]
		if !ok || got != v {
			return false
		}
	}
	return true
}

func globMatch(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

// Apply sets per-check severities and marks exempted failures. containers maps a
// container subject's ID to what selectors match on; now decides expiry.
func (p *Policy) Apply(results []check.Result, containers map[string]ContainerInfo, now time.Time) {
	for i := range results {
		r := &results[i]
		if sev, ok := p.Severity[r.ID]; ok {
			r.Severity = sev
		}
		if r.Status != check.Fail {
			continue
		}
		for _, e := range p.Exemptions {
			if e.Check != r.ID || !e.matches(r.Subject, containers) {
				continue
			}
			if !e.Expires.IsZero() && !now.Before(e.Expires.AddDate(0, 0, 1)) {
				r.Note = fmt.Sprintf("exemption %q expired on %s and no longer applies", e.Reason, e.Expires.Format(time.DateOnly))
				continue
			}
			r.Exemption = e.Reason
			r.Note = ""
			break
		}
	}
}

func (e Exemption) matches(subj check.Subject, containers map[string]ContainerInfo) bool {
	hasSelector := e.Container != "" || e.Image != "" || e.Label != ""
	if hasSelector {
		c, ok := containers[subj.ID]
		if !ok || !e.Selector.Matches(c) {
			return false
		}
	}
	if e.Subject != "" {
		if !globMatch(e.Subject, subj.Name) && !globMatch(e.Subject, subj.ID) {
			return false
		}
	}
	return hasSelector || e.Subject != ""
}
