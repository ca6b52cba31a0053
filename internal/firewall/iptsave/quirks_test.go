package iptsave

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The bad inputs of FAULTS.md (c) that a dump can carry, each either parsed into
// the right model or refused with a clear error.
func TestParseBadInputs(t *testing.T) {
	chain28 := strings.Repeat("C", 28)
	tests := []struct {
		name    string
		dump    string
		wantErr error  // errors.Is target, or nil
		errText string // substring of the error, "" for success
		check   func(t *testing.T, rs *Ruleset)
	}{
		{
			name:    "nft translation failure captured with stderr",
			dump:    "*filter\n:INPUT ACCEPT [0:0]\niptables-save v1.8.9 (nf_tables): Parsing nftables rule failed\nCOMMIT\n",
			wantErr: ErrIncomplete,
		},
		{
			name:    "tool error before any table",
			dump:    "ip6tables-save v1.8.7 (nf_tables): table `nat' is incompatible, use 'nft' tool.\n",
			wantErr: ErrIncomplete,
		},
		{
			name: "incompatible table comment",
			dump: "# Table `nat' is incompatible, use 'nft' tool.\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
			check: func(t *testing.T, rs *Ruleset) {
				if got := rs.Incompatible(); !cmp.Equal(got, []string{"nat"}) {
					t.Errorf("Incompatible() = %q, want [nat]", got)
				}
				if rs.Table("nat") != nil {
					t.Error("an incompatible table must not appear as an (empty) table")
				}
			},
		},
		{
			name: "incompatible chain comment names its table",
			dump: "*filter\n:INPUT ACCEPT [0:0]\n# Chain `INPUT' in table `filter' is incompatible, use 'nft' tool.\nCOMMIT\n",
			check: func(t *testing.T, rs *Ruleset) {
				if got := rs.Incompatible(); !cmp.Equal(got, []string{"filter"}) {
					t.Errorf("Incompatible() = %q, want [filter]", got)
				}
			},
		},
		{
			name: "legacy tables present",
			dump: "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n",
			check: func(t *testing.T, rs *Ruleset) {
				if !rs.LegacyTablesPresent() {
					t.Error("LegacyTablesPresent() = false")
				}
			},
		},
		{
			name: "unsupported revision of a match and of a target",
			dump: "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack [unsupported revision] -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j FOO [unsupported revision]\nCOMMIT\n",
			check: func(t *testing.T, rs *Ruleset) {
				r := rs.Chain("filter", "INPUT").Rules
				if m, ok := r[0].Module("conntrack"); !ok || !m.Unsupported || len(m.Opts) != 0 || r[0].Target != "ACCEPT" {
					t.Errorf("rule 1: %+v", r[0])
				}
				if !r[1].TargetUnsupported || r[1].Target != "FOO" {
					t.Errorf("rule 2: %+v", r[1])
				}
			},
		},
		{
			name: "28-character chain name",
			dump: fmt.Sprintf("*filter\n:FORWARD ACCEPT [0:0]\n:%s - [0:0]\n-A FORWARD -j %s\n-A %s -j RETURN\nCOMMIT\n", chain28, chain28, chain28),
			check: func(t *testing.T, rs *Ruleset) {
				if c := rs.Chain("filter", chain28); c == nil || len(c.Rules) != 1 {
					t.Errorf("chain %s: %+v", chain28, c)
				}
			},
		},
		{
			name:    "29-character chain name",
			dump:    "*filter\n:" + chain28 + "X - [0:0]\nCOMMIT\n",
			errText: "longer than 28",
		},
		{
			name: "CRLF, counters, quoted comment with escaped quotes, negated interface, set, port range",
			dump: "*filter\r\n:FORWARD DROP [10:600]\r\n:DOCKER-USER - [0:0]\r\n" +
				"[1:60] -A DOCKER-USER ! -i eth0 -m set --match-set allow src -p tcp -m multiport --dports 8000:8100,9000 -m comment --comment \"say \\\"hi\\\" -j ACCEPT\" -j RETURN\r\n" +
				"COMMIT\r\n",
			check: func(t *testing.T, rs *Ruleset) {
				c := rs.Chain("filter", "FORWARD")
				if c.Policy != "DROP" {
					t.Errorf("FORWARD policy %q", c.Policy)
				}
				r := rs.Chain("filter", "DOCKER-USER").Rules[0]
				if r.In != (Cond{Set: true, Negated: true, Value: "eth0"}) {
					t.Errorf("-i: %+v", r.In)
				}
				if got := r.Comment(); got != `say "hi" -j ACCEPT` {
					t.Errorf("comment %q", got)
				}
				if r.Target != "RETURN" {
					t.Errorf("target %q: the -j inside the comment must not count", r.Target)
				}
				if o, _, ok := r.Opt("match-set"); !ok || !cmp.Equal(o.Values, []string{"allow", "src"}) {
					t.Errorf("match-set %+v", o)
				}
				pr, neg, ok := r.DestinationPorts()
				if !ok || neg || !cmp.Equal(pr, []PortRange{{8000, 8100}, {9000, 9000}}) {
					t.Errorf("DestinationPorts() = %v %v %v", pr, neg, ok)
				}
				if strings.Contains(r.Text, "\r") {
					t.Errorf("text keeps a CR: %q", r.Text)
				}
			},
		},
		{
			name:    "truncated in the middle of a rule",
			dump:    "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"cut here",
			errText: "unterminated quote",
		},
		{
			name:    "truncated between tables",
			dump:    "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DOCKER",
			wantErr: ErrTruncated,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse([]byte(tt.dump), IPv4)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want one containing %q", err, tt.errText)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			tt.check(t, rs)
		})
	}
}

