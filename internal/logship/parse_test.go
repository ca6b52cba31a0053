package logship

import "github.com/hardend/hardend/internal/logship/syslogtest"

// parsed is an RFC 5424 message read back by syslogtest's strict parser, in this
// package's types: what the formatter writes must be what a collector reads.
type parsed struct {
	Pri                                              int
	Timestamp, Hostname, AppName, ProcID, MsgID, Msg string
	BOM                                              bool
	SD                                               []Element
}

// parse5424 parses one RFC 5424 SYSLOG-MSG (no transport framing) strictly.
func parse5424(line string) (parsed, error) {
	m, err := syslogtest.Parse(line)
	if err != nil {
		return parsed{}, err
	}
	p := parsed{Pri: m.Pri, Timestamp: m.Timestamp, Hostname: m.Hostname, AppName: m.AppName,
		ProcID: m.ProcID, MsgID: m.MsgID, Msg: m.Msg, BOM: m.BOM}
	for _, e := range m.SD {
		el := Element{ID: e.ID}
		for _, prm := range e.Params {
			el.Params = append(el.Params, Param{Name: prm.Name, Value: prm.Value})
		}
		p.SD = append(p.SD, el)
	}
	return p, nil
}
