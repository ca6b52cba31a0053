package firewall

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
)

// The -update flag and golden() are shared with the remediation tests
// (plan_test.go): one flag per test binary.

// fixtureDir is the shared corpus of rule sets (../shared/fixtures/iptables).
var fixtureDir = filepath.Join("..", "..", "..", "shared", "fixtures", "iptables")

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Skipf("fixture %s: %v", name, err)
	}
	return b
}

func parseFixture(t testing.TB, name string, fam iptsave.Family) *iptsave.Ruleset {
	t.Helper()
	rs, err := iptsave.Parse(readFixture(t, name), fam)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rs
}

// inspectJSON is the part of `docker inspect` the d20.10 captures kept (the live
// engine test reads the same fields, plus Id and State.Pid).
type inspectJSON struct {
	ID         string `json:"Id"`
	Name       string
	State      struct{ Pid int }
	HostConfig struct {
		NetworkMode  string
		PortBindings map[string][]struct{ HostIp, HostPort string }
	}
	NetworkSettings struct {
		Ports    map[string][]struct{ HostIp, HostPort string }
		Networks map[string]struct {
			NetworkID, IPAddress, GlobalIPv6Address string
		}
	}
}

// workloadFromInspect is what the containers package does with an inspect: the
// bindings Docker made (NetworkSettings.Ports) and the endpoints.
func workloadFromInspect(c inspectJSON) Workload {
	w := Workload{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), Image: "hardend-test/busybox",
		NetworkMode: c.HostConfig.NetworkMode, Pid: c.State.Pid}
	if w.NetworkMode == "default" {
		w.NetworkMode = "bridge"
	}
	for spec, bs := range c.NetworkSettings.Ports {
		num, proto, _ := strings.Cut(spec, "/")
		cp, _ := strconv.Atoi(num)
		for _, b := range bs {
			hp, _ := strconv.Atoi(b.HostPort)
			p := Port{HostPort: uint16(hp), ContainerPort: uint16(cp), Proto: proto}
			if b.HostIp != "" {
				p.HostIP = netip.MustParseAddr(b.HostIp)
			}
			w.Ports = append(w.Ports, p)
		}
	}
	slices.SortFunc(w.Ports, func(a, b Port) int { return a.HostIP.Compare(b.HostIP) })
	for netName, n := range c.NetworkSettings.Networks {
		if netName == "host" {
			continue
		}
		ep := Endpoint{Network: netName, NetworkID: n.NetworkID}
		if n.IPAddress != "" {
			ep.IPv4 = netip.MustParseAddr(n.IPAddress)
		}
		if n.GlobalIPv6Address != "" {
			ep.IPv6 = netip.MustParseAddr(n.GlobalIPv6Address)
		}
		w.Endpoints = append(w.Endpoints, ep)
	}
	return w
}

// captureIface is the capture host's external interface. The README describes
// the TESTING.md recipe (hdt-v0), but the captures ran in a namespace named fx:
// d20.10-docker-user's rule says `-i fx-v0`, so that is the interface's name.
const captureIface = "fx-v0"

