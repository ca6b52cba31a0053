package logship

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var when = time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)

func finding(params ...string) []Element {
	e := Element{ID: SDID}
	for i := 0; i+1 < len(params); i += 2 {
		e.Params = append(e.Params, Param{Name: params[i], Value: params[i+1]})
	}
	return []Element{e}
}

func TestAppendRFC5424(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		max  int
		want string
	}{
		{
			name: "finding",
			m: Message{Facility: FacilityDaemon, Severity: SevWarning, Time: when, Hostname: "vps1", AppName: "hardend",
				ProcID: "42", MsgID: "finding",
				Data: finding("id", "HD-NET-001", "severity", "high", "container", "db", "port", "8080/tcp", "status", "fail"),
				Msg:  "port 8080/tcp of db is reachable from outside"},
			want: `<28>1 2026-03-04T05:06:07.890123Z vps1 hardend 42 finding [hardend@32473 id="HD-NET-001" severity="high" container="db" port="8080/tcp" status="fail"] port 8080/tcp of db is reachable from outside`,
		},
		{
			name: "all nil",
			m:    Message{Facility: FacilityKern, Severity: SevEmergency},
			want: `<0>1 - - - - - -`,
		},
		{
			name: "escaping in values",
			m:    Message{Facility: FacilityLocal0, Severity: SevInfo, Data: finding("evidence", `a "quoted" \path\ [x]`)},
			want: `<134>1 - - - - - [hardend@32473 evidence="a \"quoted\" \\path\\ [x\]"]`,
		},
		{
			name: "illegal names",
			m:    Message{Severity: SevInfo, Data: []Element{{ID: "bad id]", Params: []Param{{Name: `a=b"c d`, Value: "v"}, {Name: "", Value: "e"}, {Name: strings.Repeat("n", 40), Value: "long"}}}}},
			want: `<6>1 - - - - - [bad_id_ a_b_c_d="v" _="e" ` + strings.Repeat("n", 32) + `="long"]`,
		},
		{
			name: "header fields sanitized and cut",
			m:    Message{Severity: SevInfo, Hostname: "host name\n", AppName: strings.Repeat("a", 60), ProcID: "é", MsgID: strings.Repeat("m", 40)},
			want: `<6>1 - host_name_ ` + strings.Repeat("a", 48) + ` __ ` + strings.Repeat("m", 32) + ` -`,
		},
		{
			name: "ascii message has no BOM",
			m:    Message{Severity: SevInfo, Msg: "plain"},
			want: `<6>1 - - - - - - plain`,
		},
		{
			name: "utf-8 message has a BOM",
			m:    Message{Severity: SevInfo, Msg: "conteneur « db »"},
			want: "<6>1 - - - - - - \xef\xbb\xbfconteneur « db »",
		},
		{
			name: "control characters and invalid utf-8",
			m:    Message{Severity: SevInfo, Data: finding("v", "a\nb\x00c\xffd"), Msg: "line1\nline2\r\x1b[31m\xc2\x85"},
			want: "<6>1 - - - - - [hardend@32473 v=\"a b c\uFFFDd\"] line1 line2  [31m ",
		},
		{
			name: "truncated at a character boundary",
			m:    Message{Severity: SevInfo, Msg: "ééééé"},
			max:  len("<6>1 - - - - - - ") + len(bom) + 5,
			want: "<6>1 - - - - - - \xef\xbb\xbféé",
		},
		{
			name: "truncated to nothing drops the BOM",
			m:    Message{Severity: SevInfo, Msg: "é"},
			max:  len("<6>1 - - - - - - ") + 2,
			want: "<6>1 - - - - - -",
		},
		{
			name: "out of range facility and severity",
			m:    Message{Facility: 99, Severity: 12},
			want: `<13>1 - - - - - -`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.m.AppendRFC5424(nil, tt.max))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AppendRFC5424 (-want +got):\n%s", diff)
			}
			if tt.max > 0 && len(got) > tt.max {
				t.Errorf("length %d > max %d", len(got), tt.max)
			}
			if _, err := parse5424(got); err != nil {
				t.Errorf("output does not parse as RFC 5424: %v\n%s", err, got)
			}
		})
	}
}

