package firewall

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
)

// mobyScenario describes what moby's generated doc ran for one scenario
// (integration/network/bridge/iptablesdoc/generated/<name>.md): the networks,
// the container and its -p flag. The rules come from the fixture; this is only
// the Docker-side facts the doc states in prose.
type mobyScenario struct {
	networks  []Network
	workloads []Workload
	proxy     bool
	swarm     bool
	note      string // what the reader of the golden must know about the dump
}

var (
	docker0 = Network{ID: "n-bridge", Name: "bridge", Driver: "bridge", Bridge: "docker0", Subnets: []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")}}
	bridge1 = func(mode string) Network {
		return Network{ID: "n-bridge1", Name: "bridge1", Driver: "bridge", Bridge: "bridge1",
			Subnets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, GatewayMode4: mode}
	}
	c1 = func(ports ...Port) Workload {
		return Workload{ID: "c1c1c1c1c1c1" + strings.Repeat("0", 52), Name: "c1", Image: "busybox", NetworkMode: "bridge1",
			Ports: ports, Endpoints: []Endpoint{{Network: "bridge1", NetworkID: "n-bridge1", IPv4: netip.MustParseAddr("192.0.2.2")}}}
	}
	p8080v4 = Port{HostIP: netip.IPv4Unspecified(), HostPort: 8080, ContainerPort: 80, Proto: "tcp"}
	p8080v6 = Port{HostIP: netip.IPv6Unspecified(), HostPort: 8080, ContainerPort: 80, Proto: "tcp"}
)

const noRawNote = "the doc lists no raw table for this scenario (only tables that differ from usernet-portmap); a real Docker 28+ host has its raw PREROUTING drop for the container address too, so the direct path shown public here is blocked there. The verdicts are those of the dump as given."

var mobyScenarios = map[string]mobyScenario{
	"new-daemon": {networks: []Network{docker0}, proxy: true},
	// docker run --network bridge1 -p 8080:80: with the userland proxy on,
	// Docker binds 0.0.0.0 and :: (docker-proxy serves the IPv6 side of an
	// IPv4-only container).
	"usernet-portmap":       {networks: []Network{docker0, bridge1("")}, workloads: []Workload{c1(p8080v4, p8080v6)}, proxy: true},
	"usernet-portmap-noicc": {networks: []Network{docker0, bridge1("")}, workloads: []Workload{c1(p8080v4, p8080v6)}, proxy: true, note: noRawNote},
	// --userland-proxy=false: nothing serves IPv6 for an IPv4-only container.
	"usernet-portmap-noproxy": {networks: []Network{docker0, bridge1("")}, workloads: []Workload{c1(p8080v4)}, proxy: false, note: noRawNote},
	// -p 127.0.0.1:8080:80
	"usernet-portmap-lo": {networks: []Network{docker0, bridge1("")}, workloads: []Workload{c1(Port{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 80, Proto: "tcp"})}, proxy: true},
	// gateway_mode_ipv4=nat-unprotected: DNAT plus every port of the
	// container open to direct routing.
	"usernet-portmap-natunprot": {networks: []Network{docker0, bridge1("nat-unprotected")}, workloads: []Workload{c1(p8080v4, p8080v6)}, proxy: true,
		note: "nat-unprotected: no raw drop by design, and DOCKER accepts every port of the container from outside the bridge"},
	// gateway_mode_ipv4=routed: "port mapping is skipped", no proxy: the
	// binding is the container's own address (an empty HostPort).
	"usernet-portmap-routed": {networks: []Network{docker0, bridge1("routed")}, workloads: []Workload{c1(Port{HostPort: 0, ContainerPort: 80, Proto: "tcp"})}, proxy: false,
		note: "routed: the container's own address is the publication (no DNAT, no proxy, no raw drop): HD-NET-002 does not count the direct path as hidden"},
	// Two --internal networks, one container each, no ports.
	"usernet-internal": {networks: []Network{docker0,
		{ID: "n-icc", Name: "bridgeICC", Driver: "bridge", Bridge: "bridgeICC", Internal: true, Subnets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
		{ID: "n-noicc", Name: "bridgeNoICC", Driver: "bridge", Bridge: "bridgeNoICC", Internal: true, Subnets: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}},
		workloads: []Workload{
			{ID: "c1icc" + strings.Repeat("0", 59), Name: "c1", NetworkMode: "bridgeICC", Endpoints: []Endpoint{{Network: "bridgeICC", NetworkID: "n-icc", IPv4: netip.MustParseAddr("192.0.2.2")}}},
			{ID: "c2noicc" + strings.Repeat("0", 57), Name: "c2", NetworkMode: "bridgeNoICC", Endpoints: []Endpoint{{Network: "bridgeNoICC", NetworkID: "n-noicc", IPv4: netip.MustParseAddr("198.51.100.2")}}},
		}, proxy: true},
	// docker service create -p 8080:80: the routing mesh DNATs to the
	// ingress sandbox 172.18.0.2:8080 on docker_gwbridge.
	"swarm-portmap": {networks: []Network{docker0,
		{ID: "n-gw", Name: "docker_gwbridge", Driver: "bridge", Bridge: "docker_gwbridge", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}},
		{ID: "n-ingress", Name: "ingress", Driver: "overlay", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}},
		workloads: []Workload{{ID: "5eaf00d5eaf0" + strings.Repeat("0", 52), Name: "svc.1.abcdef", NetworkMode: "ingress",
			Ports:     []Port{{HostIP: netip.IPv4Unspecified(), HostPort: 8080, ContainerPort: 80, Proto: "tcp", Ingress: true}},
			Endpoints: []Endpoint{{Network: "ingress", NetworkID: "n-ingress", IPv4: netip.MustParseAddr("10.0.0.5")}}}},
		proxy: true, swarm: true},
}

// mobyInput builds the input for a moby fixture: its rules, the doc's Docker
// facts, and a host with one external interface (eth0). The docs show no
// ip6tables: IPv6 has no rules (an empty dump), as with ip6tables off.
func mobyInput(t testing.TB, file string) Input {
	t.Helper()
	base := strings.TrimSuffix(strings.TrimPrefix(file, "moby-"), ".iptables.txt")
	ver, scen, _ := strings.Cut(base, "-")
	sc, ok := mobyScenarios[scen]
	if !ok {
		t.Fatalf("no Docker facts for moby scenario %q: add it to mobyScenarios", scen)
	}
	v6, _ := iptsave.Parse(nil, iptsave.IPv6)
	in := Input{
		Rules:  Rules{V4: parseFixture(t, file, iptsave.IPv4), V6: v6, Backend: "nft"},
		Docker: Docker{Version: strings.TrimPrefix(ver, "v"), IPTables: true, UserlandProxy: sc.proxy, Swarm: sc.swarm, Networks: sc.networks},
		Interfaces: []Interface{
			{Name: "lo", Up: true, Loopback: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}},
			{Name: "eth0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("203.0.113.10/24"), netip.MustParsePrefix("2001:db8::10/64")}},
		},
		Workloads: slices.Clone(sc.workloads),
		// c1's port 80 is internal in these goldens, so that HD-NET-001 has
		// something to say; the d20.10 goldens use the default policy.
		Policy: policy.Firewall{Mode: "report", Default: "allow", Internal: []policy.PortRule{{Selector: policy.Selector{Container: "c1"}, Ports: []string{"80/tcp"}}}},
	}
	for _, n := range sc.networks {
		if n.Bridge == "" {
			continue
		}
		ifc := Interface{Name: n.Bridge, Up: true}
		for _, s := range n.Subnets {
			ifc.Addrs = append(ifc.Addrs, netip.PrefixFrom(s.Addr().Next(), s.Bits()))
		}
		in.Interfaces = append(in.Interfaces, ifc)
	}
	return in
}

// TestGoldens evaluates every fixture of ../shared/fixtures/iptables and compares
// the exposure and the HD-NET results with testdata/<fixture>.golden. Each
// golden file was read against the scenario's documentation (the moby docs, the
// d20.10 probes); rewrite with -update only after reading the diff.
func TestGoldens(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.iptables.txt"))
	if len(files) == 0 {
		t.Skip("no fixtures")
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			scenario := strings.TrimSuffix(name, ".iptables.txt")
			var in Input
			note := "the d20.10 probes (.probe.tsv) were taken on this host: TestProbeAgreement checks every one"
			if strings.HasPrefix(name, "d20.10-") {
				in = d2010Input(t, scenario, true)
			} else {
				in = mobyInput(t, name)
				_, scen, _ := strings.Cut(strings.TrimPrefix(scenario, "moby-"), "-")
				note = mobyScenarios[scen].note
			}
			res, x := Audit(AuditInput{Input: in, Backend: &BackendDecision{Docker: in.Rules.Backend, OK: true, Evidence: []string{"(fixture: backend not probed)"}}})
			golden(t, filepath.Join("testdata", scenario+".golden"), renderAudit(scenario, note, x, res))
		})
	}
}

