package firewall

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
)

// The chains hardend owns. Everything named with ChainPrefix, in any table of
// either family, is hardend's: Apply adopts it (a leftover of a crash or an
// older version), Reset removes it.
const (
	ChainPrefix  = "HARDEND-"
	ChainForward = "HARDEND-FORWARD" // forwarded traffic to containers (DNAT'd and directly routed)
	ChainInput   = "HARDEND-INPUT"   // IPv6 to docker-proxy, which takes the INPUT path (FAULTS 6)
)

// Block paths: how traffic reaches a published port.
const (
	// PathForward: DNAT'd by Docker's nat rules, then forwarded to the
	// container (FORWARD → DOCKER-USER → HARDEND-FORWARD).
	PathForward = "forward"
	// PathInput: accepted by docker-proxy on the host itself (IPv6 with
	// userland-proxy on an IPv4-only network: INPUT → HARDEND-INPUT).
	PathInput = "input"
)

// ErrNftablesBackend: Docker runs its nftables firewall backend (FAULTS 5). It
// creates no DOCKER-USER chain; hardend reports exposure there and changes
// nothing.
var ErrNftablesBackend = errors.New("docker uses its nftables firewall backend: hardend only reports there, it writes no rules (FAULTS 5)")

// PlanInput is everything the plan depends on. Plan reads nothing else.
type PlanInput struct {
	Workloads []Workload
	// Interfaces are the host's interfaces. Their addresses tell Apply which
	// conntrack entries are connections from outside; with `interfaces: auto`
	// the loopback ones are internal.
	Interfaces []Interface
	Firewall   policy.Firewall
	Docker     Docker
}

// Plan is the intent rendered as the exact rules of hardend's chains: what the
// kernel must hold after Apply, byte for byte as iptables-save prints it.
type Plan struct {
	Default string // "allow" or "deny"
	// V4, V6: hardend's chains per family; nil means hardend keeps no chain in
	// that family (Apply removes any it finds).
	V4, V6 *FamilyPlan
	// Blocks are the published ports whose external NEW connections the plan
	// drops, one per port (rules merge ranges). Apply deletes the conntrack
	// entries of those that were not blocked before.
	Blocks []Block
	// Allowed are the published ports default-deny lets through (public).
	Allowed []Block
	// Local are the host's own addresses: conntrack entries from them are
	// never deleted.
	Local []netip.Addr
	// External are the policy's explicit external interfaces; nil means
	// `interfaces: auto`.
	External []string
	// Notes say what the plan cannot cover, and why (host network, invalid
	// input skipped, ...). Deterministic order.
	Notes []string
	// Refusal is set when this plan must not be applied at all
	// (ErrNftablesBackend). Dry-run still renders it.
	Refusal error
}

// FamilyPlan is hardend's chains in one address family.
type FamilyPlan struct {
	Family iptsave.Family
	Chains []ChainPlan
	// Direct are the Docker bridges behind a direct-routing drop, with their
	// subnets (conntrack entries into them are deleted when the drop is new).
	Direct []DirectNet
	// Bridges are all of Docker's bridges: a rule on them above hardend's jump
	// in a built-in chain is Docker's own (see ProblemJumpBelowDocker).
	Bridges []string
}

// DirectNet is a bridge whose directly routed NEW connections are dropped.
type DirectNet struct {
	Bridge  string
	Subnets []netip.Prefix
}

// ChainPlan is one of hardend's chains in the filter table.
type ChainPlan struct {
	Name string
	// Hooks are the chains that may hold the one jump into this chain, in
	// order of preference; the first that exists is used (IPv6: DOCKER-USER
	// where Docker made one — 27+ — else FORWARD, as Docker 20.10's ip6tables
	// has none).
	Hooks []string
	// Rules are the chain's rules, exactly as iptables-save prints them.
	Rules []string
}

// Block is one published port of one container, as the plan treats it.
type Block struct {
	Family    iptsave.Family
	Path      string // PathForward or PathInput
	Proto     string
	Port      uint16     // the host port: the connection's original destination port
	Addr      netip.Addr // the host address it is published on; invalid = every address
	Container string     // short container ID ("" when Docker's ID was not a valid one)
	Class     Class
}

// String renders the block for dry runs and logs.
func (b Block) String() string {
	addr := "*"
	if b.Addr.IsValid() {
		addr = b.Addr.String()
	}
	return fmt.Sprintf("%s %s %s:%d/%s container %s (%s)", b.Family, b.Path, addr, b.Port, b.Proto, idOrDash(b.Container), b.Class)
}

func idOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Family returns the plan of one family (nil when hardend keeps no chain there).
func (p *Plan) Family(f iptsave.Family) *FamilyPlan {
	if f == iptsave.IPv6 {
		return p.V6
	}
	return p.V4
}

// Chain returns a planned chain by name, or nil.
func (fp *FamilyPlan) Chain(name string) *ChainPlan {
	if fp == nil {
		return nil
	}
	for i := range fp.Chains {
		if fp.Chains[i].Name == name {
			return &fp.Chains[i]
		}
	}
	return nil
}

// Comments: every rule hardend writes carries one, starting "hardend ", with at
// most a validated short container ID after it — never a name, label or image.
const (
	commentJump     = "hardend jump"
	commentFastpath = "hardend fastpath"
	commentInternal = "hardend internal-if"
	commentDirect   = "hardend direct-routing"
	commentLoopback = "hardend loopback"
	commentDeny     = "hardend default-deny"
)

var (
	shortIDRe = regexp.MustCompile(`^[0-9a-f]{12}$`)
	// Interface names as iptables takes them: the kernel allows at most 15
	// bytes and forbids '/', ':' and blanks; a trailing '+' is iptables'
	// wildcard. Stricter than the kernel on purpose (no quotes, no leading
	// '-' or '!'): a name that fails is left out of the rules, with a note.
	ifNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}\+?$`)
)

// ValidShortID reports whether s is a 12-hex short container ID, the only
// container-derived string allowed into a rule.
func ValidShortID(s string) bool { return shortIDRe.MatchString(s) }

// ValidInterfaceName reports whether s can go into a rule as `-i`/`-o`.
func ValidInterfaceName(s string) bool {
	return ifNameRe.MatchString(s) && s != "." && s != ".."
}

var protos = map[string]bool{"tcp": true, "udp": true, "sctp": true}

// NewPlan renders the intent (policy + workloads + the daemon's facts) as hardend's
// chains. Pure: same input, same plan, byte for byte.
//
// Layout per family (filter table):
//
//	HARDEND-FORWARD, one jump at the top of DOCKER-USER (IPv6 without a
//	DOCKER-USER: FORWARD):
//	  1. non-NEW packets RETURN at once: only new connections are judged, so
//	     replies to the containers' own outbound connections always pass and
//	     an established flow costs one rule (FAULTS 11, 18);
//	  2. `interfaces: auto`: RETURN for loopback and Docker's bridges, so every
//	     other interface — including one added later — counts as external
//	     without a reconcile. An explicit interface list instead puts `-i` on
//	     every rule;
//	  3. direct routing (FAULTS 7): NEW connections to a Docker bridge that
//	     were not DNAT'd are dropped (a neighbour routing the container subnet
//	     via this host);
//	  4. DNAT'd NEW connections whose original destination was loopback
//	     (127.0.0.0/8, ::1: a neighbour reaching a 127.0.0.1-published port,
//	     moby#45610) are dropped;
//	  5. per published port, matched on the ORIGINAL destination —
//	     `-m conntrack --ctstate NEW --ctorigdstport HOSTPORT [--ctorigdst
//	     HOSTIP] -m conntrack --ctstate DNAT` — never --dport, which sees the
//	     container port after DNAT (FAULTS 11). `default: allow`: DROP for
//	     what policy says must be blocked. `default: deny`: RETURN for the
//	     public ports, then
//	  6. `default: deny`: DROP every other DNAT'd NEW connection — a container
//	     started a second ago is covered before hardend has even seen it.
//	HARDEND-INPUT (IPv6, userland-proxy on), one jump at the top of INPUT:
//	  steps 1, 2 and one DROP per blocked port that docker-proxy serves on
//	  [::]. Only ports a container publishes, never a host service: docker-proxy
//	  holds those sockets, nothing else can listen there.
//
// Consecutive ports of one binding (a `-p 8000-8100:...` range) become one
// `--ctorigdstport LO:HI` rule. multiport cannot be used: it matches the
// packet's port after DNAT, not the original one.
func NewPlan(in PlanInput) (*Plan, error) {
	fw := in.Firewall
	p := &Plan{Default: fw.Default}
	switch fw.Default {
	case "", "allow":
		p.Default = "allow"
	case "deny":
	default:
		return nil, fmt.Errorf("firewall plan: default %q: want allow or deny", fw.Default)
	}
	if in.Docker.FirewallBackend == "nftables" {
		p.Refusal = ErrNftablesBackend
	}
	var ext []string // explicit external interfaces; nil = auto
	for _, name := range fw.Interfaces.Names {
		if !ValidInterfaceName(name) {
			return nil, fmt.Errorf("firewall plan: policy interface %q is not a valid interface name", name)
		}
		ext = append(ext, name)
	}
	slices.Sort(ext)
	ext = slices.Compact(ext)
	if fw.Interfaces.Names != nil && len(ext) == 0 {
		return nil, errors.New("firewall plan: policy lists no external interface")
	}
	p.External = ext

	// Internal interfaces (auto mode): loopback and every Docker bridge.
	internal := []string{"lo"}
	for _, ifc := range in.Interfaces {
		if ifc.Loopback {
			internal = append(internal, ifc.Name)
		}
		for _, a := range ifc.Addrs {
			p.Local = append(p.Local, a.Addr().Unmap())
		}
	}
	type bridge struct {
		name             string
		net              Network
		routed4, routed6 bool
	}
	var bridges []bridge
	seenBridge := map[string]bool{}
	addBridge := func(n Network) {
		if n.Bridge == "" || seenBridge[n.Bridge] {
			return
		}
		if !ValidInterfaceName(n.Bridge) {
			p.Notes = append(p.Notes, fmt.Sprintf("network %s: bridge name %q is not a valid interface name: left out of the rules", shortNet(n.ID), clipNote(n.Bridge, 40)))
			return
		}
		seenBridge[n.Bridge] = true
		internal = append(internal, n.Bridge)
		br := bridge{name: n.Bridge, net: n}
		br.routed4 = n.GatewayMode4 == "routed"
		br.routed6 = n.GatewayMode6 == "routed"
		bridges = append(bridges, br)
	}
	for _, n := range in.Docker.Networks {
		addBridge(n)
	}
	// docker0 exists whenever Docker's default bridge does, even when the
	// caller passed no network list.
	addBridge(Network{Name: "bridge", Bridge: "docker0"})
	slices.Sort(internal)
	internal = slices.Compact(internal)
	slices.SortFunc(bridges, func(a, b bridge) int { return strings.Compare(a.name, b.name) })
	slices.SortFunc(p.Local, netip.Addr.Compare)
	p.Local = slices.Compact(p.Local)

	v6Forward := in.Docker.IPv6
	for _, n := range in.Docker.Networks {
		v6Forward = v6Forward || n.IPv6
	}

	// Bindings → blocks / allowed.
	for _, w := range in.Workloads {
		sid := w.ShortID()
		if !ValidShortID(sid) {
			p.Notes = append(p.Notes, fmt.Sprintf("container ID %q is not a Docker ID: its blocks carry no ID, its allowances are dropped", clipNote(sid, 24)))
			sid = ""
		}
		switch {
		case w.NetworkMode == "host":
			if len(w.Ports) > 0 {
				p.Notes = append(p.Notes, fmt.Sprintf("container %s uses the host network: its ports take the INPUT path, not DOCKER-USER; hardend does not filter them (HD-NET-006)", idOrDash(sid)))
			}
			continue
		case w.NetworkMode == "none" || strings.HasPrefix(w.NetworkMode, "container:"):
			continue
		}
		for _, port := range w.Ports {
			if !protos[port.Proto] || port.HostPort == 0 {
				if port.HostPort == 0 && protos[port.Proto] {
					p.Notes = append(p.Notes, fmt.Sprintf("container %s: %d/%s is published without a host port (routed mode): not filtered by port", idOrDash(sid), port.ContainerPort, port.Proto))
				}
				continue
			}
			class := Classify(fw, w, port)
			block := ShouldBlock(fw, class)
			addr := port.HostIP.Unmap()
			if addr.Zone() != "" {
				p.Notes = append(p.Notes, fmt.Sprintf("container %s: %s has a zoned host address: skipped", idOrDash(sid), port))
				continue
			}
			if addr.IsValid() && addr.IsLoopback() {
				continue // loopback-only: step 4 and direct-routing drops cover it
			}
			var fams []iptsave.Family
			switch {
			case !addr.IsValid():
				fams = []iptsave.Family{iptsave.IPv4, iptsave.IPv6}
			case addr.Is4():
				fams = []iptsave.Family{iptsave.IPv4}
			default:
				fams = []iptsave.Family{iptsave.IPv6}
			}
			if addr.IsValid() && addr.IsUnspecified() {
				addr = netip.Addr{}
			}
			if port.Ingress {
				// Swarm's routing mesh: DNAT'd in nat DOCKER-INGRESS, IPv4
				// only, never through docker-proxy.
				fams = []iptsave.Family{iptsave.IPv4}
			}
			for _, f := range fams {
				var paths []string
				if f == iptsave.IPv4 || v6Forward {
					paths = append(paths, PathForward)
				}
				if f == iptsave.IPv6 && in.Docker.UserlandProxy && !port.Ingress {
					paths = append(paths, PathInput)
				}
				for _, path := range paths {
					b := Block{Family: f, Path: path, Proto: port.Proto, Port: port.HostPort, Addr: addr, Container: sid, Class: class}
					if block {
						p.Blocks = append(p.Blocks, b)
					} else if p.Default == "deny" && sid != "" {
						p.Allowed = append(p.Allowed, b)
					}
				}
			}
		}
	}
	sortBlocks(p.Blocks)
	sortBlocks(p.Allowed)
	p.Blocks = slices.Compact(p.Blocks)
	p.Allowed = slices.Compact(p.Allowed)
	if p.Default == "deny" && in.Docker.UserlandProxy && slices.ContainsFunc(p.Blocks, func(b Block) bool { return b.Path == PathInput }) {
		p.Notes = append(p.Notes, "default deny over IPv6 via docker-proxy is enforced per port (INPUT carries host services too): a new container's IPv6 port is open until the next reconcile")
	}

	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		fp := &FamilyPlan{Family: f}
		for _, br := range bridges {
			fp.Bridges = append(fp.Bridges, br.name)
		}
		if f == iptsave.IPv4 || v6Forward {
			var rules []string
			c := newChain(ChainForward, ext)
			c.fastpath()
			c.gate(internal)
			for _, br := range bridges {
				routed := br.routed4
				if f == iptsave.IPv6 {
					routed = br.routed6
				}
				if routed {
					p.Notes = append(p.Notes, fmt.Sprintf("%s: network on %s is in routed gateway mode: direct routing to it is intended, not dropped", f, br.name))
					continue
				}
				c.add(fmt.Sprintf("-o %s -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT", br.name), commentDirect, "DROP")
				var subnets []netip.Prefix
				for _, s := range br.net.Subnets {
					if s.Addr().Is4() == (f == iptsave.IPv4) {
						subnets = append(subnets, s.Masked())
					}
				}
				fp.Direct = append(fp.Direct, DirectNet{Bridge: br.name, Subnets: subnets})
			}
			loop := "127.0.0.0/8"
			if f == iptsave.IPv6 {
				loop = "::1"
			}
			c.add("-m conntrack --ctstate NEW --ctorigdst "+loop+" -m conntrack --ctstate DNAT", commentLoopback, "DROP")
			if p.Default == "deny" {
				c.ports(p.Allowed, f, PathForward, "allow", "RETURN", true)
				c.add("-m conntrack --ctstate NEW -m conntrack --ctstate DNAT", commentDeny, "DROP")
			} else {
				c.ports(p.Blocks, f, PathForward, "block", "DROP", true)
			}
			rules = c.rules
			hooks := []string{"DOCKER-USER"}
			if f == iptsave.IPv6 {
				hooks = append(hooks, "FORWARD")
			}
			fp.Chains = append(fp.Chains, ChainPlan{Name: ChainForward, Hooks: hooks, Rules: rules})
		}
		if f == iptsave.IPv6 && slices.ContainsFunc(p.Blocks, func(b Block) bool { return b.Path == PathInput }) {
			c := newChain(ChainInput, ext)
			c.fastpath()
			c.gate(internal)
			c.ports(p.Blocks, f, PathInput, "block", "DROP", false)
			fp.Chains = append(fp.Chains, ChainPlan{Name: ChainInput, Hooks: []string{"INPUT"}, Rules: c.rules})
		}
		if len(fp.Chains) == 0 {
			continue
		}
		if f == iptsave.IPv4 {
			p.V4 = fp
		} else {
			p.V6 = fp
		}
	}
	return p, nil
}

