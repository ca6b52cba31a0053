package firewall

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/procnet"
)

// Input is everything the exposure analysis looks at, read once per scan by the
// caller. Evaluate never reads a file, runs a program or calls Docker.
type Input struct {
	Rules      Rules // iptables-save / ip6tables-save of the backend Docker uses
	Docker     Docker
	Workloads  []Workload
	Interfaces []Interface // every host interface, Docker's bridges and lo included
	// Listeners are the listening sockets of the host's network namespace
	// (procnet.Listeners of pid 1, plus ownership of host-network containers).
	// nil means "not read": docker-proxy's sockets are then derived from the
	// port bindings and the daemon's userland-proxy setting, and host-network
	// containers cannot be judged.
	Listeners []Listener
	Policy    policy.Firewall
	// ReadErr says why a family's rules could not be read (Rules.V4 or V6 is
	// then nil); it becomes the reason of every verdict that needed them.
	ReadErr map[iptsave.Family]error
	// RouteLocalnet is net.ipv4.conf.<external>.route_localnet: when set, the
	// kernel routes 127.0.0.0/8 arriving from outside instead of dropping it
	// as a martian.
	RouteLocalnet bool
}

// Listener is one listening socket of the host's network namespace.
type Listener struct {
	Addr  netip.Addr // the unspecified address for a wildcard bind
	Port  uint16
	Proto string // "tcp", "udp"
	// ContainerID is the host-network container whose process holds the
	// socket, "" for the host's own or unknown.
	ContainerID string
	// Proxy marks a docker-proxy socket (the process is known, or derived from
	// the port bindings).
	Proxy bool
}

func (l Listener) String() string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(l.Addr, l.Port), l.Proto)
}

// ListenersFromSockets adapts procnet's listening TCP sockets. owned, when not
// nil, is the socket inodes of containerID's processes (procnet.SocketInodes):
// those sockets are attributed to it.
func ListenersFromSockets(socks []procnet.Socket, owned map[uint64]bool, containerID string) []Listener {
	out := make([]Listener, 0, len(socks))
	for _, s := range socks {
		if !s.Listening() {
			continue
		}
		l := Listener{Addr: s.Local.Addr().Unmap(), Port: s.Local.Port(), Proto: "tcp"}
		if owned != nil && owned[s.Inode] {
			l.ContainerID = containerID
		}
		out = append(out, l)
	}
	return out
}

// Verdict is what the outside world can do with a port on one path.
type Verdict string

// Verdicts, from the worst.
const (
	// VerdictPublic: anyone can open a connection.
	VerdictPublic Verdict = "public"
	// VerdictRestricted: only sources a rule names can (Reason says which).
	VerdictRestricted Verdict = "restricted"
	// VerdictUnknown: it depends on something the evaluator does not model,
	// or the rules could not be read (Reason says what).
	VerdictUnknown Verdict = "unknown"
	// VerdictBlocked: a rule (or a chain policy) drops or rejects it.
	VerdictBlocked Verdict = "blocked"
	// VerdictClosed: the packet reaches the host, but nothing of this port
	// listens there (the connection is refused).
	VerdictClosed Verdict = "closed"
	// VerdictLoopbackOnly: a port bound to a loopback address that no path
	// from outside reaches.
	VerdictLoopbackOnly Verdict = "loopback-only"
)

// Reachable reports whether someone outside can connect.
func (v Verdict) Reachable() bool { return v == VerdictPublic || v == VerdictRestricted }

func (v Verdict) rank() int {
	switch v {
	case VerdictPublic:
		return 5
	case VerdictRestricted:
		return 4
	case VerdictUnknown:
		return 3
	case VerdictBlocked:
		return 2
	case VerdictClosed:
		return 1
	}
	return 0
}

// Path is a way a connection from outside can take to a published port.
type Path string

// Paths.
const (
	// PathHostAddr: to an address of the host, arriving on an external interface
	// (DNAT to the container, docker-proxy, or a host-network socket).
	PathHostAddr Path = "host"
	// PathLoopbackAddr: to 127.0.0.1 (the binding's loopback address) sent by a
	// neighbour on the link; DNAT in PREROUTING rewrites it before the kernel's
	// martian check (moby/moby#45610, fixed by Docker 28's raw drops).
	PathLoopbackAddr Path = "loopback"
	// PathContainerAddr: to the container's own address, from a neighbour that routes
	// the container subnet via the host (no DNAT at all).
	PathContainerAddr Path = "direct"
)

// Step is one piece of evidence: a rule by table, chain and line of the dump, or
// a fact ("docker-proxy listens on [::]:8080").
type Step struct {
	Family string `json:"family"`
	Table  string `json:"table,omitempty"`
	Chain  string `json:"chain,omitempty"`
	Line   int    `json:"line,omitempty"`
	Rule   string `json:"rule,omitempty"`
	Note   string `json:"note,omitempty"`
}

