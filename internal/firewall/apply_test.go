package firewall

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
)

// Tier 1: the diff, the shadow analysis and HD-NET-005 on parsed dumps.

// cmpNetip compares netip values by value.
var cmpNetip = cmp.Options{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

func readDump(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../../shared/fixtures/iptables", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit is a change to a dump's filter table.
type edit struct {
	decl  []string // chain declarations to add
	top   map[string][]string
	rules []string // rules to append
}

// withFilter returns dump with the edit applied to its filter table (created
// when missing).
func withFilter(dump string, e edit) string {
	if !strings.Contains(dump, "*filter") {
		dump = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n" + dump
	}
	lines := strings.Split(dump, "\n")
	var out []string
	inFilter, declared := false, false
	topDone := map[string]bool{}
	for _, l := range lines {
		switch {
		case l == "*filter":
			inFilter = true
		case inFilter && !declared && strings.HasPrefix(l, "-A "):
			out = append(out, e.decl...)
			declared = true
		case inFilter && l == "COMMIT":
			if !declared {
				out = append(out, e.decl...)
				declared = true
			}
			for chain, rules := range e.top {
				if !topDone[chain] {
					out = append(out, rules...)
				}
			}
			out = append(out, e.rules...)
			inFilter = false
		}
		if inFilter && strings.HasPrefix(l, "-A ") {
			chain := strings.Fields(l)[1]
			if rules, ok := e.top[chain]; ok && !topDone[chain] {
				out = append(out, rules...)
				topDone[chain] = true
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// applied is the dump as the kernel holds it after Apply of fp (jump first).
func applied(dump string, fp *FamilyPlan) string {
	if fp == nil {
		return dump
	}
	e := edit{top: map[string][]string{}}
	for _, c := range fp.Chains {
		e.decl = append(e.decl, ":"+c.Name+" - [0:0]")
		e.top[c.Hooks[0]] = append(e.top[c.Hooks[0]], jumpRule(c.Hooks[0], c.Name))
		e.rules = append(e.rules, c.Rules...)
	}
	return withFilter(dump, e)
}

func parseRules(t *testing.T, v4, v6 string) *Rules {
	t.Helper()
	r4, err := iptsave.Parse([]byte(v4), iptsave.IPv4)
	if err != nil {
		t.Fatalf("%v\n%s", err, v4)
	}
	r6, err := iptsave.Parse([]byte(v6), iptsave.IPv6)
	if err != nil {
		t.Fatalf("%v\n%s", err, v6)
	}
	return &Rules{V4: r4, V6: r6, Backend: "nft"}
}

func TestDiff(t *testing.T) {
	base4, base6 := readDump(t, "d20.10-default.iptables.txt"), readDump(t, "d20.10-default.ip6tables.txt")
	p := mustPlan(t, PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: docker2010})
	in4, in6 := applied(base4, p.V4), applied(base6, p.V6)
	fwd := p.V4.Chain(ChainForward)
	jump := jumpRule("DOCKER-USER", ChainForward)

	t.Run("fresh host: the whole plan, every block's conntrack", func(t *testing.T) {
		ch, err := Diff(p, parseRules(t, base4, base6))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p.V4.RestoreText(), ch.V4); diff != "" {
			t.Errorf("IPv4 batch (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(p.V6.RestoreText(), ch.V6); diff != "" {
			t.Errorf("IPv6 batch (-want +got):\n%s", diff)
		}
		// 4 ports + 2 bridges' subnets.
		if len(ch.Deletions) != 6 {
			t.Errorf("deletions:\n%s", ch.Render())
		}
	})
	t.Run("in sync: nothing", func(t *testing.T) {
		ch, err := Diff(p, parseRules(t, in4, in6))
		if err != nil {
			t.Fatal(err)
		}
		if !ch.Empty() || len(ch.Deletions) != 0 {
			t.Errorf("changes:\n%s", ch.Render())
		}
	})
	t.Run("DOCKER-USER flushed: only the jump, and conntrack of everything", func(t *testing.T) {
		flushed := strings.ReplaceAll(in4, jump+"\n", "")
		flushed = strings.ReplaceAll(flushed, "-A DOCKER-USER -j RETURN\n", "")
		ch, err := Diff(p, parseRules(t, flushed, in6))
		if err != nil {
			t.Fatal(err)
		}
		if want := "*filter\n" + insertJump("DOCKER-USER", ChainForward) + "\nCOMMIT\n"; ch.V4 != want || ch.V6 != "" {
			t.Errorf("batches:\n%s", ch.Render())
		}
		if len(ch.Deletions) != 4 { // 2 IPv4 ports + 2 subnets
			t.Errorf("deletions:\n%s", ch.Render())
		}
	})
	t.Run("one rule gone: refill, conntrack of that port only", func(t *testing.T) {
		var lost string
		for _, r := range fwd.Rules {
			if strings.Contains(r, "--ctorigdstport 5432 ") {
				lost = r
			}
		}
		ch, err := Diff(p, parseRules(t, strings.Replace(in4, lost+"\n", "", 1), in6))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ch.V4, "*filter\n:"+ChainForward+" - [0:0]\n") || strings.Contains(ch.V4, "-I DOCKER-USER") {
			t.Errorf("batch:\n%s", ch.V4)
		}
		want := []Deletion{{Family: iptsave.IPv4, Path: PathForward, Proto: "tcp", Port: 5432}}
		if diff := cmp.Diff(want, ch.Deletions, cmpNetip); diff != "" {
			t.Errorf("deletions (-want +got):\n%s", diff)
		}
	})
	t.Run("duplicate and foreign-shaped jumps: deleted, canonical kept", func(t *testing.T) {
		dup := withFilter(in4, edit{rules: []string{jump, "-A FORWARD -i eth0 -j " + ChainForward}})
		ch, err := Diff(p, parseRules(t, dup, in6))
		if err != nil {
			t.Fatal(err)
		}
		// In dump order: FORWARD's chain comes first.
		want := "*filter\n-D FORWARD -i eth0 -j " + ChainForward + "\n-D DOCKER-USER " + strings.TrimPrefix(jump, "-A DOCKER-USER ") + "\nCOMMIT\n"
		if diff := cmp.Diff(want, ch.V4); diff != "" {
			t.Errorf("batch (-want +got):\n%s", diff)
		}
	})
	t.Run("stale chain: jumps, then flush, then delete", func(t *testing.T) {
		stale := withFilter(in4, edit{decl: []string{":HARDEND-OLD - [0:0]"},
			top:   map[string][]string{"FORWARD": {"-A FORWARD -j HARDEND-OLD"}},
			rules: []string{"-A HARDEND-OLD -j DROP"}})
		ch, err := Diff(p, parseRules(t, stale, in6))
		if err != nil {
			t.Fatal(err)
		}
		want := "*filter\n-D FORWARD -j HARDEND-OLD\n-F HARDEND-OLD\n-X HARDEND-OLD\nCOMMIT\n"
		if diff := cmp.Diff(want, ch.V4); diff != "" {
			t.Errorf("batch (-want +got):\n%s", diff)
		}
	})
	t.Run("no DOCKER-USER: refuse", func(t *testing.T) {
		_, err := Diff(p, parseRules(t, "", ""))
		if !errors.Is(err, ErrNoDockerUser) {
			t.Errorf("err = %v, want ErrNoDockerUser", err)
		}
	})
	t.Run("foreign ACCEPT above the jump: no change, a shadow", func(t *testing.T) {
		shadowed := strings.Replace(in4, jump, "-A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT\n"+jump, 1)
		cur := parseRules(t, shadowed, in6)
		ch, err := Diff(p, cur)
		if err != nil || !ch.Empty() {
			t.Fatalf("changes %v:\n%s", err, ch.Render())
		}
		d := Inspect(p, cur)
		if len(d.Shadows) != 1 || d.Shadows[0].Rule != "-A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT" {
			t.Errorf("shadows = %+v", d.Shadows)
		}
	})
}

func TestDiffIPv6HookMoves(t *testing.T) {
	// Docker 20.10 with --ip6tables has no ip6tables DOCKER-USER: the jump goes
	// into FORWARD. When a newer Docker creates DOCKER-USER, it moves there.
	d := docker2010
	d.IPv6, d.IP6Tables = true, true
	p := mustPlan(t, PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: d})
	base4, base6 := readDump(t, "d20.10-ipv6.iptables.txt"), readDump(t, "d20.10-ipv6.ip6tables.txt")
	cur := parseRules(t, applied(base4, p.V4), base6)
	ch, err := Diff(p, cur)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ch.V6, "-I FORWARD 1 -m comment --comment \"hardend jump\" -j "+ChainForward) {
		t.Fatalf("IPv6 batch without a FORWARD jump:\n%s", ch.V6)
	}
	// Applied into FORWARD; then DOCKER-USER appears.
	e := edit{decl: []string{":" + ChainForward + " - [0:0]", ":" + ChainInput + " - [0:0]", ":DOCKER-USER - [0:0]"},
		top: map[string][]string{"FORWARD": {jumpRule("FORWARD", ChainForward)}, "INPUT": {jumpRule("INPUT", ChainInput)}}}
	e.rules = append(append(e.rules, p.V6.Chain(ChainForward).Rules...), p.V6.Chain(ChainInput).Rules...)
	e.rules = append(e.rules, "-A FORWARD -j DOCKER-USER")
	with := withFilter(base6, e)
	ch, err = Diff(p, parseRules(t, applied(base4, p.V4), with))
	if err != nil {
		t.Fatal(err)
	}
	want := "*filter\n-D FORWARD -m comment --comment \"hardend jump\" -j " + ChainForward + "\n" + insertJump("DOCKER-USER", ChainForward) + "\nCOMMIT\n"
	if diff := cmp.Diff(want, ch.V6); diff != "" {
		t.Errorf("IPv6 batch (-want +got):\n%s", diff)
	}
}

func TestShadowAnalysis(t *testing.T) {
	base4, base6 := readDump(t, "d20.10-default.iptables.txt"), readDump(t, "d20.10-default.ip6tables.txt")
	p := mustPlan(t, PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: docker2010})
	jump := jumpRule("DOCKER-USER", ChainForward)
	in6 := applied(base6, p.V6)
	tests := []struct {
		name    string
		above   []string
		decl    []string
		rules   []string
		shadows bool
	}{
		{name: "ACCEPT", above: []string{"-A DOCKER-USER -j ACCEPT"}, shadows: true},
		{name: "RETURN (ufw-docker style)", above: []string{"-A DOCKER-USER -s 10.0.0.0/8 -j RETURN"}, shadows: true},
		{name: "DROP", above: []string{"-A DOCKER-USER -s 198.51.100.0/24 -j DROP"}},
		{name: "REJECT", above: []string{"-A DOCKER-USER -p tcp -m tcp --dport 23 -j REJECT --reject-with icmp-port-unreachable"}},
		{name: "LOG", above: []string{`-A DOCKER-USER -j LOG --log-prefix "x "`}},
		{name: "established only", above: []string{"-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"}},
		{name: "not NEW", above: []string{"-A DOCKER-USER -m conntrack ! --ctstate NEW -j ACCEPT"}},
		{name: "from lo", above: []string{"-A DOCKER-USER -i lo -j ACCEPT"}},
		{name: "jump to a chain that accepts", above: []string{"-A DOCKER-USER -j F2B"}, decl: []string{":F2B - [0:0]"},
			rules: []string{"-A F2B -s 203.0.113.9/32 -j DROP", "-A F2B -s 203.0.113.10/32 -j ACCEPT"}, shadows: true},
		{name: "jump to a chain that only drops and returns", above: []string{"-A DOCKER-USER -j F2B"}, decl: []string{":F2B - [0:0]"},
			rules: []string{"-A F2B -s 203.0.113.9/32 -j DROP", "-A F2B -j RETURN"}},
		{name: "goto a chain that returns", above: []string{"-A DOCKER-USER -g F2B"}, decl: []string{":F2B - [0:0]"},
			rules: []string{"-A F2B -s 203.0.113.9/32 -j DROP"}, shadows: true},
		{name: "NFQUEUE", above: []string{"-A DOCKER-USER -j NFQUEUE --queue-num 0"}, shadows: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dump := applied(base4, p.V4)
			dump = strings.Replace(dump, jump, strings.Join(append(tt.above, jump), "\n"), 1)
			dump = withFilter(dump, edit{decl: tt.decl, rules: tt.rules})
			d := Inspect(p, parseRules(t, dump, in6))
			if got := len(d.Shadows) > 0; got != tt.shadows {
				t.Errorf("shadowed = %v (%+v), want %v", got, d.Shadows, tt.shadows)
			}
			if d.Drifted() {
				t.Errorf("foreign rules are not drift: %+v", d.Problems)
			}
		})
	}
	t.Run("FORWARD lacks the DOCKER-USER jump: inert", func(t *testing.T) {
		dump := strings.Replace(applied(base4, p.V4), "-A FORWARD -j DOCKER-USER\n", "", 1)
		d := Inspect(p, parseRules(t, dump, in6))
		if len(d.Inert) != 1 {
			t.Errorf("inert = %q", d.Inert)
		}
	})
	t.Run("ACCEPT above DOCKER-USER in FORWARD", func(t *testing.T) {
		dump := strings.Replace(applied(base4, p.V4), "-A FORWARD -j DOCKER-USER\n", "-A FORWARD -i eth0 -j ACCEPT\n-A FORWARD -j DOCKER-USER\n", 1)
		d := Inspect(p, parseRules(t, dump, in6))
		if len(d.Shadows) != 1 || d.Shadows[0].Over != "DOCKER-USER" {
			t.Errorf("shadows = %+v", d.Shadows)
		}
	})
}