func sortBlocks(bs []Block) {
	slices.SortFunc(bs, func(a, b Block) int {
		return cmp.Or(cmp.Compare(a.Family, b.Family), strings.Compare(a.Path, b.Path),
			strings.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port),
			a.Addr.Compare(b.Addr), strings.Compare(a.Container, b.Container), cmp.Compare(a.Class, b.Class))
	})
}

// chainBuilder renders rules in iptables-save's own canonical form (-i, -o,
// -p, then the matches in the order given, then the target) so that a read
// back compares byte for byte.
type chainBuilder struct {
	name  string
	ext   []string // explicit external interfaces; nil = auto (gate)
	rules []string
	seen  map[string]bool
}

func newChain(name string, ext []string) *chainBuilder {
	return &chainBuilder{name: name, ext: ext, seen: map[string]bool{}}
}

func (c *chainBuilder) emit(rule string) {
	if !c.seen[rule] {
		c.seen[rule] = true
		c.rules = append(c.rules, rule)
	}
}

func (c *chainBuilder) fastpath() {
	c.emit(fmt.Sprintf(`-A %s -m conntrack ! --ctstate NEW -m comment --comment "%s" -j RETURN`, c.name, commentFastpath))
}

// gate returns from the chain for internal interfaces (auto mode only).
func (c *chainBuilder) gate(internal []string) {
	if c.ext != nil {
		return
	}
	for _, ifc := range internal {
		c.emit(fmt.Sprintf(`-A %s -i %s -m comment --comment "%s" -j RETURN`, c.name, ifc, commentInternal))
	}
}