func (s Step) String() string {
	switch {
	case s.Rule != "" && s.Note != "":
		return fmt.Sprintf("%s %s %s line %d: %s (%s)", s.Family, s.Table, s.Chain, s.Line, s.Rule, s.Note)
	case s.Rule != "":
		return fmt.Sprintf("%s %s %s line %d: %s", s.Family, s.Table, s.Chain, s.Line, s.Rule)
	}
	return s.Family + ": " + s.Note
}

// PathResult is the verdict for one path from one external interface to one
// destination.
type PathResult struct {
	Path    Path           `json:"path"`
	Iface   string         `json:"iface"`
	Dst     netip.AddrPort `json:"dst"`
	Verdict Verdict        `json:"verdict"`
	// Via says how the connection reaches the container when it does:
	// "DNAT to 172.17.0.2:80", "docker-proxy on [::]:8080", ...
	Via string `json:"via,omitempty"`
	// Reason says why it does not, or by what it is restricted, or what is
	// unknown.
	Reason   string `json:"reason,omitempty"`
	Evidence []Step `json:"evidence,omitempty"`
}

// PortExposure is one published port of one workload, for one address family.
type PortExposure struct {
	Workload *Workload
	Port     Port
	Family   iptsave.Family
	// HostNetwork marks a socket of a host-network container (Port.HostPort
	// is the listening port; nothing is published).
	HostNetwork bool
	Verdict     Verdict // the worst of Paths; loopback-only when nothing reaches a loopback binding
	Paths       []PathResult
}

// Worst returns the path that decided Verdict.
func (pe *PortExposure) Worst() *PathResult {
	var w *PathResult
	for i := range pe.Paths {
		if w == nil || pe.Paths[i].Verdict.rank() > w.Verdict.rank() {
			w = &pe.Paths[i]
		}
	}
	return w
}

// Exposure is the result of one evaluation.
type Exposure struct {
	Ports []PortExposure
	// HostNetUnknown are host-network containers whose sockets were not read.
	HostNetUnknown []*Workload
	// External are the interfaces evaluated as "outside".
	External []string
	// Unreadable says, per family, why its rules could not be evaluated.
	Unreadable map[iptsave.Family]string

	in    *Input
	ctx   *evalContext
	progs map[iptsave.Family]*program
}

// Evaluate computes the effective reachability of every published port (and
// every socket of a host-network container) from every external interface,
// per address family and path.
func Evaluate(in Input) *Exposure {
	x := &Exposure{in: &in, Unreadable: map[iptsave.Family]string{}}
	x.ctx = newEvalContext(&in)
	x.External = externalInterfaces(&in)
	sets := dockerSets(in.Docker.Networks)
	x.progs = map[iptsave.Family]*program{
		iptsave.IPv4: compile(in.Rules.V4, iptsave.IPv4, sets),
		iptsave.IPv6: compile(in.Rules.V6, iptsave.IPv6, sets),
	}
	if in.Docker.FirewallBackend == "nftables" {
		for _, p := range x.progs {
			p.why = "Docker uses its nftables firewall backend: its rules are not in iptables-save and hardend does not evaluate nftables (there is no DOCKER-USER chain)"
		}
	}
	for fam, p := range x.progs {
		if err := in.ReadErr[fam]; err != nil && p.why != "" && in.Docker.FirewallBackend != "nftables" {
			p.why = fmt.Sprintf("the %s rules could not be read: %v", fam, err)
		}
		if p.why != "" {
			x.Unreadable[fam] = p.why
		}
	}
	e := &evaluation{x: x, cache: map[probeKey]*probeResult{}}
	for i := range in.Workloads {
		w := &in.Workloads[i]
		switch {
		case w.NetworkMode == "host":
			e.hostNetwork(w)
		case w.NetworkMode == "none" || strings.HasPrefix(w.NetworkMode, "container:"):
			// No ports of its own: "container:" shares another's namespace,
			// whose ports are that container's.
		default:
			e.bridged(w)
		}
	}
	return x
}

// ProbeResult is what one packet did.
type ProbeResult struct {
	// Outcome: "delivered" (a container or a socket got it), "refused" (the
	// host answered with a reset), "dropped", "rejected", or "unknown" — for
	// the branch of an unconstrained sender; Verdict folds in the others.
	Outcome  string
	Verdict  Verdict
	Via      string
	Reason   string
	Evidence []Step
}