func TestToDestination(t *testing.T) {
	tests := []struct {
		in   string
		want DNATDest
		ok   bool
	}{
		{"172.17.0.2:80", DNATDest{Addr: netip.MustParseAddr("172.17.0.2"), Ports: PortRange{80, 80}}, true},
		{"[fd00:db8:1::242:ac11:2]:80", DNATDest{Addr: netip.MustParseAddr("fd00:db8:1::242:ac11:2"), Ports: PortRange{80, 80}}, true},
		{"172.17.0.2", DNATDest{Addr: netip.MustParseAddr("172.17.0.2")}, true},
		{"fd00::2", DNATDest{Addr: netip.MustParseAddr("fd00::2")}, true},
		{"172.17.0.2-172.17.0.4:80-81", DNATDest{Addr: netip.MustParseAddr("172.17.0.2"), Ports: PortRange{80, 81}, Range: true}, true},
		{":8080", DNATDest{Ports: PortRange{8080, 8080}}, true},
		{"nonsense:80", DNATDest{}, false},
		{"[fd00::2", DNATDest{}, false},
		{"1.2.3.4:99999", DNATDest{}, false},
		{"", DNATDest{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseDNATDest(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseDNATDest(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	r, err := parseRule("-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := r.ToDestination(); !ok || d.Addr != netip.MustParseAddr("172.17.0.2") || d.Ports.Lo != 80 {
		t.Errorf("ToDestination() = %+v, %v", d, ok)
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"172.17.0.2/32", "172.17.0.2/32", true},
		{"10.0.0.0/8", "10.0.0.0/8", true},
		{"10.1.2.3/8", "10.0.0.0/8", true},
		{"fd00::/64", "fd00::/64", true},
		{"192.0.2.1", "192.0.2.1/32", true},
		{"10.0.0.0/255.255.0.0", "10.0.0.0/16", true},
		{"10.0.0.0/255.0.255.0", "", false},
		{"10.0.0.0/33", "", false},
		{"host.example", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseAddr(tt.in)
		if ok != tt.ok || (ok && got.String() != tt.want) {
			t.Errorf("ParseAddr(%q) = %v, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// A dump of n lines shaped like Docker's (one DNAT and one ACCEPT per published
// port), for benchmarks and size tests.
func dockerLikeDump(ports int) []byte {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n:DOCKER-USER - [0:0]\n")
	b.WriteString("-A FORWARD -j DOCKER-USER\n-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -o docker0 -j DOCKER\n")
	for i := 0; i < ports; i++ {
		fmt.Fprintf(&b, "-A DOCKER -d 172.17.%d.%d/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n", 1+i/250, 2+i%250)
	}
	b.WriteString("-A DOCKER-USER -j RETURN\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n")
	for i := 0; i < ports; i++ {
		fmt.Fprintf(&b, "-A DOCKER ! -i docker0 -p tcp -m tcp --dport %d -j DNAT --to-destination 172.17.%d.%d:80\n", 10000+i, 1+i/250, 2+i%250)
	}
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}

func TestParseLarge(t *testing.T) {
	dump := dockerLikeDump(50000) // 100k rules
	rs, err := Parse(dump, IPv4)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rs.Chain("filter", "DOCKER").Rules) + len(rs.Chain("nat", "DOCKER").Rules); n != 100000 {
		t.Fatalf("%d rules, want 100000", n)
	}
}

func BenchmarkParse100kLines(b *testing.B) {
	dump := dockerLikeDump(50000)
	b.SetBytes(int64(len(dump)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(dump, IPv4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse500Ports(b *testing.B) {
	dump := dockerLikeDump(500)
	b.SetBytes(int64(len(dump)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(dump, IPv4); err != nil {
			b.Fatal(err)
		}
	}
}
