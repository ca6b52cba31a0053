package syslogtest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Message is an RFC 5424 message read back by a strict parser: what hardend
// writes must be what a collector reads.
type Message struct {
	Pri                                              int
	Timestamp, Hostname, AppName, ProcID, MsgID, Msg string
	BOM                                              bool
	SD                                               []Element
}

// Element is one SD-ELEMENT.
type Element struct {
	ID     string
	Params []Param
}

// Param is one SD-PARAM, its value unescaped.
type Param struct{ Name, Value string }

// Param returns the value of the first parameter called name in the element
// with id, and whether there is one.
func (m Message) Param(id, name string) (string, bool) {
	for _, e := range m.SD {
		if e.ID != id {
			continue
		}
		for _, p := range e.Params {
			if p.Name == name {
				return p.Value, true
			}
		}
	}
	return "", false
}

const (
	bom       = "\xef\xbb\xbf"
	maxSDName = 32
)

// Parse parses one RFC 5424 SYSLOG-MSG (no transport framing) strictly after
// the ABNF of RFC 5424 §6.
func Parse(line string) (Message, error) {
	var p Message
	s := line
	if !strings.HasPrefix(s, "<") {
		return p, errors.New("no PRI")
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return p, errors.New("bad PRI")
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri < 0 || pri > 191 || (len(s[1:end]) > 1 && s[1] == '0') {
		return p, fmt.Errorf("bad PRIVAL %q", s[1:end])
	}
	p.Pri = pri
	s = s[end+1:]
	if !strings.HasPrefix(s, "1 ") {
		return p, errors.New("bad VERSION")
	}
	s = s[2:]
	fields := []struct {
		dst *string
		max int
	}{{&p.Timestamp, 64}, {&p.Hostname, 255}, {&p.AppName, 48}, {&p.ProcID, 128}, {&p.MsgID, 32}}
	for i, f := range fields {
		sp := strings.IndexByte(s, ' ')
		if sp <= 0 {
			return p, fmt.Errorf("header field %d missing", i)
		}
		tok := s[:sp]
		if len(tok) > f.max {
			return p, fmt.Errorf("header field %d longer than %d", i, f.max)
		}
		for j := 0; j < len(tok); j++ {
			if tok[j] < 33 || tok[j] > 126 {
				return p, fmt.Errorf("header field %d: byte %#x not PRINTUSASCII", i, tok[j])
			}
		}
		*f.dst = tok
		s = s[sp+1:]
	}
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	} else {
		for strings.HasPrefix(s, "[") {
			var e Element
			var err error
			e, s, err = parseElement(s[1:])
			if err != nil {
				return p, err
			}
			p.SD = append(p.SD, e)
		}
		if len(p.SD) == 0 {
			return p, errors.New("no STRUCTURED-DATA")
		}
	}
	if s == "" {
		return p, nil
	}
	if s[0] != ' ' {
		return p, fmt.Errorf("junk after STRUCTURED-DATA: %q", s)
	}
	s = s[1:]
	if strings.HasPrefix(s, bom) {
		p.BOM = true
		s = s[len(bom):]
	}
	p.Msg = s
	return p, nil
}

func sdNameByte(c byte) bool {
	return c >= 33 && c <= 126 && c != '=' && c != ']' && c != '"'
}

func parseSDName(s string) (string, string, error) {
	i := 0
	for i < len(s) && sdNameByte(s[i]) {
		i++
	}
	if i == 0 || i > maxSDName {
		return "", s, fmt.Errorf("bad SD-NAME at %q", s)
	}
	return s[:i], s[i:], nil
}

func parseElement(s string) (Element, string, error) {
	var e Element
	id, s, err := parseSDName(s)
	if err != nil {
		return e, s, err
	}
	e.ID = id
	for {
		switch {
		case strings.HasPrefix(s, "]"):
			return e, s[1:], nil
		case strings.HasPrefix(s, " "):
		default:
			return e, s, fmt.Errorf("bad SD-ELEMENT at %q", s)
		}
		var name string
		name, s, err = parseSDName(s[1:])
		if err != nil {
			return e, s, err
		}
		if !strings.HasPrefix(s, `="`) {
			return e, s, fmt.Errorf("SD-PARAM %s: want =\"", name)
		}
		s = s[2:]
		var val strings.Builder
		closed := false
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\' || s[i+1] == ']') {
				val.WriteByte(s[i+1])
				i++
				continue
			}
			if c == ']' {
				return e, s, fmt.Errorf("SD-PARAM %s: unescaped ]", name)
			}
			if c == '"' {
				s = s[i+1:]
				closed = true
				break
			}
			val.WriteByte(c)
		}
		if !closed {
			return e, s, fmt.Errorf("SD-PARAM %s: unterminated value", name)
		}
		e.Params = append(e.Params, Param{Name: name, Value: val.String()})
	}
}