// renderAudit is the golden text: every port with every path and its evidence,
// then every result.
func renderAudit(scenario, note string, x *Exposure, res []check.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n# external interfaces: %s\n", scenario, strings.Join(x.External, ", "))
	if note != "" {
		fmt.Fprintf(&b, "# note: %s\n", note)
	}
	for _, fam := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		if why := x.Unreadable[fam]; why != "" {
			fmt.Fprintf(&b, "# %s unreadable: %s\n", fam, why)
		}
	}
	b.WriteString("\n== exposure\n")
	for i := range x.Ports {
		pe := &x.Ports[i]
		fmt.Fprintf(&b, "%s: %s\n", PortSubject(pe).Name, pe.Verdict)
		for _, p := range pe.Paths {
			fmt.Fprintf(&b, "  %s %s from %s: %s", p.Path, p.Dst, p.Iface, p.Verdict)
			if p.Via != "" {
				b.WriteString(" via " + p.Via)
			}
			if p.Reason != "" {
				b.WriteString(" — " + p.Reason)
			}
			b.WriteString("\n")
			for _, s := range p.Evidence {
				b.WriteString("      " + s.String() + "\n")
			}
		}
	}
	for _, w := range x.HostNetUnknown {
		fmt.Fprintf(&b, "%s: host network, sockets not read\n", w.Name)
	}
	b.WriteString("\n== results\n")
	for _, r := range res {
		fmt.Fprintf(&b, "%s %s %s %s %q\n", r.ID, r.Status, r.Severity, r.Subject.ID, r.Subject.Name)
		if r.Status == check.Pass {
			continue // the evidence of passes is in the exposure above
		}
		for _, l := range strings.Split(r.Evidence, "\n") {
			b.WriteString("  | " + l + "\n")
		}
		if r.Remediation != "" {
			for _, l := range strings.Split(r.Remediation, "\n") {
				b.WriteString("  > " + l + "\n")
			}
		}
	}
	return b.String()
}
