package logship

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Facility is a syslog facility code (RFC 5424 §6.2.1).
type Facility int

// Facilities hardend may log under; daemon is the default.
const (
	FacilityKern     Facility = 0
	FacilityUser     Facility = 1
	FacilityDaemon   Facility = 3
	FacilityAuth     Facility = 4
	FacilitySyslog   Facility = 5
	FacilityAuthpriv Facility = 10
	FacilityLocal0   Facility = 16
)

var facilityNames = map[string]Facility{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
	"news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// FacilityNames lists the accepted facility names, for error messages and policy
// validation.
func FacilityNames() []string {
	return []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
		"authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}
}

// ParseFacility accepts the usual lowercase names ("daemon", "local3", ...); ""
// means daemon.
func ParseFacility(name string) (Facility, error) {
	if name == "" {
		return FacilityDaemon, nil
	}
	f, ok := facilityNames[strings.ToLower(name)]
	if !ok {
		return 0, fmt.Errorf("unknown syslog facility %q (want one of %s)", name, strings.Join(FacilityNames(), ", "))
	}
	return f, nil
}

// Severity is a syslog severity (RFC 5424 §6.2.1), 0 = emergency to 7 = debug.
type Severity int

// Syslog severities.
const (
	SevEmergency Severity = iota
	SevAlert
	SevCritical
	SevError
	SevWarning
	SevNotice
	SevInfo
	SevDebug
)

// Param is one SD-PARAM: a name and its (unescaped) value.
type Param struct{ Name, Value string }

// Element is one SD-ELEMENT: an SD-ID and its parameters.
type Element struct {
	ID     string
	Params []Param
}

// Message is one syslog message before encoding. Empty header fields encode as
// the NILVALUE "-"; a zero Time too.
type Message struct {
	Facility Facility
	Severity Severity
	Time     time.Time
	Hostname string
	AppName  string
	ProcID   string
	MsgID    string
	Data     []Element
	Msg      string
}

// Field limits of RFC 5424 §6.
const (
	maxHostname = 255
	maxAppName  = 48
	maxProcID   = 128
	maxMsgID    = 32
	maxSDName   = 32
)

// bom is the UTF-8 byte order mark RFC 5424 §6.4 requires before a UTF-8 MSG.
const bom = "\xef\xbb\xbf"

// AppendRFC5424 appends the RFC 5424 encoding of m to b, without any transport
// framing. When max > 0 and the line would be longer, MSG is cut (at a character
// boundary) so that it fits; header and structured data are never cut.
//
// MSG: an all-ASCII message is sent as MSG-ANY, without a BOM; a message with any
// other character is sent as MSG-UTF8, BOM first, as §6.4 requires of UTF-8.
// Both are valid RFC 5424, and the overwhelmingly common ASCII case stays free of
// the three BOM bytes that show up as garbage in grep, Loki or Elastic when a
// collector passes MSG through unchanged.
//
// Control characters (C0, DEL, C1) in MSG and in PARAM-VALUEs become spaces, and
// invalid UTF-8 becomes U+FFFD: one record is one line on every transport, so a
// container-supplied string cannot forge a second log line.
func (m *Message) AppendRFC5424(b []byte, max int) []byte {
	start := len(b)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(m.pri()), 10)
	b = append(b, ">1 "...)
	if m.Time.IsZero() {
		b = append(b, '-')
	} else {
		b = m.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	}
	b = append(b, ' ')
	b = appendHeaderField(b, m.Hostname, maxHostname)
	b = append(b, ' ')
	b = appendHeaderField(b, m.AppName, maxAppName)
	b = append(b, ' ')
	b = appendHeaderField(b, m.ProcID, maxProcID)
	b = append(b, ' ')
	b = appendHeaderField(b, m.MsgID, maxMsgID)
	b = append(b, ' ')
	b = AppendStructuredData(b, m.Data)
	msg := cleanText(m.Msg)
	ascii := isASCII(msg)
	if max > 0 {
		room := max - (len(b) - start) - 1
		if !ascii {
			room -= len(bom)
		}
		msg = truncateUTF8(msg, room)
		ascii = isASCII(msg)
	}
	if msg == "" {
		return b
	}
	b = append(b, ' ')
	if !ascii {
		b = append(b, bom...)
	}
	return append(b, msg...)
}