// Probe walks one NEW TCP/UDP connection from an external interface to dst
// through the rules evaluated by Evaluate — the single-packet question the
// real-packet tests ask. The verdict counts any delivery as reaching.
func (x *Exposure) Probe(iface, proto string, dst netip.AddrPort) ProbeResult {
	e := &evaluation{x: x, cache: map[probeKey]*probeResult{}}
	pr := e.probe(iface, proto, dst.Addr(), dst.Port())
	v, via, reason, ev := x.judge(pr, func(l *leaf) (bool, string) { return true, x.describeDelivery(l) })
	out := "unknown"
	if g := pr.generic(); g != nil {
		out = [...]string{"delivered", "refused", "dropped", "rejected", "unknown"}[g.kind]
	}
	return ProbeResult{Outcome: out, Verdict: v, Via: via, Reason: reason, Evidence: ev}
}

// ---- context: what the kernel knows besides the rules ----

type evalContext struct {
	local         map[netip.Addr]string // local address -> interface
	ifAddrs       map[string][]netip.Addr
	nets          []netRoute
	endpoints     map[netip.Addr]string // container address -> bridge
	listeners     []Listener
	byPort        map[portKey][]int // listeners by protocol and port
	derived       bool              // listeners were derived from the bindings
	routeLocalnet bool
	bridges       map[string]bool // Docker's interface names
}

type netRoute struct {
	pfx    netip.Prefix
	bridge string
}

func newEvalContext(in *Input) *evalContext {
	c := &evalContext{
		local: map[netip.Addr]string{}, ifAddrs: map[string][]netip.Addr{},
		endpoints: map[netip.Addr]string{}, routeLocalnet: in.RouteLocalnet, bridges: map[string]bool{},
	}
	for _, ifc := range in.Interfaces {
		for _, a := range ifc.Addrs {
			addr := a.Addr().Unmap()
			if _, dup := c.local[addr]; !dup {
				c.local[addr] = ifc.Name
			}
			c.ifAddrs[ifc.Name] = append(c.ifAddrs[ifc.Name], addr)
		}
	}
	byID := map[string]*Network{}
	for i := range in.Docker.Networks {
		n := &in.Docker.Networks[i]
		byID[n.ID], byID[n.Name] = n, n
		if n.Bridge != "" {
			c.bridges[n.Bridge] = true
			for _, p := range n.Subnets {
				c.nets = append(c.nets, netRoute{pfx: p.Masked(), bridge: n.Bridge})
			}
		}
	}
	// The most specific subnet wins, as in a routing table.
	slices.SortStableFunc(c.nets, func(a, b netRoute) int { return b.pfx.Bits() - a.pfx.Bits() })
	for _, w := range in.Workloads {
		for _, ep := range w.Endpoints {
			n := byID[ep.NetworkID]
			if n == nil {
				n = byID[ep.Network]
			}
			if n == nil || n.Bridge == "" {
				continue
			}
			for _, a := range []netip.Addr{ep.IPv4, ep.IPv6} {
				if a.IsValid() {
					c.endpoints[a.Unmap()] = n.Bridge
				}
			}
		}
	}
	if in.Listeners != nil {
		c.listeners = in.Listeners
		// procnet reads TCP sockets only: docker-proxy's UDP sockets are
		// derived, never assumed absent.
		if !slices.ContainsFunc(in.Listeners, func(l Listener) bool { return l.Proto == "udp" }) {
			for _, l := range deriveListeners(in, byID) {
				if l.Proto == "udp" {
					c.listeners = append(c.listeners, l)
				}
			}
		}
	} else {
		c.derived = true
		c.listeners = deriveListeners(in, byID)
	}
	c.byPort = map[portKey][]int{}
	for i, l := range c.listeners {
		k := portKey{l.Proto, l.Port}
		c.byPort[k] = append(c.byPort[k], i)
	}
	return c
}

type portKey struct {
	proto string
	port  uint16
}

// deriveListeners is docker-proxy as the daemon runs it when nobody read the
// sockets: one per published binding and family, when userland-proxy is on and
// the network publishes through NAT.
func deriveListeners(in *Input, nets map[string]*Network) []Listener {
	if !in.Docker.UserlandProxy {
		return nil
	}
	var out []Listener
	for _, w := range in.Workloads {
		if w.NetworkMode == "host" || w.NetworkMode == "none" || strings.HasPrefix(w.NetworkMode, "container:") {
			continue
		}
		for _, p := range w.Ports {
			if p.HostPort == 0 || p.Ingress {
				continue
			}
			addrs := []netip.Addr{p.HostIP}
			if !p.HostIP.IsValid() {
				addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
			}
			for _, a := range addrs {
				if routedOnly(w, nets, familyOf(a)) {
					continue
				}
				out = append(out, Listener{Addr: a, Port: p.HostPort, Proto: p.Proto, ContainerID: w.ID, Proxy: true})
			}
		}
	}
	return out
}

