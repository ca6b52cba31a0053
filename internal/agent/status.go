package agent

import (
	"fmt"
	"strings"
	"time"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/logship"
	"github.com/sirupsen/logrus"
)

// statusLine is the one-line state for systemd's STATUS= and the summary log
// line: findings, Docker, firewall, last audit.
func (a *agent) statusLine() string {
	var parts []string
	c := a.findings.counts()
	switch {
	case !a.dockerKnown:
		return "starting: contacting Docker"
	case !a.ready:
		parts = append(parts, "starting: first audit")
	case !a.dockerUp.Load():
		parts = append(parts, c.String()+" (Docker-backed ones stale)")
	default:
		parts = append(parts, c.String())
	}
	if a.dockerUp.Load() {
		parts = append(parts, "docker up")
	} else {
		d := "degraded: Docker unavailable since " + a.dockerSince.Format(time.TimeOnly)
		if a.dockerErr != nil {
			d += " (" + firstLine(a.dockerErr.Error(), 80) + ")"
		}
		parts = append(parts, d)
	}
	pol := a.pol.Load()
	switch {
	case pol.Firewall.Mode != "enforce":
		parts = append(parts, "firewall: report only")
	case a.fw == nil:
		parts = append(parts, "firewall: enforce unavailable")
	case a.fwState == "":
		parts = append(parts, "firewall: enforce")
	default:
		parts = append(parts, "firewall: enforce "+firstLine(a.fwState, 80))
	}
	if !a.lastScan.IsZero() {
		parts = append(parts, "audited "+a.lastScan.Format(time.TimeOnly))
	}
	return strings.Join(parts, "; ")
}

// setStatus sends STATUS= when the line changed.
func (a *agent) setStatus() {
	st := a.statusLine()
	if st == a.status {
		return
	}
	a.status = st
	if err := a.notify.Status(st); err != nil {
		a.log.WithError(err).Debug("sd_notify STATUS failed")
	}
}

// logSummary logs the state on the summary timer, with the counts as fields.
func (a *agent) logSummary() {
	c := a.findings.counts()
	fields := logrus.Fields{
		logship.FieldMsgID: "summary",
		"findings":         c.failing(),
		"undecided":        c.undecided,
		"docker":           map[bool]string{true: "up", false: "down"}[a.dockerUp.Load()],
		"mode":             a.pol.Load().Firewall.Mode,
	}
	for s := check.Info; s <= check.Critical; s++ {
		fields[s.String()] = c.bySeverity[s]
	}
	a.log.WithFields(fields).Info("summary: " + a.statusLine())
}

func firstLine(s string, max int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprint(s)
}
