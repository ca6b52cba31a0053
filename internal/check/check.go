// Package check is hardend's findings model: checks with stable IDs, results per
// subject, severities and statuses. Every area package (virt, kernel, containers,
// firewall) produces []Result through Check.Run; report and policy consume them.
package check

import (
	"fmt"
	"strings"
)

// Severity orders how bad a failed result is. The zero value is Info.
type Severity int

// Severities, lowest first, so that comparisons read naturally (s >= High).
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity accepts the lowercase names used in policy files and flags.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(name, n) {
			return Severity(i), nil
		}
	}
	return Info, fmt.Errorf("unknown severity %q (want one of %s)", name, strings.Join(severityNames, ", "))
}

// MarshalText makes severities appear by name in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Status is the outcome of one check for one subject.
type Status string

// Statuses. Skip means "not applicable" and Error "could not decide"; both carry a
// reason in Result.Evidence. A check whose evidence cannot be read reports Error or
// Skip, never Pass.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Skip  Status = "skip"
	Error Status = "error"
)

// Subject kinds.
const (
	KindHost      = "host"
	KindDaemon    = "daemon"
	KindContainer = "container"
	KindPort      = "port"
)

// Subject is what a result is about.
type Subject struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Host is the subject of host-wide checks.
var Host = Subject{Kind: KindHost}

// Result is one check's verdict on one subject.
type Result struct {
	ID          string   `json:"id"`
	Area        string   `json:"area"`
	Status      Status   `json:"status"`
	Severity    Severity `json:"severity"`
	Title       string   `json:"title"`
	Subject     Subject  `json:"subject"`
	Evidence    string   `json:"evidence,omitempty"`
	Remediation string   `json:"remediation,omitempty"`
	References  []string `json:"references,omitempty"`
	// Exemption is set when policy accepted a failure; the result then counts as
	// exempt, not failed, and the reason stays visible.
	Exemption string `json:"exemption,omitempty"`
	// Note carries what policy did that the reader should see, e.g. an exemption
	// that matched but has expired and so no longer applies.
	Note string `json:"note,omitempty"`
}

// Gates reports whether this result counts against the --fail-on threshold.
func (r Result) Gates(threshold Severity) bool {
	return r.Status == Fail && r.Exemption == "" && r.Severity >= threshold
}

// Definition is the static part of a check: what the catalogue says about it.
type Definition struct {
	ID         string
	Area       string // "virt", "kernel", "daemon", "containers", "network"
	Title      string
	Severity   Severity
	References []string
}

// New starts a result for this definition and subject; the caller sets Status,
// Evidence and Remediation through the helpers below.
func (d Definition) New(subj Subject) Result {
	return Result{ID: d.ID, Area: d.Area, Title: d.Title, Severity: d.Severity, Subject: subj, References: d.References}
}

// Pass returns a passing result with what was seen.
func (d Definition) Pass(subj Subject, evidence string) Result {
	r := d.New(subj)
	r.Status, r.Evidence = Pass, evidence
	return r
}

// Fail returns a failing result with evidence and the exact fix.
func (d Definition) Fail(subj Subject, evidence, remediation string) Result {
	r := d.New(subj)
	r.Status, r.Evidence, r.Remediation = Fail, evidence, remediation
	return r
}

// FailAt is Fail with a severity other than the default (e.g. ro vs rw mounts).
func (d Definition) FailAt(sev Severity, subj Subject, evidence, remediation string) Result {
	r := d.Fail(subj, evidence, remediation)
	r.Severity = sev
	return r
}

// Skip returns a not-applicable result; reason says why.
func (d Definition) Skip(subj Subject, reason string) Result {
	r := d.New(subj)
	r.Status, r.Evidence = Skip, reason
	return r
}

// Err returns a could-not-decide result; reason says what could not be read.
func (d Definition) Err(subj Subject, reason string) Result {
	r := d.New(subj)
	r.Status, r.Evidence = Error, reason
	return r
}