func TestNet005Results(t *testing.T) {
	base4, base6 := readDump(t, "d20.10-default.iptables.txt"), readDump(t, "d20.10-default.ip6tables.txt")
	p := mustPlan(t, PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: docker2010})
	synced := parseRules(t, applied(base4, p.V4), applied(base6, p.V6))
	bare := parseRules(t, base4, base6)
	nft := docker2010
	nft.FirewallBackend = "nftables"
	pNft := mustPlan(t, PlanInput{Workloads: baseWorkloads, Firewall: internalDBs, Docker: nft})
	tests := []struct {
		name   string
		in     Net005Input
		status []check.Status
		subj   []check.Subject
	}{
		{"report mode, no rules of hardend's", Net005Input{Plan: p, Rules: bare}, []check.Status{check.Skip}, []check.Subject{subjRules}},
		{"enforce, in sync", Net005Input{Plan: p, Rules: synced, Enforce: true}, []check.Status{check.Pass}, []check.Subject{subjRules}},
		{"report mode, leftover rules checked", Net005Input{Plan: p, Rules: synced}, []check.Status{check.Pass}, []check.Subject{subjRules}},
		{"enforce, missing", Net005Input{Plan: p, Rules: bare, Enforce: true}, []check.Status{check.Fail}, []check.Subject{subjRules}},
		{"rules unreadable", Net005Input{ReadErr: errors.New("iptables-save: exit 1"), Enforce: true}, []check.Status{check.Error}, []check.Subject{subjRules}},
		{"no plan", Net005Input{PlanErr: errors.New("bad policy"), Rules: bare, Enforce: true}, []check.Status{check.Error}, []check.Subject{subjRules}},
		{"nftables backend", Net005Input{Plan: pNft, Rules: bare, Enforce: true}, []check.Status{check.Fail}, []check.Subject{subjRules}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Net005Results(tt.in)
			var st []check.Status
			var sj []check.Subject
			for _, r := range res {
				st, sj = append(st, r.Status), append(sj, r.Subject)
				if r.ID != "HD-NET-005" || r.Evidence == "" {
					t.Errorf("result %+v", r)
				}
			}
			if diff := cmp.Diff(tt.status, st); diff != "" {
				t.Errorf("statuses (-want +got):\n%s\n%+v", diff, res)
			}
			if diff := cmp.Diff(tt.subj, sj); diff != "" {
				t.Errorf("subjects (-want +got):\n%s", diff)
			}
		})
	}
}