// add renders one rule for external traffic. body starts with -o, -p or -m
// (iptables-save prints -i, -o, -p before any match).
func (c *chainBuilder) add(body, comment, target string) {
	if c.ext == nil {
		c.emit(fmt.Sprintf(`-A %s %s -m comment --comment "%s" -j %s`, c.name, body, comment, target))
		return
	}
	for _, ifc := range c.ext {
		c.emit(fmt.Sprintf(`-A %s -i %s %s -m comment --comment "%s" -j %s`, c.name, ifc, body, comment, target))
	}
}

// ports renders the port rules of one family and path, merging consecutive
// ports of one container, protocol and address into a range.
func (c *chainBuilder) ports(bs []Block, f iptsave.Family, path, verb, target string, dnat bool) {
	type run struct {
		b      Block
		lo, hi uint16
	}
	var runs []run
	for _, b := range bs {
		if b.Family != f || b.Path != path {
			continue
		}
		if n := len(runs); n > 0 {
			last := &runs[n-1]
			if last.b.Proto == b.Proto && last.b.Addr == b.Addr && last.b.Container == b.Container {
				if b.Port == last.hi || (last.hi < 65535 && b.Port == last.hi+1) {
					last.hi = b.Port
					continue
				}
			}
		}
		runs = append(runs, run{b: b, lo: b.Port, hi: b.Port})
	}
	// Blocks are sorted by port first; a merge only happens between
	// neighbours of that order, so the rule order stays by port.
	for _, r := range runs {
		var sb strings.Builder
		sb.WriteString("-p " + r.b.Proto + " -m conntrack --ctstate NEW")
		if r.b.Addr.IsValid() {
			sb.WriteString(" --ctorigdst " + r.b.Addr.String())
		}
		sb.WriteString(" --ctorigdstport " + strconv.Itoa(int(r.lo)))
		if r.hi != r.lo {
			sb.WriteString(":" + strconv.Itoa(int(r.hi)))
		}
		if dnat {
			sb.WriteString(" -m conntrack --ctstate DNAT")
		}
		comment := "hardend " + verb
		if r.b.Container != "" {
			comment += " " + r.b.Container
		}
		c.add(sb.String(), comment, target)
	}
}

