package syslogtest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    Message
		wantErr bool
	}{
		{
			name: "finding",
			line: `<28>1 2026-01-02T03:04:05.000006Z vps1 hardend 42 finding [hardend@32473 id="HD-NET-001" container="db \"x\" \\ \]"] ` + bom + "port open",
			want: Message{Pri: 28, Timestamp: "2026-01-02T03:04:05.000006Z", Hostname: "vps1", AppName: "hardend", ProcID: "42", MsgID: "finding",
				BOM: true, Msg: "port open",
				SD: []Element{{ID: "hardend@32473", Params: []Param{{"id", "HD-NET-001"}, {"container", `db "x" \ ]`}}}}},
		},
		{name: "nil sd, no msg", line: "<14>1 - - - - - -", want: Message{Pri: 14, Timestamp: "-", Hostname: "-", AppName: "-", ProcID: "-", MsgID: "-"}},
		{name: "bad pri", line: "<192>1 - - - - - -", wantErr: true},
		{name: "unescaped bracket", line: `<14>1 - - - - - [a b="]"]`, wantErr: true},
		{name: "unterminated", line: `<14>1 - - - - - [a b="x]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse: %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			if v, ok := got.Param("hardend@32473", "id"); tt.name == "finding" && (!ok || v != "HD-NET-001") {
				t.Errorf("Param: %q %v", v, ok)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`<28>1 2026-01-02T03:04:05Z h a 1 m [x@1 a="b\"c"] ` + bom + "msg")
	f.Add("<14>1 - - - - - -")
	f.Fuzz(func(t *testing.T, line string) {
		m, err := Parse(line)
		if err == nil && (m.Pri < 0 || m.Pri > 191) {
			t.Fatalf("accepted PRI %d", m.Pri)
		}
	})
}