func TestAppendRFC3164(t *testing.T) {
	local := time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)
	m := Message{Facility: FacilityDaemon, Severity: SevWarning, Time: local, Hostname: "vps1", AppName: "hardend", ProcID: "42",
		Data: finding("id", "HD-CTR-002", "container", "web"), Msg: "privileged\ncontainer"}
	tests := []struct {
		name     string
		withHost bool
		want     string
	}{
		{"local socket", false, `<28>Mar  4 05:06:07 hardend[42]: [hardend@32473 id="HD-CTR-002" container="web"] privileged container`},
		{"network", true, `<28>Mar  4 05:06:07 vps1 hardend[42]: [hardend@32473 id="HD-CTR-002" container="web"] privileged container`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(m.AppendRFC3164(nil, 0, tt.withHost))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AppendRFC3164 (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFacility(t *testing.T) {
	for _, tt := range []struct {
		name string
		want Facility
		err  bool
	}{{"", FacilityDaemon, false}, {"daemon", 3, false}, {"LOCAL7", 23, false}, {"authpriv", 10, false}, {"local8", 0, true}, {"kernel", 0, true}} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFacility(tt.name)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseFacility(%q) = %v, %v; want %v, err=%v", tt.name, got, err, tt.want, tt.err)
			}
		})
	}
}

// FuzzRFC5424 formats arbitrary fields and reads the line back with a strict
// RFC 5424 parser: the line must parse, be valid UTF-8 without control
// characters, and carry every name and value intact (after the documented
// cleaning), whatever quotes, backslashes and brackets they hold.
func FuzzRFC5424(f *testing.F) {
	f.Add("vps1", "hardend", "42", "finding", "id", "HD-NET-001", "container", `we"ird\]name`, "port 8080 open", 0)
	f.Add("", "", "", "", "", "", "=", "]", "\xef\xbb\xbf", 10)
	f.Add("h\x00", "a b", "é", "\n", "n\"", "\\", "]]", "\\\"", "ü\x85\xff", 40)
	f.Fuzz(func(t *testing.T, host, app, procID, msgID, n1, v1, n2, v2, msg string, max int) {
		if max < 0 || max > 1<<16 {
			max = 0
		}
		m := Message{Facility: FacilityDaemon, Severity: SevNotice, Time: when, Hostname: host, AppName: app, ProcID: procID, MsgID: msgID,
			Data: []Element{{ID: SDID, Params: []Param{{Name: n1, Value: v1}, {Name: n2, Value: v2}}}}, Msg: msg}
		out := m.AppendRFC5424(nil, max)
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8: %q", out)
		}
		for _, c := range out {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("control byte %#x in %q", c, out)
			}
		}
		p, err := parse5424(string(out))
		if err != nil {
			t.Fatalf("does not parse: %v\n%q", err, out)
		}
		want := []Element{{ID: SDID, Params: []Param{{Name: SanitizeName(n1), Value: cleanText(v1)}, {Name: SanitizeName(n2), Value: cleanText(v2)}}}}
		if diff := cmp.Diff(want, p.SD); diff != "" {
			t.Fatalf("structured data (-want +got):\n%s\nline %q", diff, out)
		}
		wantMsg := cleanText(msg)
		if !strings.HasPrefix(wantMsg, p.Msg) || (max == 0 && p.Msg != wantMsg) {
			t.Fatalf("msg: got %q, want (a prefix of) %q", p.Msg, wantMsg)
		}
		if p.BOM != (p.Msg != "" && !isASCII(p.Msg)) {
			t.Fatalf("BOM %v for msg %q", p.BOM, p.Msg)
		}
	})
}