// routedOnly reports whether every network of w publishes without NAT for fam
// (gateway mode "routed"): no DNAT and no docker-proxy then.
func routedOnly(w Workload, nets map[string]*Network, fam iptsave.Family) bool {
	if len(w.Endpoints) == 0 {
		return false
	}
	for _, ep := range w.Endpoints {
		n := nets[ep.NetworkID]
		if n == nil {
			n = nets[ep.Network]
		}
		mode := ""
		if n != nil {
			mode = n.GatewayMode4
			if fam == iptsave.IPv6 {
				mode = n.GatewayMode6
			}
		}
		if mode != "routed" {
			return false
		}
	}
	return true
}

func (c *evalContext) isLocal(a netip.Addr, in string, limitIn bool) bool {
	if limitIn {
		if in == "lo" && a.IsLoopback() {
			return true
		}
		return slices.Contains(c.ifAddrs[in], a)
	}
	if a.IsLoopback() {
		return true
	}
	_, ok := c.local[a]
	return ok
}

func (c *evalContext) egress(dst netip.Addr) (string, bool) {
	if b, ok := c.endpoints[dst]; ok {
		return b, true
	}
	for _, n := range c.nets {
		if n.pfx.Contains(dst) {
			return n.bridge, true
		}
	}
	return "", false
}

// listener finds the socket a local packet is delivered to: an exact address
// first, then a wildcard of the family (an IPv6 wildcard socket also takes IPv4
// unless it is IPV6_V6ONLY, which procnet cannot see: assumed dual-stack).
func (c *evalContext) listener(fam iptsave.Family, proto string, dst netip.Addr, port uint16) *Listener {
	var wild *Listener
	for _, i := range c.byPort[portKey{proto, port}] {
		l := &c.listeners[i]
		switch {
		case l.Addr == dst:
			return l
		case l.Addr.IsUnspecified() && familyOf(l.Addr) == fam:
			wild = l
		case l.Addr.IsUnspecified() && l.Addr.Is6() && fam == iptsave.IPv4 && wild == nil && !c.derived:
			wild = l
		}
	}
	return wild
}

func familyOf(a netip.Addr) iptsave.Family {
	if a.Is4() || a.Is4In6() {
		return iptsave.IPv4
	}
	return iptsave.IPv6
}

// externalInterfaces applies the policy: a list of names, or "auto" = every
// non-loopback interface that is up and not Docker's.
func externalInterfaces(in *Input) []string {
	if len(in.Policy.Interfaces.Names) > 0 {
		return slices.Clone(in.Policy.Interfaces.Names)
	}
	docker := map[string]bool{}
	for _, n := range in.Docker.Networks {
		if n.Bridge != "" {
			docker[n.Bridge] = true
		}
	}
	var out []string
	for _, ifc := range in.Interfaces {
		if ifc.Loopback || !ifc.Up || docker[ifc.Name] || isDockerIface(ifc.Name) {
			continue
		}
		out = append(out, ifc.Name)
	}
	return out
}

// isDockerIface recognises Docker's own interfaces by name.
func isDockerIface(name string) bool {
	return name == "docker0" || name == "docker_gwbridge" || strings.HasPrefix(name, "br-") || strings.HasPrefix(name, "veth")
}

// dockerSets resolves Docker 28's ipsets docker-ext-bridges-v4/v6: the subnets
// of its non-internal bridge networks.
func dockerSets(nets []Network) map[string][]netip.Prefix {
	sets := map[string][]netip.Prefix{}
	for _, n := range nets {
		if n.Internal || n.Bridge == "" {
			continue
		}
		for _, p := range n.Subnets {
			name := "docker-ext-bridges-v4"
			if p.Addr().Is6() {
				name = "docker-ext-bridges-v6"
			}
			sets[name] = append(sets[name], p.Masked())
		}
	}
	if len(sets) == 0 {
		return nil
	}
	return sets
}

// ---- one evaluation ----

type probeKey struct {
	iface, proto string
	dst          netip.AddrPort
}

type probeResult struct {
	leaves   []leaf
	overflow bool
}

// generic returns the leaf of a sender nothing was assumed about (no source
// restriction, nothing unknown), preferring one that got through.
func (pr *probeResult) generic() *leaf {
	var first *leaf
	for i := range pr.leaves {
		l := &pr.leaves[i]
		if restrictedBy(l) != nil || unknownIn(l) != nil {
			continue
		}
		if l.kind == lDelivered {
			return l
		}
		if first == nil {
			first = l
		}
	}
	return first
}

type evaluation struct {
	x      *Exposure
	cache  map[probeKey]*probeResult
	direct map[directKey][]PathResult
}

type directKey struct {
	w     *Workload
	port  uint16
	proto string
	fam   iptsave.Family
}