// jumpRule is the canonical jump from hook into chain.
func jumpRule(hook, chain string) string {
	return fmt.Sprintf(`-A %s -m comment --comment "%s" -j %s`, hook, commentJump, chain)
}

// RestoreText renders the family's chains as a complete iptables-restore
// --noflush batch for a rule set that holds none of them yet, each jump in the
// chain's first hook (the golden form; Diff renders the batch against what the
// kernel actually holds).
func (fp *FamilyPlan) RestoreText() string {
	if fp == nil {
		return ""
	}
	var sb strings.Builder
	sb.WriteString("*filter\n")
	for _, c := range fp.Chains {
		fmt.Fprintf(&sb, ":%s - [0:0]\n", c.Name)
	}
	for _, c := range fp.Chains {
		for _, r := range c.Rules {
			sb.WriteString(r + "\n")
		}
	}
	for _, c := range fp.Chains {
		sb.WriteString(insertJump(c.Hooks[0], c.Name) + "\n")
	}
	sb.WriteString("COMMIT\n")
	return sb.String()
}

// insertJump is the batch line putting the jump at the top of hook: always an
// insert, never an append (FAULTS 1: an appended rule sits below Docker
// 20.10's trailing RETURN and never matches).
func insertJump(hook, chain string) string {
	return "-I " + hook + " 1" + strings.TrimPrefix(jumpRule(hook, chain), "-A "+hook)
}

func shortNet(id string) string {
	if len(id) > 12 {
		id = id[:12]
	}
	if !ValidShortID(id) {
		return "?"
	}
	return id
}

func clipNote(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