// Hostile strings a container (or whoever runs it) controls: its name, labels
// and image. None may reach a rule; only a validated 12-hex short ID may.
var hostile = []string{
	`web" -j ACCEPT #`, "a\nb", "-j ACCEPT", "$(reboot)", "`id`", "x\x00y", "ünïcødé-☃",
	strings.Repeat("L", 300), `\"; iptables -F`, "' OR 1=1", "!",
}

func TestPlanNeverPutsContainerStringsIntoRules(t *testing.T) {
	var ws []Workload
	for i, h := range hostile {
		id := strings.Repeat(string("0123456789abcdef"[i%16]), 64)
		ws = append(ws, Workload{ID: id, Name: h, Image: h, Labels: map[string]string{h: h, "tier": "db"},
			NetworkMode: "bridge", Ports: published("", uint16(5000+i), 5432, "tcp")})
	}
	// Container IDs that are not Docker's: rejected, never quoted into a rule.
	for i, id := range []string{`abc" -j ACCEPT`, "ABCDEFABCDEF0000", "0123456789a\n", "short", strings.Repeat("é", 12)} {
		ws = append(ws, Workload{ID: id, Name: "x", Labels: map[string]string{"tier": "db"}, NetworkMode: "bridge",
			Ports: published("", uint16(6000+i), 5432, "tcp")})
	}
	nets := append([]Network{}, networks...)
	nets = append(nets, Network{ID: "x", Bridge: `br0" -j ACCEPT`}, Network{ID: "y", Bridge: "-j"}, Network{ID: "z", Bridge: strings.Repeat("b", 20)})
	fw := policy.Firewall{Default: "deny", Public: []policy.PortRule{{Selector: policy.Selector{Label: "tier=db"}, Ports: []string{"5432/tcp"}}}}
	for _, def := range []string{"allow", "deny"} {
		fw.Default = def
		if def == "allow" {
			fw.Public, fw.Internal = nil, []policy.PortRule{{Selector: policy.Selector{Label: "tier=db"}, Ports: []string{"5432/tcp"}}}
		}
		d := docker2010
		d.Networks, d.IPv6 = nets, true
		p := mustPlan(t, PlanInput{Workloads: ws, Interfaces: hostIfaces, Firewall: fw, Docker: d})
		assertSafeRules(t, p)
		// Every binding: IPv4 forward, IPv6 forward and IPv6 input.
		if def == "allow" && len(p.Blocks) != 3*len(ws) {
			t.Errorf("blocks: %d, want every binding blocked (fail closed)", len(p.Blocks))
		}
	}
	// A policy interface name that is not one is an error, not a rule.
	for _, name := range []string{`eth0 -j ACCEPT`, "-i", "a/b", "", strings.Repeat("e", 16), "eth0\n"} {
		_, err := NewPlan(PlanInput{Firewall: policy.Firewall{Interfaces: policy.Interfaces{Names: []string{name}}}})
		if err == nil {
			t.Errorf("interface %q accepted", name)
		}
	}
}