func (e *evaluation) probe(iface, proto string, dst netip.Addr, port uint16) *probeResult {
	k := probeKey{iface, proto, netip.AddrPortFrom(dst, port)}
	if pr, ok := e.cache[k]; ok {
		return pr
	}
	ev := &run{p: e.x.progs[familyOf(dst)], ctx: e.x.ctx}
	ev.start(packet{in: iface, proto: proto, dst: dst, dport: port})
	pr := &probeResult{leaves: ev.leaves, overflow: ev.overflow}
	e.cache[k] = pr
	return pr
}

// bridged evaluates every binding of a container on a bridge network.
func (e *evaluation) bridged(w *Workload) {
	seen := map[Port]bool{}
	type group struct {
		port  uint16
		proto string
	}
	covered := map[group][2]bool{} // families evaluated per container port
	first := map[group]Port{}
	var order []group
	for _, p := range w.Ports {
		if seen[p] || p.Proto == "" {
			continue // Docker lists a binding twice in some versions
		}
		seen[p] = true
		g := group{p.ContainerPort, p.Proto}
		if _, ok := first[g]; !ok {
			first[g] = p
			order = append(order, g)
		}
		for _, fam := range bindingFamilies(p) {
			pe := PortExposure{Workload: w, Port: p, Family: fam}
			e.hostPaths(&pe)
			if !p.Ingress {
				pe.Paths = append(pe.Paths, e.directPaths(w, p, fam)...)
			}
			c := covered[g]
			c[fam/6] = true
			covered[g] = c
			e.add(pe)
		}
	}
	// A container address of a family no binding covers (an IPv6 address, a
	// port published on 127.0.0.1 only) is still a way in by direct routing.
	for _, g := range order {
		p := first[g]
		if p.Ingress {
			continue
		}
		for _, fam := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
			if covered[g][fam/6] {
				continue
			}
			pe := PortExposure{Workload: w, Port: p, Family: fam, Paths: e.directPaths(w, p, fam)}
			e.add(pe)
		}
	}
}

// add records a port's result; a family with no path at all (no host address,
// no container address of that family) is no exposure and no result.
func (e *evaluation) add(pe PortExposure) {
	if len(pe.Paths) == 0 && len(e.x.External) == 0 {
		// Not "no exposure": nobody knows what outside is.
		pe.Paths = []PathResult{{Path: PathHostAddr, Verdict: VerdictUnknown,
			Reason: "no external interface: none given by policy, and no interface is up, non-loopback and not Docker's"}}
	}
	if len(pe.Paths) == 0 {
		return
	}
	finish(&pe)
	e.x.Ports = append(e.x.Ports, pe)
}

// bindingFamilies: Docker's "" (the zero HostIP) is both families, 0.0.0.0 and
// 127.0.0.1 are IPv4, :: and ::1 IPv6.
func bindingFamilies(p Port) []iptsave.Family {
	if !p.HostIP.IsValid() {
		return []iptsave.Family{iptsave.IPv4, iptsave.IPv6}
	}
	return []iptsave.Family{familyOf(p.HostIP)}
}