// AppendRFC3164 appends the traditional BSD syslog encoding of m,
// "<PRI>Mmm dd hh:mm:ss [HOST ]TAG[PID]: MSG", with the structured data (if any)
// in RFC 5424 form at the head of MSG so the finding's fields survive. The local
// syslog socket takes this form: journald's /dev/log and rsyslog's imuxsock parse
// it, not RFC 5424. withHost is false on the local socket, where the daemon adds
// the hostname itself.
func (m *Message) AppendRFC3164(b []byte, max int, withHost bool) []byte {
	start := len(b)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(m.pri()), 10)
	b = append(b, '>')
	t := m.Time
	if t.IsZero() {
		t = time.Now()
	}
	b = t.AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	if withHost {
		b = appendHeaderField(b, m.Hostname, maxHostname)
		b = append(b, ' ')
	}
	// RFC 3164 §4.1.3: the TAG is at most 32 alphanumeric characters.
	tag := sanitizeTag(m.AppName)
	b = append(b, tag...)
	if m.ProcID != "" {
		b = append(b, '[')
		b = appendHeaderField(b, m.ProcID, maxProcID)
		b = append(b, ']')
	}
	b = append(b, ':')
	if len(m.Data) > 0 {
		b = append(b, ' ')
		b = AppendStructuredData(b, m.Data)
	}
	msg := cleanText(m.Msg)
	if msg != "" {
		b = append(b, ' ')
		if max > 0 {
			msg = truncateUTF8(msg, max-(len(b)-start))
		}
		b = append(b, msg...)
	}
	return b
}

func (m *Message) pri() int {
	f, s := m.Facility, m.Severity
	if f < 0 || f > 23 {
		f = FacilityUser
	}
	if s < 0 || s > 7 {
		s = SevNotice
	}
	return int(f)*8 + int(s)
}

// AppendStructuredData appends STRUCTURED-DATA: the NILVALUE when there is no
// element, else each element as [SD-ID PARAM="VALUE" ...] with names made legal
// (SanitizeName) and values escaped (EscapeParamValue).
func AppendStructuredData(b []byte, data []Element) []byte {
	if len(data) == 0 {
		return append(b, '-')
	}
	for _, e := range data {
		b = append(b, '[')
		b = append(b, SanitizeName(e.ID)...)
		for _, p := range e.Params {
			b = append(b, ' ')
			b = append(b, SanitizeName(p.Name)...)
			b = append(b, '=', '"')
			b = appendEscapedValue(b, p.Value)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	return b
}

// SanitizeName makes s a legal SD-NAME (RFC 5424 §6.3.3): 1 to 32 printable
// US-ASCII characters other than '=', ' ', ']' and '"'. Every other byte becomes
// '_'; an empty name becomes "_".
func SanitizeName(s string) string {
	if s == "" {
		return "_"
	}
	if len(s) > maxSDName {
		s = s[:maxSDName]
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !sdNameByte(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	out := []byte(s)
	for i, c := range out {
		if !sdNameByte(c) {
			out[i] = '_'
		}
	}
	return string(out)
}

func sdNameByte(c byte) bool {
	return c >= 33 && c <= 126 && c != '=' && c != ']' && c != '"'
}

// EscapeParamValue returns s as a PARAM-VALUE (RFC 5424 §6.3.3): valid UTF-8,
// control characters as spaces, and '"', '\' and ']' escaped with a backslash.
func EscapeParamValue(s string) string {
	return string(appendEscapedValue(nil, s))
}

func appendEscapedValue(b []byte, s string) []byte {
	s = cleanText(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', ']':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendHeaderField appends a header field: PRINTUSASCII only (others become
// '_'), at most max bytes, and the NILVALUE for an empty field.
func appendHeaderField(b []byte, s string, max int) []byte {
	if s == "" {
		return append(b, '-')
	}
	if len(s) > max {
		s = s[:max]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

func sanitizeTag(s string) string {
	if s == "" {
		return "hardend"
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < 32; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "hardend"
	}
	return string(out)
}

// cleanText returns s as valid UTF-8 with every control character (C0, DEL, C1)
// replaced by a space.
func cleanText(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			sb.WriteRune(utf8.RuneError)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			sb.WriteByte(' ')
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// truncateUTF8 cuts valid UTF-8 s to at most n bytes without splitting a
// character.
func truncateUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
