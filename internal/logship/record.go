package logship

import (
	"fmt"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// SDID is the SD-ID of hardend's structured data: a private ID under 32473, the
// enterprise number RFC 5612 reserves for documentation. A site with its own
// IANA number can rewrite it at the collector.
const SDID = "hardend@32473"

// Field names the agent logs with that logship treats specially.
const (
	// FieldCheck holds a finding's check ID; it becomes the SD-PARAM "id".
	FieldCheck = "check"
	// FieldMsgID becomes the RFC 5424 MSGID ("finding", "cleared", "summary"...)
	// instead of an SD-PARAM.
	FieldMsgID = "msgid"
)

// leading are the SD-PARAMs that come first, in this order, when present; every
// other field follows sorted by name.
var leading = []string{"id", "severity", "container", "port", "status"}

// record is a log entry copied out of logrus at the moment of the call, so the
// sink goroutines never share memory with the caller.
type record struct {
	time   time.Time
	level  logrus.Level
	msg    string
	msgID  string
	fields []Param // logrus field names; order: leading SD names, then sorted
	// internal marks logship's own notices (a target went down / came back): they
	// are never fed back into a syslog target's fallback.
	internal bool
}

func newRecord(e *logrus.Entry) *record {
	r := &record{time: e.Time, level: e.Level, msg: e.Message}
	if r.time.IsZero() {
		r.time = time.Now()
	}
	if len(e.Data) == 0 {
		return r
	}
	r.fields = make([]Param, 0, len(e.Data))
	for k, v := range e.Data {
		if k == FieldMsgID {
			r.msgID = valueString(v)
			continue
		}
		r.fields = append(r.fields, Param{Name: k, Value: valueString(v)})
	}
	slices.SortFunc(r.fields, func(a, b Param) int {
		ra, rb := rank(sdName(a.Name)), rank(sdName(b.Name))
		if ra != rb {
			return ra - rb
		}
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return r
}

// sdName is the SD-PARAM name of a logrus field.
func sdName(field string) string {
	if field == FieldCheck {
		return "id"
	}
	return field
}

func rank(name string) int {
	if i := slices.Index(leading, name); i >= 0 {
		return i
	}
	return len(leading)
}

func valueString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// syslogSeverity maps a logrus level to a syslog severity.
func syslogSeverity(l logrus.Level) Severity {
	switch l {
	case logrus.PanicLevel, logrus.FatalLevel:
		return SevCritical
	case logrus.ErrorLevel:
		return SevError
	case logrus.WarnLevel:
		return SevWarning
	case logrus.InfoLevel:
		return SevInfo
	}
	return SevDebug
}

// message builds the syslog message for one target.
func (r *record) message(fac Facility, host, app, procID string) Message {
	m := Message{
		Facility: fac,
		Severity: syslogSeverity(r.level),
		Time:     r.time,
		Hostname: host,
		AppName:  app,
		ProcID:   procID,
		MsgID:    r.msgID,
		Msg:      r.msg,
	}
	if len(r.fields) > 0 {
		params := make([]Param, len(r.fields))
		for i, f := range r.fields {
			params[i] = Param{Name: sdName(f.Name), Value: f.Value}
		}
		m.Data = []Element{{ID: SDID, Params: params}}
	}
	return m
}

// entry rebuilds a logrus entry for logrus's own formatters (the stderr sink).
func (r *record) entry(l *logrus.Logger) *logrus.Entry {
	data := make(logrus.Fields, len(r.fields)+1)
	for _, f := range r.fields {
		data[f.Name] = f.Value
	}
	if r.msgID != "" {
		data[FieldMsgID] = r.msgID
	}
	return &logrus.Entry{Logger: l, Data: data, Time: r.time, Level: r.level, Message: r.msg}
}