// d2010Input builds the evaluator's input for one d20.10 scenario from its files:
// the workloads from .ports.json (NetworkSettings.Ports, the bindings Docker
// made), the networks from the containers' endpoints, and the capture host's
// interfaces. listeners: the sockets the capture host had (docker-proxy per
// binding, the host-network httpd on 8084); false leaves them to be derived.
func d2010Input(t testing.TB, scenario string, listeners bool) Input {
	t.Helper()
	var cs []inspectJSON
	if err := json.Unmarshal(readFixture(t, scenario+".ports.json"), &cs); err != nil {
		t.Fatal(err)
	}
	v6 := strings.Contains(scenario, "ipv6")
	in := Input{
		Rules: Rules{V4: parseFixture(t, scenario+".iptables.txt", iptsave.IPv4),
			V6: parseFixture(t, scenario+".ip6tables.txt", iptsave.IPv6), Backend: "nft"},
		Docker: Docker{Version: "20.10.24+dfsg1", IPTables: !strings.Contains(scenario, "noiptables"),
			IP6Tables: v6, IPv6: v6, UserlandProxy: !strings.Contains(scenario, "noproxy"), FirewallBackend: ""},
		Interfaces: []Interface{
			{Name: "lo", Up: true, Loopback: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}},
			{Name: captureIface, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8:ff::1/64")}},
		},
		Policy: policy.Default().Firewall,
	}
	if strings.Contains(scenario, "legacy") {
		in.Rules.Backend = "legacy"
	}
	nets := map[string]*Network{}
	for i, c := range cs {
		c.ID = fmt.Sprintf("%012x%052d", 0xc0ffee000000+i, 0)
		c.State.Pid = 1000 + i
		w := workloadFromInspect(c)
		for _, ep := range w.Endpoints {
			nw := nets[ep.NetworkID]
			if nw == nil {
				nw = &Network{ID: ep.NetworkID, Name: ep.Network, Driver: "bridge", Bridge: "br-" + ep.NetworkID[:12]}
				if ep.Network == "bridge" {
					nw.Bridge = "docker0"
				}
				nets[ep.NetworkID] = nw
			}
			for _, a := range []netip.Addr{ep.IPv4, ep.IPv6} {
				if !a.IsValid() {
					continue
				}
				bits := 16
				if a.Is6() {
					bits = 64
				}
				p, _ := a.Prefix(bits)
				if !slices.Contains(nw.Subnets, p) {
					nw.Subnets = append(nw.Subnets, p)
					nw.IPv6 = nw.IPv6 || a.Is6()
				}
			}
		}
		in.Workloads = append(in.Workloads, w)
	}
	ids := make([]string, 0, len(nets))
	for id := range nets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := nets[id]
		in.Docker.Networks = append(in.Docker.Networks, *n)
		ifc := Interface{Name: n.Bridge, Up: true}
		for _, s := range n.Subnets {
			ifc.Addrs = append(ifc.Addrs, netip.PrefixFrom(s.Addr().Next(), s.Bits()))
		}
		in.Interfaces = append(in.Interfaces, ifc)
	}
	if listeners {
		in.Listeners = []Listener{}
		for _, w := range in.Workloads {
			if w.NetworkMode == "host" {
				// busybox httpd -p 8084 listens on the dual-stack wildcard.
				in.Listeners = append(in.Listeners, Listener{Addr: netip.IPv6Unspecified(), Port: 8084, Proto: "tcp", ContainerID: w.ID})
				continue
			}
			if !in.Docker.UserlandProxy {
				continue
			}
			for _, p := range w.Ports {
				in.Listeners = append(in.Listeners, Listener{Addr: p.HostIP, Port: p.HostPort, Proto: p.Proto, Proxy: true})
			}
		}
	}
	return in
}

// probeRow is one line of a .probe.tsv.
type probeRow struct {
	proto, dst string
	port       uint16
	path       string // host-v4, host-v6, direct-v4, direct-v6
	container  string
	result     string // http, refused, timeout, connected-no-http
}

func readProbes(t testing.TB, scenario string) []probeRow {
	t.Helper()
	var rows []probeRow
	sc := bufio.NewScanner(bytes.NewReader(readFixture(t, scenario+".probe.tsv")))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 6 || f[0] == "proto" {
			continue
		}
		port, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("%s: bad port in %q", scenario, sc.Text())
		}
		rows = append(rows, probeRow{f[0], f[1], uint16(port), f[3], f[4], f[5]})
	}
	return rows
}

// packetClass is what a probe saw, reduced to what the firewall decides: open
// (something answered: http, connected-no-http), closed (refused: the packet got
// through, nothing listened), filtered (timeout: dropped).
func packetClass(result string) string {
	switch result {
	case "http", "connected-no-http":
		return "open"
	case "refused":
		return "closed"
	case "timeout":
		return "filtered"
	}
	return "?"
}

func outcomeClass(outcome string) string {
	switch outcome {
	case "delivered":
		return "open"
	case "refused", "rejected":
		return "closed"
	case "dropped":
		return "filtered"
	}
	return outcome
}

var d2010Scenarios = []string{
	"d20.10-default", "d20.10-default-legacy", "d20.10-docker-user", "d20.10-docker-user-flushed",
	"d20.10-ip127", "d20.10-ipv6", "d20.10-noicc", "d20.10-noiptables", "d20.10-noproxy",
}

