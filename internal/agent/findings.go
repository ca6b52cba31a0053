package agent

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hardend/hardend/internal/check"
)

// findingKey identifies a finding across scans: the check and its subject. The
// subject's ID is the stable part (a container's ID survives a rename, the
// daemon's name "dockerd (pid N)" does not survive a restart); subjects without
// an ID (host sysctls) are named.
type findingKey struct {
	check, kind, subject string
}

func keyOf(r check.Result) findingKey {
	s := r.Subject.ID
	if s == "" {
		s = r.Subject.Name
	}
	return findingKey{check: r.ID, kind: r.Subject.Kind, subject: s}
}

// active reports whether a result is a finding to keep track of: a failure not
// exempted by policy, or a check that could not decide.
func active(r check.Result) bool {
	return (r.Status == check.Fail && r.Exemption == "") || r.Status == check.Error
}

type finding struct {
	result check.Result
	since  time.Time
}

// changeKind says what happened to a finding between two scans.
type changeKind int

const (
	appeared changeKind = iota
	cleared
	changed // fail <-> error
)

type change struct {
	kind   changeKind
	result check.Result // the current result; for cleared, the last one seen
	since  time.Time    // when the finding appeared
	lasted time.Duration
	reason string // cleared: why
	prev   check.Status
}

// findings is the agent's state: what is failing now and since when. Only the
// main loop touches it.
type findings struct {
	active map[findingKey]*finding
}

func newFindings() *findings { return &findings{active: map[findingKey]*finding{}} }

// update applies one scan's results and returns what changed. trusted says
// which areas the scan speaks for; findings of other areas are left as they
// were (a scan without Docker cannot clear container findings).
func (f *findings) update(results []check.Result, now time.Time, trusted func(area string) bool) []change {
	var out []change
	// One verdict per key: several results may share a subject (an IPv4 and
	// an IPv6 result for one port); the worst one counts.
	byKey := make(map[findingKey]check.Result, len(results))
	var order []findingKey
	for _, r := range results {
		if !trusted(r.Area) {
			continue
		}
		k := keyOf(r)
		prev, ok := byKey[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || worse(r, prev) {
			byKey[k] = r
		}
	}
	for _, k := range order {
		r := byKey[k]
		old := f.active[k]
		switch {
		case active(r) && old == nil:
			f.active[k] = &finding{result: r, since: now}
			out = append(out, change{kind: appeared, result: r, since: now})
		case active(r) && old.result.Status != r.Status:
			out = append(out, change{kind: changed, result: r, since: old.since, prev: old.result.Status})
			old.result = r
		case active(r):
			old.result = r // evidence and severity follow the latest scan, silently
		case old != nil:
			delete(f.active, k)
			out = append(out, change{kind: cleared, result: old.result, since: old.since, lasted: now.Sub(old.since), reason: clearReason(r)})
		}
	}
	for k, old := range f.active {
		if _, ok := byKey[k]; ok || !trusted(old.result.Area) {
			continue
		}
		delete(f.active, k)
		out = append(out, change{kind: cleared, result: old.result, since: old.since, lasted: now.Sub(old.since),
			reason: "no longer reported (its subject is gone)"})
	}
	slices.SortFunc(out, func(a, b change) int {
		if c := cmp.Compare(b.result.Severity, a.result.Severity); c != 0 {
			return c
		}
		ka, kb := keyOf(a.result), keyOf(b.result)
		return cmp.Or(strings.Compare(ka.check, kb.check), strings.Compare(ka.kind, kb.kind), strings.Compare(ka.subject, kb.subject))
	})
	return out
}

// worse orders results of one subject: a finding over none, a failure over an
// error, then the higher severity.
func worse(a, b check.Result) bool {
	if active(a) != active(b) {
		return active(a)
	}
	if (a.Status == check.Fail) != (b.Status == check.Fail) {
		return a.Status == check.Fail
	}
	return a.Severity > b.Severity
}

func clearReason(r check.Result) string {
	switch {
	case r.Status == check.Pass:
		return "passes now"
	case r.Status == check.Skip:
		return "not applicable now: " + r.Evidence
	case r.Exemption != "":
		return "exempted by policy: " + r.Exemption
	}
	return "status " + string(r.Status)
}

// counts summarizes the active findings.
type counts struct {
	bySeverity [check.Critical + 1]int // failures
	undecided  int                     // errors
}

func (f *findings) counts() counts {
	var c counts
	for _, x := range f.active {
		if x.result.Status == check.Error {
			c.undecided++
			continue
		}
		if s := x.result.Severity; s >= check.Info && s <= check.Critical {
			c.bySeverity[s]++
		}
	}
	return c
}

func (c counts) failing() int {
	n := 0
	for _, v := range c.bySeverity {
		n += v
	}
	return n
}

// String is the one-line count: "3 findings (1 critical, 2 high), 1 undecided".
func (c counts) String() string {
	n := c.failing()
	var b strings.Builder
	if n == 0 {
		b.WriteString("no findings")
	} else {
		fmt.Fprintf(&b, "%d finding%s (", n, plural(n))
		first := true
		for s := check.Critical; s >= check.Info; s-- {
			if c.bySeverity[s] == 0 {
				continue
			}
			if !first {
				b.WriteString(", ")
			}
			first = false
			fmt.Fprintf(&b, "%d %s", c.bySeverity[s], s)
		}
		b.WriteString(")")
	}
	if c.undecided > 0 {
		fmt.Fprintf(&b, ", %d undecided", c.undecided)
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