var (
	safeRuleRe    = regexp.MustCompile(`^-A HARDEND-(FORWARD|INPUT)( [-!A-Za-z0-9_.:/+@]+| "hardend [a-z-]+( [0-9a-f]{12})?")+$`)
	safeCommentRe = regexp.MustCompile(`--comment "hardend (fastpath|internal-if|direct-routing|loopback|default-deny|(block|allow)( [0-9a-f]{12})?)" -j`)
)

func assertSafeRules(t *testing.T, p *Plan) {
	t.Helper()
	for _, fp := range []*FamilyPlan{p.V4, p.V6} {
		if fp == nil {
			continue
		}
		for _, c := range fp.Chains {
			for _, r := range c.Rules {
				if !safeRuleRe.MatchString(r) || !safeCommentRe.MatchString(r) {
					t.Errorf("rule outside the safe grammar: %q", r)
				}
				for _, h := range hostile {
					if len(h) > 2 && strings.Contains(r, h) {
						t.Errorf("rule carries a container string %q: %q", h, r)
					}
				}
			}
		}
	}
}

// FuzzPlanRules: whatever a container's name, labels, image and ID and a
// network's bridge name are, every rule stays inside the safe grammar.
func FuzzPlanRules(f *testing.F) {
	f.Add("web", "tier", "db", idWeb, "br-0123456789ab", uint16(5432), "tcp")
	f.Add(`x" -j ACCEPT`, "$(id)", "\n", `a" --comment "`, "br0 -j ACCEPT", uint16(0), "udp")
	f.Fuzz(func(t *testing.T, name, lk, lv, id, bridge string, port uint16, proto string) {
		w := Workload{ID: id, Name: name, Image: name, Labels: map[string]string{lk: lv}, NetworkMode: "bridge",
			Ports: published("", port, port, proto)}
		w.Ports = append(w.Ports, Port{HostIP: addr("192.0.2.1"), HostPort: port, ContainerPort: 1, Proto: proto})
		d := docker2010
		d.IPv6 = true
		d.Networks = []Network{{ID: id, Bridge: bridge, Subnets: networks[0].Subnets}}
		for _, def := range []string{"allow", "deny"} {
			fw := policy.Firewall{Default: def,
				Public:   []policy.PortRule{{Selector: policy.Selector{Container: name}, Ports: []string{"1/tcp"}}},
				Internal: []policy.PortRule{{Selector: policy.Selector{Container: "*"}, Ports: []string{"5432/tcp", "1/udp"}}}}
			p, err := NewPlan(PlanInput{Workloads: []Workload{w}, Interfaces: hostIfaces, Firewall: fw, Docker: d})
			if err != nil {
				t.Fatal(err)
			}
			assertSafeRules(t, p)
		}
	})
}