// extAddrs are the addresses of the external interfaces in one family that a
// sender outside can aim at (no link-local, no loopback).
func (e *evaluation) extAddrs(fam iptsave.Family) []netip.Addr {
	var out []netip.Addr
	for _, name := range e.x.External {
		for _, a := range e.x.ctx.ifAddrs[name] {
			if familyOf(a) == fam && !a.IsLinkLocalUnicast() && !a.IsLoopback() && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

func (e *evaluation) hostPaths(pe *PortExposure) {
	p := pe.Port
	if p.HostPort == 0 {
		return // routed mode: no host port at all
	}
	dsts := e.extAddrs(pe.Family)
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() && !p.HostIP.IsLoopback() {
		dsts = []netip.Addr{p.HostIP}
	}
	for _, iface := range e.x.External {
		for _, dst := range dsts {
			pr := e.probe(iface, p.Proto, dst, p.HostPort)
			pe.Paths = append(pe.Paths, e.x.pathResult(PathHostAddr, iface, netip.AddrPortFrom(dst, p.HostPort), pr, e.x.bindingTarget(pe.Workload, p, pe.Family)))
		}
		if p.HostIP.IsValid() && p.HostIP.Is4() && p.HostIP.IsLoopback() {
			pr := e.probe(iface, p.Proto, p.HostIP, p.HostPort)
			pe.Paths = append(pe.Paths, e.x.pathResult(PathLoopbackAddr, iface, netip.AddrPortFrom(p.HostIP, p.HostPort), pr, e.x.bindingTarget(pe.Workload, p, pe.Family)))
		}
	}
}

func (e *evaluation) directPaths(w *Workload, p Port, fam iptsave.Family) []PathResult {
	k := directKey{w, p.ContainerPort, p.Proto, fam}
	if e.direct == nil {
		e.direct = map[directKey][]PathResult{}
	}
	if r, ok := e.direct[k]; ok {
		return r
	}
	var out []PathResult
	for _, ep := range w.Endpoints {
		a := ep.IPv4
		if fam == iptsave.IPv6 {
			a = ep.IPv6
		}
		if !a.IsValid() || p.ContainerPort == 0 {
			continue
		}
		if n := e.x.network(ep); n != nil && (n.Driver == "macvlan" || n.Driver == "ipvlan") {
			// FAULTS.md 8: the container sits on the parent interface's link
			// itself; its traffic never passes the host's netfilter. Report
			// only: no rule of the host can filter it.
			out = append(out, PathResult{Path: PathContainerAddr, Iface: n.Name, Dst: netip.AddrPortFrom(a, p.ContainerPort), Verdict: VerdictPublic,
				Via:    n.Driver + " network " + n.Name + ": on the external link itself",
				Reason: "the host's firewall never sees this traffic (not remediable by DOCKER-USER or any host rule)"})
			continue
		}
		for _, iface := range e.x.External {
			pr := e.probe(iface, p.Proto, a, p.ContainerPort)
			out = append(out, e.x.pathResult(PathContainerAddr, iface, netip.AddrPortFrom(a, p.ContainerPort), pr, e.x.directTarget(w, p)))
		}
	}
	e.direct[k] = out
	return out
}

// hostNetwork evaluates the sockets of a host-network container: its ports are
// the host's, on the INPUT path (HD-NET-006).
func (e *evaluation) hostNetwork(w *Workload) {
	if e.x.ctx.derived {
		e.x.HostNetUnknown = append(e.x.HostNetUnknown, w)
		return
	}
	for _, l := range e.x.ctx.listeners {
		if l.ContainerID == "" || l.ContainerID != w.ID || l.Addr.IsLoopback() {
			continue // a loopback socket is out of reach from outside
		}
		p := Port{HostIP: l.Addr, HostPort: l.Port, ContainerPort: l.Port, Proto: l.Proto}
		fam := familyOf(l.Addr)
		fams := []iptsave.Family{fam}
		if l.Addr.IsUnspecified() && l.Addr.Is6() {
			fams = []iptsave.Family{iptsave.IPv6, iptsave.IPv4} // dual-stack wildcard
		}
		for _, f := range fams {
			pe := PortExposure{Workload: w, Port: p, Family: f, HostNetwork: true}
			dsts := e.extAddrs(f)
			if !l.Addr.IsUnspecified() {
				dsts = []netip.Addr{l.Addr}
			}
			for _, iface := range e.x.External {
				for _, dst := range dsts {
					pr := e.probe(iface, l.Proto, dst, l.Port)
					pe.Paths = append(pe.Paths, e.x.pathResult(PathHostAddr, iface, netip.AddrPortFrom(dst, l.Port), pr, e.x.hostNetTarget(w)))
				}
			}
			e.add(pe)
		}
	}
}

func finish(pe *PortExposure) {
	pe.Verdict = VerdictClosed
	if w := pe.Worst(); w != nil {
		pe.Verdict = w.Verdict
	}
	if !pe.Verdict.Reachable() && pe.Verdict != VerdictUnknown && pe.Port.HostIP.IsValid() && pe.Port.HostIP.IsLoopback() && familyOf(pe.Port.HostIP) == pe.Family {
		pe.Verdict = VerdictLoopbackOnly
	}
}

// network finds an endpoint's network among the daemon's.
func (x *Exposure) network(ep Endpoint) *Network {
	for i := range x.in.Docker.Networks {
		n := &x.in.Docker.Networks[i]
		if (ep.NetworkID != "" && n.ID == ep.NetworkID) || (ep.NetworkID == "" && n.Name == ep.Network) {
			return n
		}
	}
	return nil
}

// ---- judging leaves ----

// target decides whether a delivered leaf reached the port being judged, and
// says how.
type target func(l *leaf) (bool, string)

func (x *Exposure) bindingTarget(w *Workload, p Port, fam iptsave.Family) target {
	return func(l *leaf) (bool, string) {
		switch {
		case l.forward && l.pkt.dnat && p.Ingress:
			return true, fmt.Sprintf("swarm ingress DNAT to %s", netip.AddrPortFrom(l.pkt.dst, l.pkt.dport))
		case l.forward && l.pkt.dnat:
			if w.hasAddr(l.pkt.dst) && l.pkt.dport == p.ContainerPort || len(w.Endpoints) == 0 {
				return true, fmt.Sprintf("DNAT to %s", netip.AddrPortFrom(l.pkt.dst, l.pkt.dport))
			}
		case l.listener != nil:
			if x.isProxyFor(l.listener, w, p) {
				return true, fmt.Sprintf("docker-proxy on %s", netip.AddrPortFrom(l.listener.Addr, l.listener.Port))
			}
		}
		return false, x.describeDelivery(l)
	}
}

func (x *Exposure) directTarget(w *Workload, p Port) target {
	return func(l *leaf) (bool, string) {
		if l.forward && w.hasAddr(l.pkt.dst) && l.pkt.dport == p.ContainerPort {
			if l.pkt.dnat {
				return true, fmt.Sprintf("DNAT to %s", netip.AddrPortFrom(l.pkt.dst, l.pkt.dport))
			}
			return true, fmt.Sprintf("routed to %s without DNAT", netip.AddrPortFrom(l.pkt.dst, l.pkt.dport))
		}
		return false, x.describeDelivery(l)
	}
}

func (x *Exposure) hostNetTarget(w *Workload) target {
	return func(l *leaf) (bool, string) {
		if l.listener != nil && l.listener.ContainerID == w.ID {
			return true, fmt.Sprintf("host-network socket %s (INPUT path)", l.listener)
		}
		return false, x.describeDelivery(l)
	}
}

// isProxyFor reports whether a listening socket is docker-proxy for a binding.
func (x *Exposure) isProxyFor(l *Listener, w *Workload, p Port) bool {
	if l.Port != p.HostPort || l.Proto != p.Proto {
		return false
	}
	if l.ContainerID != "" && l.ContainerID != w.ID {
		return false
	}
	if !l.Proxy && !x.in.Docker.UserlandProxy {
		return false // something else listens there
	}
	return !p.HostIP.IsValid() || p.HostIP.IsUnspecified() || l.Addr == p.HostIP || l.Addr.IsUnspecified()
}

func (x *Exposure) describeDelivery(l *leaf) string {
	switch {
	case l.kind != lDelivered:
		return ""
	case l.listener != nil && l.listener.Proxy:
		return fmt.Sprintf("docker-proxy on %s", l.listener)
	case l.listener != nil && l.listener.ContainerID != "":
		return fmt.Sprintf("host-network socket %s", l.listener)
	case l.listener != nil:
		return fmt.Sprintf("host socket %s", l.listener)
	case l.pkt.dnat:
		return fmt.Sprintf("DNAT to %s", netip.AddrPortFrom(l.pkt.dst, l.pkt.dport))
	}
	return fmt.Sprintf("routed to %s", netip.AddrPortFrom(l.pkt.dst, l.pkt.dport))
}

func (w *Workload) hasAddr(a netip.Addr) bool {
	for _, ep := range w.Endpoints {
		if ep.IPv4 == a || ep.IPv6 == a {
			return true
		}
	}
	return false
}

func restrictedBy(l *leaf) []*consNode {
	var out []*consNode
	for k := l.cons; k != nil; k = k.next {
		if (k.kind == kSrcRange || k.kind == kSrcOpaque) && k.in {
			out = append(out, k)
		}
	}
	return out
}

func unknownIn(l *leaf) []*consNode {
	var out []*consNode
	for k := l.cons; k != nil; k = k.next {
		if k.kind == kUnknown {
			out = append(out, k)
		}
	}
	return out
}

func (x *Exposure) pathResult(path Path, iface string, dst netip.AddrPort, pr *probeResult, t target) PathResult {
	v, via, reason, ev := x.judge(pr, t)
	return PathResult{Path: path, Iface: iface, Dst: dst, Verdict: v, Via: via, Reason: reason, Evidence: ev}
}

// judge turns a walk's leaves into a verdict. Branches that assumed nothing of
// the sender decide "public"; branches that needed a source decide
// "restricted"; a branch that needed an unmodelled condition, or ended in
// something unmodelled, makes it "unknown" — never "blocked".
func (x *Exposure) judge(pr *probeResult, t target) (Verdict, string, string, []Step) {
	type cand struct {
		l   *leaf
		via string
	}
	var public, uncertain, restricted, restrictedUnknown *cand
	var uncertainWhy string
	for i := range pr.leaves {
		l := &pr.leaves[i]
		restr, unk := restrictedBy(l), unknownIn(l)
		reach, via := false, ""
		if l.kind == lDelivered {
			reach, via = t(l)
		}
		switch {
		case reach && restr == nil && unk == nil:
			if public == nil {
				public = &cand{l, via}
			}
		case restr == nil && (reach && unk != nil || l.kind == lUnknown):
			if uncertain == nil {
				uncertain = &cand{l, via}
				uncertainWhy = leafUnknownWhy(l, unk)
			}
		case reach && restr != nil && unk == nil:
			if restricted == nil {
				restricted = &cand{l, via}
			}
		case restr != nil && (reach || l.kind == lUnknown):
			if restrictedUnknown == nil {
				restrictedUnknown = &cand{l, via}
			}
		}
	}
	switch {
	case public != nil:
		return VerdictPublic, public.via, "", x.evidence(public.l)
	case uncertain != nil:
		return VerdictUnknown, uncertain.via, uncertainWhy, x.evidence(uncertain.l)
	case pr.overflow:
		return VerdictUnknown, "", fmt.Sprintf("the walk was cut short (more than %d conditional branches or %d rule evaluations)", maxBranches, maxSteps), nil
	case restricted != nil:
		var by []string
		for _, k := range restrictedBy(restricted.l) {
			by = append(by, fmt.Sprintf("%s (%s %s line %d)", k, k.rule.r.Table, k.rule.r.Chain, k.rule.r.Line))
		}
		slices.Reverse(by)
		return VerdictRestricted, restricted.via, "only from " + strings.Join(by, " and "), x.evidence(restricted.l)
	case restrictedUnknown != nil:
		var by []string
		for _, k := range restrictedBy(restrictedUnknown.l) {
			by = append(by, k.String())
		}
		slices.Reverse(by)
		return VerdictUnknown, restrictedUnknown.via, "for a source " + strings.Join(by, " and ") + ": " + leafUnknownWhy(restrictedUnknown.l, unknownIn(restrictedUnknown.l)), x.evidence(restrictedUnknown.l)
	}
	g := pr.generic()
	if g == nil {
		return VerdictUnknown, "", "no branch of the walk ended", nil
	}
	ev := x.evidence(g)
	switch g.kind {
	case lDropped, lRejected:
		what := "dropped"
		if g.kind == lRejected {
			what = "rejected"
		}
		switch {
		case g.rule != nil:
			return VerdictBlocked, "", fmt.Sprintf("%s by %s %s %s line %d", what, g.rule.fam, g.rule.r.Table, g.rule.r.Chain, g.rule.r.Line), ev
		case g.chain != nil:
			return VerdictBlocked, "", fmt.Sprintf("%s by the policy of %s %s (%s)", what, g.chain.table, g.chain.name, g.chain.policy), ev
		}
		return VerdictBlocked, "", what + " by the kernel: " + g.why, ev
	case lRefused:
		return VerdictClosed, "", fmt.Sprintf("nothing listens on %s/%s: connection refused", netip.AddrPortFrom(g.pkt.dst, g.pkt.dport), g.pkt.proto), ev
	case lDelivered:
		_, other := t(g)
		return VerdictClosed, "", "the connection goes to " + other + ", not to this port", ev
	}
	return VerdictUnknown, "", leafUnknownWhy(g, nil), ev
}

func leafUnknownWhy(l *leaf, unk []*consNode) string {
	if l.kind == lUnknown {
		if l.rule != nil {
			return fmt.Sprintf("%s (%s %s %s line %d)", l.why, l.rule.fam, l.rule.r.Table, l.rule.r.Chain, l.rule.r.Line)
		}
		return l.why
	}
	var parts []string
	for _, k := range unk {
		parts = append(parts, fmt.Sprintf("it depends on %s (%s %s line %d), which hardend does not evaluate", k.label, k.rule.r.Table, k.rule.r.Chain, k.rule.r.Line))
	}
	slices.Reverse(parts)
	return strings.Join(parts, "; ")
}

// evidence is the leaf's trace, oldest first, with the fact that ended it.
func (x *Exposure) evidence(l *leaf) []Step {
	var out []Step
	for s := l.trace; s != nil; s = s.next {
		out = append(out, s.s)
	}
	slices.Reverse(out)
	fam := familyOf(l.pkt.dst).String()
	// How the last hook let it through (or not), when no rule said so.
	if l.rule == nil {
		switch {
		case l.chain != nil:
			out = append(out, Step{Family: fam, Table: l.chain.table, Chain: l.chain.name, Note: "policy " + l.chain.policy})
		case l.why != "" && l.kind != lUnknown:
			out = append(out, Step{Family: fam, Note: l.why + ": nothing filters it"})
		}
	}
	switch {
	case l.kind == lDelivered && l.listener != nil:
		out = append(out, Step{Family: fam, Note: "listening: " + x.describeDelivery(l)})
	case l.kind == lRefused:
		out = append(out, Step{Family: fam, Note: fmt.Sprintf("no socket listens on %s/%s", netip.AddrPortFrom(l.pkt.dst, l.pkt.dport), l.pkt.proto)})
	}
	return out
}

// SortPorts orders results for stable reports: container name, host port,
// protocol, family.
func (x *Exposure) SortPorts() {
	slices.SortStableFunc(x.Ports, func(a, b PortExposure) int {
		return cmp.Or(strings.Compare(a.Workload.Name, b.Workload.Name),
			cmp.Compare(a.Port.HostPort, b.Port.HostPort),
			cmp.Compare(a.Port.ContainerPort, b.Port.ContainerPort),
			strings.Compare(a.Port.Proto, b.Port.Proto),
			a.Port.HostIP.Compare(b.Port.HostIP),
			cmp.Compare(a.Family, b.Family))
	})
}