// TestProbeAgreement is the evaluator's acceptance test: for every path the
// outsider probed against a real Docker 20.10, the evaluation must say what the
// packet did — per packet (Probe: open / closed / filtered) and per published
// port (Evaluate's verdict: reachable or not). The agreement table is a golden
// file.
func TestProbeAgreement(t *testing.T) {
	var table strings.Builder
	table.WriteString("# scenario\tpath\tcontainer\tdst\tprobe\tevaluator\tverdict\tagreed\n")
	for _, scenario := range d2010Scenarios {
		for _, mode := range []string{"listeners", "derived"} {
			t.Run(scenario+"/"+mode, func(t *testing.T) {
				in := d2010Input(t, scenario, mode == "listeners")
				x := Evaluate(in)
				for _, row := range readProbes(t, scenario) {
					dst := netip.AddrPortFrom(netip.MustParseAddr(row.dst), row.port)
					if row.container == "hostnet" && mode == "derived" && row.port == 8084 {
						// Without the sockets read, a host-network service is
						// unknown: that is the point of the derived mode.
						if pr := x.Probe(captureIface, row.proto, dst); pr.Outcome != "refused" {
							t.Errorf("%s %s: derived listeners must not invent the host-network socket, got %s", row.path, dst, pr.Outcome)
						}
						continue
					}
					pr := x.Probe(captureIface, row.proto, dst)
					want, got := packetClass(row.result), outcomeClass(pr.Outcome)
					verdict := "-"
					if pe, path := findPath(x, row); path != nil {
						verdict = string(path.Verdict)
						if path.Verdict.Reachable() != (want == "open") {
							t.Errorf("%s %s %s: probe %s, but %s's verdict is %s (%s)\n%s", row.path, row.container, dst, row.result,
								pe.Port, path.Verdict, path.Reason, steps(path.Evidence))
						}
					}
					agreed := got == want
					if !agreed {
						t.Errorf("%s %s %s: probe %s (%s), evaluator %s (%s)\n%s", row.path, row.container, dst, row.result, want, pr.Outcome, pr.Reason, steps(pr.Evidence))
					}
					if mode == "listeners" {
						fmt.Fprintf(&table, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", scenario, row.path, row.container, dst, row.result, pr.Outcome, verdict, agreed)
					}
				}
			})
		}
	}
	golden(t, filepath.Join("testdata", "probe-agreement.golden"), table.String())
}

// findPath finds the Evaluate result a probe row corresponds to.
func findPath(x *Exposure, row probeRow) (*PortExposure, *PathResult) {
	dst := netip.AddrPortFrom(netip.MustParseAddr(row.dst), row.port)
	want := PathHostAddr
	if strings.HasPrefix(row.path, "direct") {
		want = PathContainerAddr
	}
	for i := range x.Ports {
		pe := &x.Ports[i]
		if pe.Workload.Name != row.container {
			continue
		}
		for j := range pe.Paths {
			p := &pe.Paths[j]
			if p.Path == want && p.Dst == dst && p.Iface == captureIface {
				return pe, p
			}
		}
	}
	return nil, nil
}

func steps(ev []Step) string {
	var b strings.Builder
	for _, s := range ev {
		b.WriteString("    " + s.String() + "\n")
	}
	return b.String()
}

// TestLiveCaptures parses the rule sets the real-engine test captured
// (testdata/live, rewritten by go test -run TestExposureRealEngine -update) and
// evaluates them: real iptables-nft output of Docker 20.10 in every
// configuration the engine test runs.
func TestLiveCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "live", "*.txt"))
	if len(files) == 0 {
		t.Skip("no captures under testdata/live")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fam := iptsave.IPv4
		if strings.HasSuffix(f, ".ip6tables.txt") {
			fam = iptsave.IPv6
		}
		rs, err := iptsave.Parse(b, fam)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		in := Input{Rules: Rules{V4: rs, V6: rs}, Docker: Docker{IPTables: true, UserlandProxy: true}}
		if fam == iptsave.IPv4 {
			in.Rules.V6 = nil
		} else {
			in.Rules.V4 = nil
		}
		_ = Net003Results(in)
	}
}
