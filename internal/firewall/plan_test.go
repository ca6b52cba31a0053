package firewall

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Container IDs of the test workloads (64 hex, as Docker makes them).
const (
	idWeb   = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
	idDB    = "1111111111112222222222223333333333334444444444445555555555556666"
	idCache = "abcdefabcdef0000000000000000000000000000000000000000000000000000"
	idLo    = "0000000000aa0000000000000000000000000000000000000000000000000000"
	idRange = "ffffffffffff0000000000000000000000000000000000000000000000000000"
	idHost  = "5555555555550000000000000000000000000000000000000000000000000000"
	idApp   = "7777777777770000000000000000000000000000000000000000000000000000"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// published is `-p [ip:]host:ctr/proto` as Docker 20.10 reports it: one
// binding per address family for an unspecified host IP.
func published(hostIP string, host, ctr uint16, proto string) []Port {
	if hostIP != "" {
		return []Port{{HostIP: addr(hostIP), HostPort: host, ContainerPort: ctr, Proto: proto}}
	}
	return []Port{
		{HostIP: addr("0.0.0.0"), HostPort: host, ContainerPort: ctr, Proto: proto},
		{HostIP: addr("::"), HostPort: host, ContainerPort: ctr, Proto: proto},
	}
}

func workload(id, name string, ports ...[]Port) Workload {
	w := Workload{ID: id, Name: name, Image: "img/" + name, NetworkMode: "bridge",
		Endpoints: []Endpoint{{Network: "bridge", IPv4: addr("172.17.0.2")}}}
	for _, p := range ports {
		w.Ports = append(w.Ports, p...)
	}
	return w
}

func portRule(container string, ports ...string) policy.PortRule {
	return policy.PortRule{Selector: policy.Selector{Container: container}, Ports: ports}
}

var (
	hostIfaces = []Interface{
		{Name: "lo", Up: true, Loopback: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}},
		{Name: "eth0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8:ff::1/64")}},
		{Name: "docker0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("172.17.0.1/16")}},
	}
	networks = []Network{
		{ID: "6e3bb54b61eebb8ba0f5009d9153dd329801a0b59711eec4675bd37b3255edb5", Name: "bridge", Driver: "bridge", Bridge: "docker0",
			Subnets: []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")}},
		{ID: "61135d4912908581b9d8f66959510e8b22630117415028b1f8bebe91f03d5ce5", Name: "appnet", Driver: "bridge", Bridge: "br-61135d491290",
			Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}},
	}
	docker2010  = Docker{Version: "20.10.24+dfsg1", IPTables: true, UserlandProxy: true, FirewallBackend: "", Networks: networks}
	internalDBs = policy.Firewall{Mode: "enforce", Default: "allow",
		Internal: []policy.PortRule{portRule("*", "5432/tcp", "6379/tcp", "2375/tcp")}}
	baseWorkloads = []Workload{
		workload(idWeb, "web", published("", 8080, 80, "tcp")),
		workload(idDB, "db", published("", 5432, 5432, "tcp")),
		workload(idCache, "cache", published("", 16379, 6379, "tcp")),
		workload(idLo, "weblo", published("127.0.0.1", 8081, 80, "tcp")),
		{ID: idHost, Name: "hostnet", NetworkMode: "host", Ports: []Port{{HostPort: 8084, ContainerPort: 8084, Proto: "tcp"}}},
	}
)

// goldenCase is one plan scenario; the tier-2 round trip applies each to a
// real kernel.
type goldenCase struct {
	name string
	in   PlanInput
}

func goldenCases() []goldenCase {
	ipv6Docker := docker2010
	ipv6Docker.IPv6, ipv6Docker.IP6Tables = true, true
	noProxy := docker2010
	noProxy.UserlandProxy = false
	routed := docker2010
	routed.Networks = []Network{networks[0], {ID: networks[1].ID, Name: "appnet", Driver: "bridge", Bridge: "br-61135d491290",
		Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}, GatewayMode4: "routed"}}
	deny := policy.Firewall{Mode: "enforce", Default: "deny",
		Public:   []policy.PortRule{portRule("web", "80/tcp")},
		Internal: internalDBs.Internal}
	explicit := internalDBs
	explicit.Interfaces = policy.Interfaces{Names: []string{"ens3", "eth0", "eth0"}}
	// `-p 26379-26385:6379-6385` and `-p 192.0.2.1:5432:5432/udp`: the range
	// becomes one --ctorigdstport 26379:26385 rule per family and path.
	rangeW := append([]Workload{}, baseWorkloads...)
	var rng []Port
	for p := uint16(6379); p <= 6385; p++ {
		rng = append(rng, published("", p+20000, p, "tcp")...)
	}
	rng = append(rng, published("192.0.2.1", 5432, 5432, "udp")...)
	rangeW = append(rangeW, workload(idRange, "redis-cluster", rng))
	rangeFW := internalDBs
	rangeFW.Internal = append([]policy.PortRule{portRule("redis-cluster", "6380/tcp", "6381/tcp", "6382/tcp", "6383/tcp",
		"6384/tcp", "6385/tcp", "5432/udp")}, internalDBs.Internal...)
	nft := docker2010
	nft.FirewallBackend = "nftables"

	return []goldenCase{
		{"allow-d20.10", PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: docker2010}},
		{"deny-d20.10", PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: deny, Docker: docker2010}},
		{"allow-ipv6-ip6tables", PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: ipv6Docker}},
		{"deny-ipv6-ip6tables", PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: deny, Docker: ipv6Docker}},
		{"allow-noproxy", PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: noProxy}},
		{"allow-explicit-interfaces", PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: explicit, Docker: docker2010}},
		{"allow-port-ranges", PlanInput{Workloads: rangeW, Interfaces: hostIfaces, Firewall: rangeFW, Docker: docker2010}},
		{"allow-routed-network", PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: routed}},
		{"allow-no-workloads", PlanInput{Firewall: internalDBs, Docker: Docker{IPTables: true, UserlandProxy: true}}},
		{"nftables-backend", PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: nft}},
	}
}

func TestPlanGolden(t *testing.T) {
	tests := goldenCases()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := renderPlan(p)
			golden(t, filepath.Join("testdata", "plan", tt.name+".golden"), got)
			// Deterministic: the same input renders the same plan.
			p2, _ := NewPlan(tt.in)
			if diff := cmp.Diff(got, renderPlan(p2)); diff != "" {
				t.Errorf("plan not deterministic (-first +second):\n%s", diff)
			}
		})
	}
}

// renderPlan is the golden form of a plan: both families' batches, the blocks,
// the allowances and the notes.
func renderPlan(p *Plan) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# default: %s\n", p.Default)
	if p.Refusal != nil {
		fmt.Fprintf(&sb, "# refusal: %v\n", p.Refusal)
	}
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		fmt.Fprintf(&sb, "# %s\n", f)
		if fp := p.Family(f); fp != nil {
			sb.WriteString(fp.RestoreText())
			for _, d := range fp.Direct {
				fmt.Fprintf(&sb, "# direct-routing drop: %s %v\n", d.Bridge, d.Subnets)
			}
		} else {
			sb.WriteString("# (no chain)\n")
		}
	}
	for _, b := range p.Blocks {
		sb.WriteString("# block " + b.String() + "\n")
	}
	for _, b := range p.Allowed {
		sb.WriteString("# allow " + b.String() + "\n")
	}
	for _, n := range p.Notes {
		sb.WriteString("# note: " + n + "\n")
	}
	return sb.String()
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", file, diff)
	}
}
