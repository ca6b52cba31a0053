package firewall

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
)

// A Docker 20.10 style rule set for one container (web, 172.17.0.2, -p 8080:80),
// with %s where the test's DOCKER-USER rules go, %s for extra raw rules and %s
// for extra mangle rules.
const evalBase = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
%[2]s
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
%[3]s
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
:EXTRA - [0:0]
:EXTRA2 - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
%[1]s
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.2:80
COMMIT
`

var (
	hostAddr = netip.MustParseAddr("203.0.113.10")
	webAddr  = netip.MustParseAddr("172.17.0.2")
)

func evalInput(t testing.TB, dump string) Input {
	t.Helper()
	rs, err := iptsave.Parse([]byte(dump), iptsave.IPv4)
	if err != nil {
		t.Fatalf("%v\n%s", err, dump)
	}
	v6, _ := iptsave.Parse(nil, iptsave.IPv6)
	return Input{
		Rules: Rules{V4: rs, V6: v6},
		Docker: Docker{Version: "20.10.24", IPTables: true, UserlandProxy: true,
			Networks: []Network{{ID: "nb", Name: "bridge", Bridge: "docker0", Subnets: []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")}}}},
		Interfaces: []Interface{
			{Name: "lo", Up: true, Loopback: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{Name: "eth0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("203.0.113.10/24")}},
			{Name: "docker0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("172.17.0.1/16")}},
		},
		Workloads: []Workload{{ID: strings.Repeat("ab", 32), Name: "web", NetworkMode: "bridge",
			Ports:     []Port{{HostIP: netip.IPv4Unspecified(), HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
			Endpoints: []Endpoint{{Network: "bridge", NetworkID: "nb", IPv4: webAddr}}}},
		Policy: policy.Firewall{Mode: "report", Default: "allow"},
	}
}

func dump(user, raw, mangle string) string { return fmt.Sprintf(evalBase, user, raw, mangle) }

// TestEvaluatorSemantics: one packet (a NEW TCP connection from outside on eth0
// to the host's 8080) through rule sets that each exercise one piece of
// iptables semantics.
func TestEvaluatorSemantics(t *testing.T) {
	tests := []struct {
		name        string
		user        string // DOCKER-USER (and EXTRA chains) rules
		raw, mangle string
		dst         netip.AddrPort // default: the host's 8080
		tweak       func(in *Input)
		want        Verdict
		reason      string // substring of Reason (or Via for reachable verdicts)
	}{
		{name: "Docker's own rules: public through DNAT", want: VerdictPublic, reason: "DNAT to 172.17.0.2:80"},
		{name: "--dport on the host port never matches after DNAT (FAULTS 11)",
			user: "-A DOCKER-USER -p tcp -m tcp --dport 8080 -j DROP", want: VerdictPublic},
		{name: "--ctorigdstport matches the original port",
			user: "-A DOCKER-USER -i eth0 -p tcp -m conntrack --ctstate NEW --ctorigdstport 8080 -j DROP", want: VerdictBlocked, reason: "DOCKER-USER line"},
		{name: "--ctorigdst of another address does not match",
			user: "-A DOCKER-USER -m conntrack --ctorigdst 198.51.100.1/32 --ctorigdstport 8080 -j DROP", want: VerdictPublic},
		{name: "negated interface",
			user: "-A DOCKER-USER ! -i eth0 -j DROP", want: VerdictPublic},
		{name: "interface wildcard",
			user: "-A DOCKER-USER -i eth+ -o docker0 -j DROP", want: VerdictBlocked},
		{name: "allowlist by source: restricted",
			user: "-A DOCKER-USER ! -s 10.0.0.0/8 -j DROP", want: VerdictRestricted, reason: "source in 10.0.0.0/8"},
		{name: "blocklist by source: still public",
			user: "-A DOCKER-USER -s 192.0.2.66/32 -j DROP", want: VerdictPublic},
		{name: "accept one source then drop the rest: restricted",
			user: "-A DOCKER-USER -s 198.51.100.0/24 -j RETURN\n-A DOCKER-USER -j DROP", want: VerdictRestricted, reason: "198.51.100.0/24"},
		{name: "nested source ranges stay consistent",
			user: "-A DOCKER-USER -s 10.0.0.0/8 -j EXTRA\n-A DOCKER-USER -j DROP\n-A EXTRA -s 192.168.0.0/16 -j RETURN\n-A EXTRA -j DROP",
			want: VerdictBlocked},
		{name: "ipset allowlist of sources: restricted by the set",
			user: "-A DOCKER-USER -m set ! --match-set admins src -j DROP", want: VerdictRestricted, reason: "ipset admins"},
		{name: "ipset of destinations, unknown members: unknown",
			user: "-A DOCKER-USER -m set --match-set secret dst -j DROP", want: VerdictUnknown, reason: "ipset secret"},
		{name: "unmodelled match before an ACCEPT: unknown, named",
			user: "-A DOCKER-USER -m time --timestart 09:00 -j ACCEPT\n-A DOCKER-USER -j DROP", want: VerdictUnknown, reason: "-m time"},
		{name: "a limit the sender stays under: public",
			user: "-A DOCKER-USER -m limit --limit 1/sec -j RETURN\n-A DOCKER-USER -j DROP", want: VerdictPublic},
		{name: "source port is the sender's choice",
			user: "-A DOCKER-USER -p tcp -m tcp --sport 53 -j RETURN\n-A DOCKER-USER -j DROP", want: VerdictPublic},
		{name: "goto returns to the caller of the calling chain",
			user: "-A DOCKER-USER -g EXTRA\n-A DOCKER-USER -j DROP\n-A EXTRA -j RETURN", want: VerdictPublic},
		{name: "jump returns to the next rule",
			user: "-A DOCKER-USER -j EXTRA\n-A DOCKER-USER -j DROP\n-A EXTRA -j RETURN", want: VerdictBlocked},
		{name: "REJECT is blocked",
			user: "-A DOCKER-USER -j REJECT --reject-with icmp-port-unreachable", want: VerdictBlocked, reason: "rejected"},
		{name: "NFQUEUE: userspace decides",
			user: "-A DOCKER-USER -j NFQUEUE --queue-num 1", want: VerdictUnknown, reason: "NFQUEUE"},
		{name: "LOG does not decide",
			user: "-A DOCKER-USER -j LOG --log-prefix \"x \"", want: VerdictPublic},
		{name: "ctstate NEW without DNAT does not match DNAT'd traffic negated",
			user: "-A DOCKER-USER -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP", want: VerdictPublic},
		{name: "multiport and port ranges on the container port",
			user: "-A DOCKER-USER -p tcp -m multiport --dports 22,70:90 -j DROP", want: VerdictBlocked},
		{name: "tcp --syn matches the first packet",
			user: "-A DOCKER-USER -p tcp -m tcp --syn -j DROP", want: VerdictBlocked},
		{name: "ESTABLISHED-only rule does not match",
			user: "-A DOCKER-USER -m state --state ESTABLISHED -j DROP", want: VerdictPublic},
		{name: "a mark set in mangle is seen in filter",
			mangle: "-A PREROUTING -i eth0 -j MARK --set-xmark 0x4/0xffffffff",
			user:   "-A DOCKER-USER -m mark --mark 0x4/0x4 -j DROP", want: VerdictBlocked},
		{name: "no mark by default",
			user: "-A DOCKER-USER -m mark --mark 0x4/0x4 -j DROP", want: VerdictPublic},
		{name: "raw drop before DNAT",
			raw: "-A PREROUTING -d 203.0.113.10/32 -p tcp -m tcp --dport 8080 -j DROP", want: VerdictBlocked, reason: "raw PREROUTING"},
		{name: "untracked: no DNAT, nothing listens on the host port",
			raw: "-A PREROUTING -i eth0 -j CT --notrack", tweak: func(in *Input) { in.Docker.UserlandProxy = false }, want: VerdictClosed},
		{name: "untracked, docker-proxy answers on the INPUT path",
			raw: "-A PREROUTING -i eth0 -j CT --notrack", want: VerdictPublic, reason: "docker-proxy"},
		{name: "a jump loop is unknown, not a hang",
			user: "-A DOCKER-USER -j EXTRA\n-A EXTRA -j EXTRA2\n-A EXTRA2 -j EXTRA", want: VerdictUnknown, reason: "deeper"},
		{name: "unsupported revision of a match",
			user: "-A DOCKER-USER -m conntrack [unsupported revision] -j DROP", want: VerdictUnknown, reason: "unsupported revision"},
		{name: "physdev on routed traffic never matches",
			user: "-A DOCKER-USER -m physdev --physdev-is-bridged -j DROP", want: VerdictPublic},
		{name: "addrtype of the original destination",
			raw: "-A PREROUTING -m addrtype --dst-type LOCAL --limit-iface-in -p tcp -m tcp --dport 8080 -j DROP", want: VerdictBlocked},
		{name: "iprange of sources: restricted",
			user: "-A DOCKER-USER -m iprange ! --src-range 10.0.0.1-10.0.0.9 -j DROP", want: VerdictRestricted, reason: "10.0.0.1-10.0.0.9"},
		{name: "rules not read: unknown",
			tweak: func(in *Input) { in.Rules.V4 = nil }, want: VerdictUnknown, reason: "not read"},
		{name: "Docker's nftables backend: unknown, said so",
			tweak: func(in *Input) { in.Docker.FirewallBackend = "nftables" }, want: VerdictUnknown, reason: "nftables"},
		{name: "incompatible filter table: unknown",
			tweak: func(in *Input) {
				in.Rules.V4.Warnings = append(in.Rules.V4.Warnings, "Table `filter' is incompatible, use 'nft' tool.")
			},
			want: VerdictUnknown, reason: "incompatible"},
		{name: "direct routing to the container, Docker 20.10 accepts it",
			dst: netip.AddrPortFrom(webAddr, 80), want: VerdictPublic, reason: "routed to 172.17.0.2:80"},
		{name: "direct routing, a non-DNAT drop",
			user: "-A DOCKER-USER -i eth0 -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP",
			dst:  netip.AddrPortFrom(webAddr, 80), want: VerdictBlocked},
		{name: "direct routing to an unpublished port: FORWARD policy",
			dst: netip.AddrPortFrom(webAddr, 22), want: VerdictBlocked, reason: "policy of filter FORWARD"},
		{name: "loopback from a neighbour: DNAT rewrites it before the martian check",
			dst: netip.MustParseAddrPort("127.0.0.1:8081"), want: VerdictPublic, reason: "DNAT to 172.17.0.2:80"},
		{name: "loopback from a neighbour, Docker 28's raw drop",
			raw: "-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 8081 -j DROP",
			dst: netip.MustParseAddrPort("127.0.0.1:8081"), want: VerdictBlocked},
		{name: "loopback without DNAT is a martian",
			dst: netip.MustParseAddrPort("127.0.0.1:9999"), want: VerdictBlocked, reason: "martian"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := evalInput(t, dump(tt.user, tt.raw, tt.mangle))
			if tt.tweak != nil {
				tt.tweak(&in)
			}
			x := Evaluate(in)
			dst := tt.dst
			if !dst.IsValid() {
				dst = netip.AddrPortFrom(hostAddr, 8080)
			}
			got := x.Probe("eth0", "tcp", dst)
			if got.Verdict != tt.want {
				t.Fatalf("verdict %s (%s%s), want %s\n%s", got.Verdict, got.Via, got.Reason, tt.want, steps(got.Evidence))
			}
			if !strings.Contains(got.Reason+got.Via, tt.reason) {
				t.Errorf("reason %q / via %q lacks %q", got.Reason, got.Via, tt.reason)
			}
		})
	}
}

