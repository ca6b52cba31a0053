package containers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStatus(t *testing.T) {
	rec := loadRecorded(t)
	yes, no, filter, off := true, false, 2, 0
	tests := []struct {
		name    string
		data    string
		want    ProcStatus
		wantErr bool
	}{
		{name: "recorded root", data: string(rec.Status["default"]), want: ProcStatus{Name: "sleep",
			CapEff: dockerDefaultCaps, CapBnd: dockerDefaultCaps, NoNewPrivs: &no, Seccomp: &filter}},
		{name: "recorded hardened", data: string(rec.Status["hardened"]), want: ProcStatus{Name: "httpd",
			UID: [4]uint32{1000, 1000, 1000, 1000}, GID: [4]uint32{1000, 1000, 1000, 1000},
			CapBnd: capSetOf("NET_BIND_SERVICE"), NoNewPrivs: &yes, Seccomp: &filter}},
		{name: "recorded privileged", data: string(rec.Status["privileged"]), want: ProcStatus{Name: "sleep",
			UID: [4]uint32{1000, 1000, 1000, 1000}, GID: [4]uint32{1000, 1000, 1000, 1000},
			// Docker 20.10 knows capabilities up to AUDIT_READ (37); the test
			// runtime strips SYS_RESOURCE (TESTING.md).
			CapBnd: allCaps(37) &^ capSetOf("SYS_RESOURCE"), NoNewPrivs: &yes, Seccomp: &off}},
		{name: "old kernel without NoNewPrivs and Seccomp", data: "Name:\tx\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t0000000000000001\nCapBnd:\t0000000000000001\n",
			want: ProcStatus{Name: "x", CapEff: 1, CapBnd: 1}},
		{name: "missing Uid", data: "Gid:\t0\t0\t0\t0\nCapEff:\t0\nCapBnd:\t0\n", wantErr: true},
		{name: "missing CapBnd", data: "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t0\n", wantErr: true},
		{name: "short Uid", data: "Uid:\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t0\nCapBnd:\t0\n", wantErr: true},
		{name: "bad cap hex", data: "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\tzz\nCapBnd:\t0\n", wantErr: true},
		{name: "empty", data: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStatus() error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseStatus() (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, n := range []string{"default", "hardened", "privileged"} {
		b, _ := os.ReadFile(filepath.Join("testdata", "inspect", n+".status"))
		f.Add(b)
	}
	f.Add([]byte("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t0\nCapBnd:\t0\nNoNewPrivs:\t1\nSeccomp:\t2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseStatus(data)
		if err == nil && !bytes.Contains(data, []byte("CapBnd:")) {
			t.Fatalf("parsed a status without CapBnd: %+v", st)
		}
	})
}

func TestParseUIDMap(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		want      []IDMapRange
		identity  bool
		hostUID   uint32
		inside    uint32
		insideOK  bool
		wantError bool
	}{
		{name: "host", data: "         0          0 4294967295\n", want: []IDMapRange{{0, 0, 4294967295}}, identity: true, hostUID: 0, inside: 0, insideOK: true},
		{name: "userns-remap", data: "         0     100000      65536\n", want: []IDMapRange{{0, 100000, 65536}}, hostUID: 100000, inside: 0, insideOK: true},
		{name: "remapped non-root", data: "0 100000 65536\n", want: []IDMapRange{{0, 100000, 65536}}, hostUID: 101000, inside: 1000, insideOK: true},
		{name: "unmapped", data: "0 100000 65536\n", want: []IDMapRange{{0, 100000, 65536}}, hostUID: 0, insideOK: false},
		{name: "two ranges", data: "0 1000 1\n1 100000 65536\n", want: []IDMapRange{{0, 1000, 1}, {1, 100000, 65536}}, hostUID: 100004, inside: 5, insideOK: true},
		{name: "garbage", data: "0 x 1\n", wantError: true},
		{name: "two fields", data: "0 1\n", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUIDMap([]byte(tt.data))
			if (err != nil) != tt.wantError {
				t.Fatalf("error = %v", err)
			}
			if tt.wantError {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if identityMap(got) != tt.identity {
				t.Errorf("identityMap = %v", !tt.identity)
			}
			in, ok := insideID(got, tt.hostUID)
			if ok != tt.insideOK || (ok && in != tt.inside) {
				t.Errorf("insideID(%d) = %d, %v; want %d, %v", tt.hostUID, in, ok, tt.inside, tt.insideOK)
			}
		})
	}
}

func FuzzParseUIDMap(f *testing.F) {
	f.Add([]byte("0 0 4294967295\n"))
	f.Add([]byte("0 100000 65536\n1 2 3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseUIDMap(data)
		if err != nil {
			return
		}
		for _, r := range m {
			insideID(m, r.Outside) // must not panic, even with overflowing ranges
		}
	})
}

func TestParseDockerdArgs(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want map[string][]string
		args []string
	}{
		{"debian unit", []string{"/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"},
			map[string][]string{"host": {"fd://"}, "containerd": {"/run/containerd/containerd.sock"}}, nil},
		{"forms of -H", []string{"dockerd", "-H", "unix:///a.sock", "-Htcp://0.0.0.0:2375", "-H=tcp://127.0.0.1:2376", "--host", "unix:///b.sock", "--host=fd://"},
			map[string][]string{"host": {"unix:///a.sock", "tcp://0.0.0.0:2375", "tcp://127.0.0.1:2376", "unix:///b.sock", "fd://"}}, nil},
		{"booleans", []string{"dockerd", "--iptables=false", "--icc=false", "--live-restore", "--tlsverify", "--userland-proxy=0", "-D"},
			map[string][]string{"iptables": {"false"}, "icc": {"false"}, "live-restore": {"true"}, "tlsverify": {"true"}, "userland-proxy": {"0"}, "debug": {"true"}}, nil},
		{"boolean followed by a flag", []string{"dockerd", "--no-new-privileges", "--ip", "127.0.0.1"},
			map[string][]string{"no-new-privileges": {"true"}, "ip": {"127.0.0.1"}}, nil},
		{"boolean with a separate value is positional", []string{"dockerd", "--iptables", "false"},
			map[string][]string{"iptables": {"true"}}, []string{"false"}},
		{"combined shorthands", []string{"dockerd", "-DH", "tcp://:2375"},
			map[string][]string{"debug": {"true"}, "host": {"tcp://:2375"}}, nil},
		{"config file", []string{"dockerd", "--config-file", "/etc/docker/custom.json", "-G", "docker"},
			map[string][]string{"config-file": {"/etc/docker/custom.json"}, "group": {"docker"}}, nil},
		{"double dash", []string{"dockerd", "--", "-H", "x"}, map[string][]string{}, []string{"-H", "x"}},
		{"value missing at the end", []string{"dockerd", "--ip"}, map[string][]string{"ip": {""}}, nil},
		{"empty", nil, map[string][]string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseDockerdArgs(tt.argv)
			if diff := cmp.Diff(tt.want, got.Values); diff != "" {
				t.Errorf("Values (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.args, got.Args); diff != "" {
				t.Errorf("Args (-want +got):\n%s", diff)
			}
		})
	}
	f := parseDockerdArgs([]string{"dockerd", "--iptables=false", "--icc=maybe"})
	if v, ok := f.Bool("iptables"); !ok || v {
		t.Errorf("Bool(iptables) = %v, %v", v, ok)
	}
	if _, ok := f.Bool("icc"); ok {
		t.Error("Bool(icc=maybe) parsed")
	}
}

func FuzzParseDockerdArgs(f *testing.F) {
	f.Add([]byte("dockerd\x00-H\x00fd://\x00--containerd=/run/containerd/containerd.sock\x00"))
	f.Add([]byte("dockerd\x00-DHtcp://:2375\x00--iptables=false\x00--\x00x"))
	f.Add([]byte("dockerd\x00-H=\x00-\x00--\x00--=\x00"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fl := parseDockerdArgs(parseCmdline(raw))
		for _, name := range fl.Order {
			if _, ok := fl.Values[name]; !ok {
				t.Fatalf("Order names %q without a value", name)
			}
		}
		for _, h := range fl.Values["host"] {
			unixPath(h)
			hostAddrPort(h)
		}
	})
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"dockerd\x00-H\x00fd://\x00", []string{"dockerd", "-H", "fd://"}},
		{"dockerd", []string{"dockerd"}},
		{"a\x00\x00b\x00", []string{"a", "", "b"}},
		{"", nil},
		{"\x00", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, parseCmdline([]byte(tt.in))); diff != "" {
			t.Errorf("parseCmdline(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseDaemonJSON(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		keys      []string
		problems  []string // "kind key line:col"
		syntaxErr string   // "line:col"
		encoding  string
	}{
		{name: "typical", data: "{\n  \"ip\": \"127.0.0.1\",\n  \"icc\": false,\n  \"log-opts\": {\"max-size\": \"10m\"}\n}\n",
			keys: []string{"icc", "ip", "log-opts"}},
		{name: "empty file", data: "", keys: nil},
		{name: "whitespace only", data: " \n\t\n", keys: nil},
		{name: "empty object", data: "{}", keys: nil},
		{name: "iptables as a string", data: "{\n  \"iptables\": \"false\"\n}",
			keys: []string{"iptables"}, problems: []string{"wrong type iptables 2:3"}},
		{name: "hosts not a list", data: `{"hosts": "tcp://0.0.0.0:2375"}`,
			keys: []string{"hosts"}, problems: []string{"wrong type hosts 1:2"}},
		{name: "duplicate keys", data: "{\n  \"iptables\": true,\n  \"iptables\": false\n}",
			keys: []string{"iptables"}, problems: []string{"duplicate key iptables 3:3"}},
		{name: "duplicate nested key", data: "{\"log-opts\": {\"max-size\": \"1m\", \"max-size\": \"2m\"}}",
			keys: []string{"log-opts"}, problems: []string{"duplicate key log-opts.max-size 1:33"}},
		{name: "unknown directive", data: "{\n  \"userland_proxy\": false\n}",
			keys: []string{"userland_proxy"}, problems: []string{"unknown directive userland_proxy 2:3"}},
		{name: "nested object flattened", data: `{"proxies": {"http-proxy": "http://p:3128", "htp-proxy": "x"}}`,
			keys: []string{"proxies"}, problems: []string{"unknown directive proxies.htp-proxy 1:2"}},
		{name: "flat object not flattened", data: `{"log-opts": {"anything": "goes"}}`, keys: []string{"log-opts"}},
		{name: "UTF-8 BOM", data: "\xEF\xBB\xBF{\"icc\": false}", keys: []string{"icc"},
			problems: []string{"byte order mark  1:1"}, encoding: "utf-8 with BOM"},
		{name: "UTF-16LE BOM", data: utf16le("{\"icc\": false}"), keys: []string{"icc"},
			problems: []string{"byte order mark  1:1"}, encoding: "utf-16le with BOM"},
		{name: "trailing comma", data: "{\n  \"icc\": false,\n}\n", syntaxErr: "3:1"},
		{name: "missing comma", data: "{\n  \"a\": 1\n  \"b\": 2\n}", syntaxErr: "3:3"},
		{name: "truncated", data: "{\n  \"ip\": \"127.0.0.1\"", syntaxErr: "2:20"},
		{name: "not an object", data: "[\"ip\"]", syntaxErr: "1:1"},
		{name: "trailing garbage", data: "{}\n}", syntaxErr: "2:1"},
		{name: "invalid UTF-8", data: "{\"ip\": \"\xff\"}", syntaxErr: "1:9"},
		{name: "odd UTF-16", data: "\xFF\xFE{\x00}", syntaxErr: "1:1"},
		{name: "comment", data: "{\n  // no comments in JSON\n}", syntaxErr: "2:3"},
		{name: "unicode column", data: "{\"labels\": [\"é\"], x}", syntaxErr: "1:19"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseDaemonJSON([]byte(tt.data))
			if tt.syntaxErr != "" {
				var se *ConfigSyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("error = %v, want a syntax error at %s", err, tt.syntaxErr)
				}
				if got := itoa2(se.Line, se.Col); got != tt.syntaxErr {
					t.Errorf("syntax error at %s (%s), want %s", got, se.Msg, tt.syntaxErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range cfg.Keys {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if diff := cmp.Diff(tt.keys, keys); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			var probs []string
			for _, p := range cfg.Problems {
				probs = append(probs, p.Kind+" "+p.Key+" "+itoa2(p.Line, p.Col))
			}
			if diff := cmp.Diff(tt.problems, probs); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%v", diff, cfg.Problems)
			}
			if tt.encoding != "" && cfg.Encoding != tt.encoding {
				t.Errorf("encoding %q, want %q", cfg.Encoding, tt.encoding)
			}
		})
	}
}

func TestDaemonConfigAccessors(t *testing.T) {
	cfg, err := parseDaemonJSON([]byte(`{"icc": false, "ip": "127.0.0.1", "hosts": ["unix:///x", "tcp://:2375"], "iptables": "no", "labels": [1]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, set, ok := cfg.Bool("icc"); v || !set || !ok {
		t.Errorf("Bool(icc) = %v %v %v", v, set, ok)
	}
	if _, set, ok := cfg.Bool("iptables"); !set || ok {
		t.Errorf("Bool(iptables as a string): set %v ok %v", set, ok)
	}
	if _, set, _ := cfg.Bool("live-restore"); set {
		t.Error("Bool(live-restore) set")
	}
	if v, _, ok := cfg.String("ip"); v != "127.0.0.1" || !ok {
		t.Errorf("String(ip) = %q", v)
	}
	if v, _, ok := cfg.Strings("hosts"); !ok || len(v) != 2 {
		t.Errorf("Strings(hosts) = %v", v)
	}
	if _, set, ok := cfg.Strings("labels"); !set || ok {
		t.Error("Strings(labels) with a number accepted")
	}
	var nilCfg *DaemonConfig
	if _, set, ok := nilCfg.Bool("icc"); set || !ok {
		t.Error("nil config")
	}
}

func FuzzParseDaemonJSON(f *testing.F) {
	for _, s := range []string{
		"{\n  \"ip\": \"127.0.0.1\",\n  \"icc\": false,\n  \"log-opts\": {\"max-size\": \"10m\"}\n}\n",
		"{\"iptables\": \"false\", \"iptables\": true}",
		"\xEF\xBB\xBF{\"hosts\": [\"tcp://0.0.0.0:2375\"]}",
		"{\"proxies\": {\"http-proxy\": \"x\"}, \"default-ulimits\": {\"nofile\": {\"Name\": \"nofile\", \"Hard\": 1, \"Soft\": 1}}}",
		"{\n  \"icc\": false,\n}",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte(utf16le(`{"live-restore": true}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseDaemonJSON(data)
		var se *ConfigSyntaxError
		switch {
		case err != nil && !errors.As(err, &se):
			t.Fatalf("non-syntax error %v", err)
		case err != nil:
			if se.Line < 1 || se.Col < 1 {
				t.Fatalf("bad position %d:%d", se.Line, se.Col)
			}
			return
		}
		// Whatever parses as an object here must be valid JSON for dockerd too
		// (after its BOM handling).
		text, _, _ := decodeBOM(data)
		if len(bytes.TrimSpace(text)) > 0 {
			var m map[string]any
			if err := json.Unmarshal(text, &m); err != nil {
				t.Fatalf("accepted %q, which encoding/json rejects: %v", data, err)
			}
			if len(m) != len(cfg.Keys) {
				t.Fatalf("%d keys, encoding/json sees %d", len(cfg.Keys), len(m))
			}
		}
	})
}

func utf16le(s string) string {
	var b strings.Builder
	b.WriteString("\xFF\xFE")
	for _, r := range s {
		b.WriteByte(byte(r))
		b.WriteByte(byte(r >> 8))
	}
	return b.String()
}

func itoa2(a, b int) string { return fmt.Sprintf("%d:%d", a, b) }
