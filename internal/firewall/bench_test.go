package firewall

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
)

// docker28Dump is a rule set shaped like Docker 28.5's with n containers on
// docker0, each publishing one port (-p 10000+i:80), with raw drops against
// direct routing and a hardend-style DOCKER-USER rule in front.
func docker28Dump(n int) (v4 []byte, in Input) {
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{172, 17, byte(1 + i/250), byte(2 + i%250)}) }
	var b strings.Builder
	b.WriteString("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for i := range n {
		fmt.Fprintf(&b, "-A PREROUTING -d %s/32 ! -i docker0 -j DROP\n", addr(i))
	}
	b.WriteString("COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		":DOCKER - [0:0]\n:DOCKER-BRIDGE - [0:0]\n:DOCKER-CT - [0:0]\n:DOCKER-FORWARD - [0:0]\n:DOCKER-ISOLATION-STAGE-1 - [0:0]\n:DOCKER-ISOLATION-STAGE-2 - [0:0]\n:DOCKER-USER - [0:0]\n" +
		"-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-FORWARD\n")
	for i := range n {
		fmt.Fprintf(&b, "-A DOCKER -d %s/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n", addr(i))
	}
	b.WriteString("-A DOCKER ! -i docker0 -o docker0 -j DROP\n-A DOCKER-BRIDGE -o docker0 -j DOCKER\n" +
		"-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n" +
		"-A DOCKER-FORWARD -j DOCKER-CT\n-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1\n-A DOCKER-FORWARD -j DOCKER-BRIDGE\n-A DOCKER-FORWARD -i docker0 -j ACCEPT\n" +
		"-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2\n-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP\n" +
		"-A DOCKER-USER -i eth0 -p tcp -m conntrack --ctstate NEW --ctorigdstport 10007 -j DROP\n" +
		"COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n" +
		"-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n-A DOCKER -i docker0 -j RETURN\n")
	for i := range n {
		fmt.Fprintf(&b, "-A DOCKER ! -i docker0 -p tcp -m tcp --dport %d -j DNAT --to-destination %s:80\n", 10000+i, addr(i))
	}
	b.WriteString("COMMIT\n")

	in = Input{
		Docker: Docker{Version: "28.5.2", IPTables: true, UserlandProxy: true,
			Networks: []Network{{ID: "nb", Name: "bridge", Bridge: "docker0", Subnets: []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")}}}},
		Interfaces: []Interface{
			{Name: "lo", Up: true, Loopback: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{Name: "eth0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("203.0.113.10/24"), netip.MustParsePrefix("2001:db8::10/64")}},
			{Name: "docker0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("172.17.0.1/16")}},
		},
		Policy: policy.Default().Firewall,
	}
	for i := range n {
		in.Workloads = append(in.Workloads, Workload{ID: fmt.Sprintf("%064x", i+1), Name: fmt.Sprintf("c%d", i), NetworkMode: "bridge",
			Ports: []Port{
				{HostIP: netip.IPv4Unspecified(), HostPort: uint16(10000 + i), ContainerPort: 80, Proto: "tcp"},
				{HostIP: netip.IPv6Unspecified(), HostPort: uint16(10000 + i), ContainerPort: 80, Proto: "tcp"},
			},
			Endpoints: []Endpoint{{Network: "bridge", NetworkID: "nb", IPv4: addr(i)}}})
	}
	return []byte(b.String()), in
}

func TestDocker28Shape(t *testing.T) {
	v4, in := docker28Dump(20)
	in.Rules.V4 = mustParse(t, string(v4), iptsave.IPv4)
	in.Rules.V6 = mustParse(t, "", iptsave.IPv6)
	x := Evaluate(in)
	if len(x.Ports) != 40 {
		t.Fatalf("%d results, want 40", len(x.Ports))
	}
	for _, pe := range x.Ports {
		want := VerdictPublic
		if pe.Family == iptsave.IPv4 && pe.Port.HostPort == 10007 {
			want = VerdictBlocked
		}
		if pe.Verdict != want {
			t.Errorf("%s %s: %s, want %s", pe.Workload.Name, pe.Family, pe.Verdict, want)
		}
		for _, p := range pe.Paths {
			if p.Path == PathContainerAddr && p.Verdict != VerdictBlocked {
				t.Errorf("%s direct: %s, want blocked by the raw drop", pe.Workload.Name, p.Verdict)
			}
		}
	}
}

// BenchmarkParseEvaluate500 is one scan's analysis for 500 published ports:
// parse both dumps, evaluate every path, run the HD-NET checks.
func BenchmarkParseEvaluate500(b *testing.B) {
	v4, in := docker28Dump(500)
	b.ReportAllocs()
	for b.Loop() {
		rs, err := iptsave.Parse(v4, iptsave.IPv4)
		if err != nil {
			b.Fatal(err)
		}
		in.Rules = Rules{V4: rs, V6: &iptsave.Ruleset{Family: iptsave.IPv6, Tables: map[string]*iptsave.Table{}}}
		res, _ := Audit(AuditInput{Input: in, Backend: &BackendDecision{Docker: "nft", OK: true}})
		if len(res) < 3000 {
			b.Fatalf("%d results", len(res))
		}
	}
}

// BenchmarkEvaluate500 is the evaluation alone (rules already parsed).
func BenchmarkEvaluate500(b *testing.B) {
	v4, in := docker28Dump(500)
	rs, err := iptsave.Parse(v4, iptsave.IPv4)
	if err != nil {
		b.Fatal(err)
	}
	in.Rules = Rules{V4: rs, V6: &iptsave.Ruleset{Family: iptsave.IPv6, Tables: map[string]*iptsave.Table{}}}
	b.ReportAllocs()
	for b.Loop() {
		if x := Evaluate(in); len(x.Ports) != 1000 {
			b.Fatalf("%d ports", len(x.Ports))
		}
	}
}

// FuzzEvaluate feeds arbitrary dumps to the evaluator: it must not panic, hang
// or answer differently twice, and every verdict is one of the documented ones.
func FuzzEvaluate(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.iptables.txt"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(dump("-A DOCKER-USER -j EXTRA\n-A EXTRA -s 10.0.0.0/8 -g EXTRA2\n-A EXTRA2 -m set --match-set x src -j RETURN\n-A EXTRA2 -j DROP", "-A PREROUTING -j CT --notrack", "-A FORWARD -j MARK --set-mark 1")))
	valid := map[Verdict]bool{VerdictPublic: true, VerdictRestricted: true, VerdictUnknown: true, VerdictBlocked: true, VerdictClosed: true, VerdictLoopbackOnly: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := iptsave.Parse(data, iptsave.IPv4)
		if err != nil {
			return
		}
		in := evalInput(t, dump("", "", ""))
		in.Rules.V4 = rs
		in.Workloads[0].Ports = append(in.Workloads[0].Ports, Port{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8081, ContainerPort: 80, Proto: "tcp"})
		a, b := Evaluate(in), Evaluate(in)
		if len(a.Ports) != len(b.Ports) {
			t.Fatalf("%d then %d results", len(a.Ports), len(b.Ports))
		}
		for i := range a.Ports {
			if a.Ports[i].Verdict != b.Ports[i].Verdict || !valid[a.Ports[i].Verdict] {
				t.Fatalf("port %d: %s then %s", i, a.Ports[i].Verdict, b.Ports[i].Verdict)
			}
		}
		_ = PortResults(a)
		_ = Net003Results(in)
	})
}