// TestEvaluatorBranchLimit: a rule set that forks on every rule stops at
// maxBranches and says so, instead of exploding.
func TestEvaluatorBranchLimit(t *testing.T) {
	var user strings.Builder
	for i := range 16 {
		fmt.Fprintf(&user, "-A DOCKER-USER -m time --weekdays %d -j EXTRA\n", i)
	}
	user.WriteString("-A DOCKER-USER -j DROP\n-A EXTRA -j RETURN")
	x := Evaluate(evalInput(t, dump(user.String(), "", "")))
	got := x.Probe("eth0", "tcp", netip.AddrPortFrom(hostAddr, 8080))
	if got.Verdict != VerdictUnknown {
		t.Fatalf("verdict %s (%s), want unknown", got.Verdict, got.Reason)
	}
}

// TestEvaluateBindings covers the Docker API's odd bindings (FAULTS.md (c)).
func TestEvaluateBindings(t *testing.T) {
	t.Run("duplicate bindings count once", func(t *testing.T) {
		in := evalInput(t, dump("", "", ""))
		p := in.Workloads[0].Ports[0]
		in.Workloads[0].Ports = []Port{p, p, p}
		if n := len(Evaluate(in).Ports); n != 1 {
			t.Fatalf("%d results, want 1", n)
		}
	})
	t.Run("Docker's empty HostIp is both families, 0.0.0.0 and :: one each", func(t *testing.T) {
		in := evalInput(t, dump("", "", ""))
		in.Interfaces[1].Addrs = append(in.Interfaces[1].Addrs, netip.MustParsePrefix("2001:db8::10/64"))
		for _, c := range []struct {
			ip   netip.Addr
			fams []iptsave.Family
		}{
			{netip.Addr{}, []iptsave.Family{iptsave.IPv4, iptsave.IPv6}},
			{netip.IPv4Unspecified(), []iptsave.Family{iptsave.IPv4}},
			{netip.IPv6Unspecified(), []iptsave.Family{iptsave.IPv6}},
		} {
			in.Workloads[0].Ports = []Port{{HostIP: c.ip, HostPort: 8080, ContainerPort: 80, Proto: "tcp"}}
			var got []iptsave.Family
			for _, pe := range Evaluate(in).Ports {
				if len(pe.Paths) > 0 && pe.Paths[0].Path == PathHostAddr {
					got = append(got, pe.Family)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.fams) {
				t.Errorf("HostIP %v: host-path families %v, want %v", c.ip, got, c.fams)
			}
		}
	})
	t.Run("empty HostPort (routed mode): only the container address", func(t *testing.T) {
		in := evalInput(t, dump("", "", ""))
		in.Workloads[0].Ports = []Port{{HostPort: 0, ContainerPort: 80, Proto: "tcp"}}
		x := Evaluate(in)
		if len(x.Ports) != 1 || len(x.Ports[0].Paths) != 1 || x.Ports[0].Paths[0].Path != PathContainerAddr {
			t.Fatalf("got %+v", x.Ports)
		}
	})
	t.Run("a range of 10k ports evaluates quickly and completely", func(t *testing.T) {
		in := evalInput(t, dump("", "", ""))
		in.Workloads[0].Ports = nil
		for p := 20000; p < 30000; p++ {
			in.Workloads[0].Ports = append(in.Workloads[0].Ports, Port{HostIP: netip.IPv4Unspecified(), HostPort: uint16(p), ContainerPort: uint16(p), Proto: "tcp"})
		}
		x := Evaluate(in)
		if len(x.Ports) != 10000 {
			t.Fatalf("%d results, want 10000", len(x.Ports))
		}
		for _, pe := range x.Ports {
			// No DNAT for them: docker-proxy (derived) answers on the host.
			if pe.Verdict != VerdictPublic {
				t.Fatalf("%s: %s", pe.Port, pe.Verdict)
			}
		}
	})
}

func TestEvaluateEdges(t *testing.T) {
	t.Run("macvlan: public, the host never sees it", func(t *testing.T) {
		in := evalInput(t, dump("-A DOCKER-USER -j DROP", "", ""))
		in.Docker.Networks = append(in.Docker.Networks, Network{ID: "mv", Name: "lan", Driver: "macvlan"})
		in.Workloads[0].Endpoints = []Endpoint{{Network: "lan", NetworkID: "mv", IPv4: netip.MustParseAddr("198.51.100.7")}}
		in.Workloads[0].Ports = []Port{{HostPort: 0, ContainerPort: 80, Proto: "tcp"}}
		x := Evaluate(in)
		if len(x.Ports) != 1 || x.Ports[0].Verdict != VerdictPublic || !strings.Contains(x.Ports[0].Paths[0].Reason, "never sees") {
			t.Fatalf("%+v", x.Ports)
		}
	})
	t.Run("no external interface: unknown, not clean", func(t *testing.T) {
		in := evalInput(t, dump("", "", ""))
		in.Interfaces = in.Interfaces[:1] // lo only
		x := Evaluate(in)
		if len(x.Ports) == 0 || x.Ports[0].Verdict != VerdictUnknown {
			t.Fatalf("%+v", x.Ports)
		}
	})
	t.Run("the read error is the reason", func(t *testing.T) {
		in := evalInput(t, dump("", "", ""))
		in.Rules.V4 = nil
		in.ReadErr = map[iptsave.Family]error{iptsave.IPv4: iptsave.ErrTruncated}
		x := Evaluate(in)
		if r := x.Ports[0].Worst().Reason; !strings.Contains(r, "truncated") {
			t.Fatalf("reason %q", r)
		}
		if r := Net003Results(in)[0]; r.Status != "error" || !strings.Contains(r.Evidence, "truncated") {
			t.Fatalf("HD-NET-003 %s %q", r.Status, r.Evidence)
		}
	})
	t.Run("a source that goes to userspace is unknown, not blocked", func(t *testing.T) {
		in := evalInput(t, dump("-A DOCKER-USER -s 10.0.0.0/8 -j NFQUEUE --queue-num 3\n-A DOCKER-USER -j DROP", "", ""))
		got := Evaluate(in).Probe("eth0", "tcp", netip.AddrPortFrom(hostAddr, 8080))
		if got.Verdict != VerdictUnknown || !strings.Contains(got.Reason, "10.0.0.0/8") {
			t.Fatalf("%s %q", got.Verdict, got.Reason)
		}
	})
}

// TestEvaluatorStepLimit: chains that each jump ten times into the next (no
// loop, legal) would take 10^depth steps; the walk stops and says unknown.
func TestEvaluatorStepLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n")
	for i := range 12 {
		fmt.Fprintf(&b, ":C%d - [0:0]\n", i)
	}
	for range 10 {
		b.WriteString("-A INPUT -j C0\n")
	}
	for i := range 11 {
		for range 10 {
			fmt.Fprintf(&b, "-A C%d -j C%d\n", i, i+1)
		}
	}
	b.WriteString("COMMIT\n")
	in := evalInput(t, dump("", "", ""))
	in.Rules.V4 = mustParse(t, b.String(), iptsave.IPv4)
	got := Evaluate(in).Probe("eth0", "tcp", netip.AddrPortFrom(hostAddr, 8080))
	if got.Verdict != VerdictUnknown {
		t.Fatalf("%s %q", got.Verdict, got.Reason)
	}
}
