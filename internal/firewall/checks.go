package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// The HD-NET checks built on the exposure analysis: 001, 002, 006, 007 per port
// (and per host-network container), 003 per address family, 004 once. HD-NET-005
// (hardend's own rules) is the remediation's (net005.go).
//
// Port subjects (stable across container restarts; documented in docs/checks.md):
//
//	Kind: "port"
//	ID:   <short container ID>/<host binding>/<proto>/<ipv4|ipv6>
//	      host binding: "8080" for every address, "127.0.0.1:8080" or
//	      "[::1]:8080" for one, "routed:80" (no host port: the container port
//	      published on its own address), "host:8084" (a host-network socket)
//	Name: "<container name> <hostip>:<port>/<proto> (ipv4|ipv6)"

// AuditInput is what the HD-NET checks need beyond the exposure.
type AuditInput struct {
	Input
	// Backend is HD-NET-004's decision (DecideBackend); nil when the two
	// variants were not read.
	Backend *BackendDecision
}

// Audit evaluates the exposure once and returns every result of HD-NET-001,
// 002, 003, 004, 006 and 007, with the exposure itself (the remediation plans
// from it).
func Audit(in AuditInput) ([]check.Result, *Exposure) {
	x := Evaluate(in.Input)
	x.SortPorts()
	var out []check.Result
	out = append(out, PortResults(x)...)
	out = append(out, Net003Results(in.Input)...)
	out = append(out, Net004Result(in.Input, in.Backend))
	out = append(out, Net006Results(x)...)
	return out, x
}

// PortSubject names one port result.
func PortSubject(pe *PortExposure) check.Subject {
	w, p := pe.Workload, pe.Port
	var bind string
	switch {
	case pe.HostNetwork:
		bind = "host:" + strconv.Itoa(int(p.HostPort))
	case p.HostPort == 0:
		bind = "routed:" + strconv.Itoa(int(p.ContainerPort))
	case !p.HostIP.IsValid() || p.HostIP.IsUnspecified():
		bind = strconv.Itoa(int(p.HostPort))
	default:
		bind = netip.AddrPortFrom(p.HostIP, p.HostPort).String()
	}
	shown := p.HostIP
	if !shown.IsValid() || (shown.IsUnspecified() && familyOf(shown) != pe.Family) {
		shown = netip.IPv4Unspecified()
		if pe.Family == iptsave.IPv6 {
			shown = netip.IPv6Unspecified()
		}
	}
	name := fmt.Sprintf("%s %s/%s (%s)", w.Name, netip.AddrPortFrom(shown, p.HostPort), p.Proto, pe.Family)
	if p.HostPort == 0 {
		name = fmt.Sprintf("%s container port %d/%s (%s)", w.Name, p.ContainerPort, p.Proto, pe.Family)
	}
	if familyOf(shown) != pe.Family {
		name = fmt.Sprintf("%s %s/%s (%s, container address)", w.Name, netip.AddrPortFrom(shown, p.HostPort), p.Proto, pe.Family)
	}
	return check.Subject{Kind: check.KindPort, ID: fmt.Sprintf("%s/%s/%s/%s", w.ShortID(), bind, p.Proto, pe.Family), Name: name}
}

// PortResults returns HD-NET-001, 002 and 007 for every port of the exposure.
func PortResults(x *Exposure) []check.Result {
	var out []check.Result
	for i := range x.Ports {
		pe := &x.Ports[i]
		subj := PortSubject(pe)
		out = append(out, net001(x, pe, subj), net002(x, pe, subj), net007(x, pe, subj))
	}
	return out
}

func net001(x *Exposure, pe *PortExposure, subj check.Subject) check.Result {
	fw := x.in.Policy
	class := Classify(fw, *pe.Workload, pe.Port)
	if !ShouldBlock(fw, class) {
		why := "policy lists it public"
		if class == Unlisted {
			why = "policy does not list it, and firewall.default is allow (HD-NET-007 reports it)"
		}
		return Net001.Pass(subj, fmt.Sprintf("%s; reachability: %s", why, pe.Verdict))
	}
	reason := "policy lists it internal"
	if class == Unlisted {
		reason = "firewall.default is deny and policy does not list it public"
	}
	worst := pe.Worst()
	switch {
	case pe.Verdict == VerdictUnknown:
		return Net001.Err(subj, reason+"; reachability could not be decided: "+pathLine(worst))
	case !pe.Verdict.Reachable():
		return Net001.Pass(subj, reason+"; not reachable from outside: "+pathSummary(pe))
	}
	ev := reason + "; reachable from outside:\n" + reachableEvidence(pe)
	rem := remediation001(x, pe, class)
	if pe.Verdict == VerdictRestricted {
		return Net001.FailAt(check.Medium, subj, ev, rem)
	}
	return Net001.Fail(subj, ev, rem)
}

func net007(x *Exposure, pe *PortExposure, subj check.Subject) check.Result {
	fw := x.in.Policy
	class := Classify(fw, *pe.Workload, pe.Port)
	switch {
	case class != Unlisted:
		return Net007.Pass(subj, "policy lists it "+class.String())
	case fw.Default == "deny":
		return Net007.Skip(subj, "firewall.default is deny: HD-NET-001 reports ports policy does not list public")
	case pe.Verdict == VerdictUnknown:
		return Net007.Err(subj, "policy does not list it, and its reachability could not be decided: "+pathLine(pe.Worst()))
	case !pe.Verdict.Reachable():
		return Net007.Pass(subj, "policy does not list it, but it is not reachable from outside: "+pathSummary(pe))
	}
	ev := "policy names it neither public nor internal; reachable from outside:\n" + reachableEvidence(pe)
	rem := "If it is meant to be reachable, list it as public in the policy:\n" + policySnippet("public", pe) +
		"\nIf not, list it under internal (and run `hardend --check --remediate`, or set firewall.mode: enforce), or publish it on loopback only: " + loopbackFlag(pe)
	return Net007.Fail(subj, ev, rem)
}

// net002 reports the paths the binding does not show.
func net002(x *Exposure, pe *PortExposure, subj check.Subject) check.Result {
	var hidden []string
	var rems []string
	var unknown []string
	addRem := func(s string) {
		if !slices.Contains(rems, s) {
			rems = append(rems, s)
		}
	}
	w, p := pe.Workload, pe.Port
	v6Addr := false
	for _, ep := range w.Endpoints {
		v6Addr = v6Addr || ep.IPv6.IsValid()
	}
	for i := range pe.Paths {
		pr := &pe.Paths[i]
		if pr.Verdict == VerdictUnknown && pr.Path != PathHostAddr {
			unknown = append(unknown, pathLine(pr))
			continue
		}
		if !pr.Verdict.Reachable() {
			continue
		}
		switch {
		case pr.Path == PathLoopbackAddr:
			hidden = append(hidden, fmt.Sprintf("published on %s, yet a neighbour on %s sending to %s reaches it: %s", p.HostIP, pr.Iface, pr.Dst, pathLine(pr)))
			addRem(fmt.Sprintf("Docker 28 and later drop this in raw PREROUTING; until then: iptables -t raw -I PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP"))
			addRem("or run `hardend --check --remediate` (or firewall.mode: enforce) with the port listed internal")
		case pr.Path == PathContainerAddr && !routedMode(x, w, pe.Family):
			hidden = append(hidden, fmt.Sprintf("the container's own address %s is reachable by direct routing from %s (a neighbour routing the container subnet via this host): %s", pr.Dst, pr.Iface, pathLine(pr)))
			bridge, _ := x.ctx.egress(pr.Dst.Addr())
			if bridge == "" {
				bridge = "<bridge>"
			}
			tool := "iptables"
			if pe.Family == iptsave.IPv6 {
				tool = "ip6tables"
			}
			addRem(fmt.Sprintf("drop forwarded NEW connections that were not DNAT'd: %s -I DOCKER-USER -i %s -o %s -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP", tool, pr.Iface, bridge))
			addRem("or run `hardend --check --remediate` (or set firewall.mode: enforce), which adds that drop")
			if x.in.Docker.DirectRouting {
				addRem(`or remove "allow-direct-routing": true from daemon.json`)
			}
		case pr.Path == PathHostAddr && pe.Family == iptsave.IPv6 && strings.HasPrefix(pr.Via, "docker-proxy") && !v6Addr:
			hidden = append(hidden, fmt.Sprintf("the container has no IPv6 address, yet [%s]:%d on %s reaches it through docker-proxy on [::] (INPUT path: DOCKER-USER never sees it): %s", pr.Dst.Addr(), pr.Dst.Port(), pr.Iface, pathLine(pr)))
			addRem(fmt.Sprintf("publish on IPv4 only: -p 0.0.0.0:%d:%d%s (docker-proxy then does not listen on [::])", p.HostPort, p.ContainerPort, protoSuffix(p.Proto)))
			addRem(fmt.Sprintf("or drop it on INPUT: ip6tables -I INPUT -i %s -p %s --dport %d -m conntrack --ctstate NEW -j DROP, or run `hardend --check --remediate`", pr.Iface, p.Proto, p.HostPort))
		case pr.Path == PathHostAddr && p.HostIP.IsValid() && p.HostIP.IsLoopback():
			hidden = append(hidden, fmt.Sprintf("published on %s, yet reachable at %s from %s: %s", p.HostIP, pr.Dst, pr.Iface, pathLine(pr)))
			addRem("run `hardend --check --remediate` (or firewall.mode: enforce) with the port listed internal")
		case pr.Path == PathHostAddr && p.HostIP.IsValid() && !p.HostIP.IsUnspecified() && x.ctx.local[p.HostIP] != pr.Iface && x.ctx.local[p.HostIP] != "":
			hidden = append(hidden, fmt.Sprintf("published on %s (an address of %s), yet a sender on %s reaches it (the kernel accepts a local address on any interface): %s", p.HostIP, x.ctx.local[p.HostIP], pr.Iface, pathLine(pr)))
			addRem(fmt.Sprintf("drop it on the other interfaces: iptables -I DOCKER-USER -i %s -m conntrack --ctstate NEW --ctorigdst %s --ctorigdstport %d -j DROP, or run `hardend --check --remediate`", pr.Iface, p.HostIP, p.HostPort))
		}
	}
	switch {
	case len(hidden) > 0:
		return Net002.Fail(subj, strings.Join(hidden, "\n"), strings.Join(rems, "\n"))
	case len(unknown) > 0:
		return Net002.Err(subj, "could not decide: "+strings.Join(unknown, "\n"))
	}
	return Net002.Pass(subj, "no path beyond the binding reaches it: "+pathSummary(pe))
}

// routedMode: the network publishes the container's own address on purpose
// (gateway mode routed): the direct path is the binding's own.
func routedMode(x *Exposure, w *Workload, fam iptsave.Family) bool {
	nets := map[string]*Network{}
	for i := range x.in.Docker.Networks {
		n := &x.in.Docker.Networks[i]
		nets[n.ID], nets[n.Name] = n, n
	}
	return routedOnly(*w, nets, fam)
}

// Net003Results checks, per address family Docker manages, that DOCKER-USER
// exists and that FORWARD jumps to it before any of Docker's chains (FAULTS.md
// 2): otherwise every DOCKER-USER rule — hardend's included — is inert and the
// host is unprotected.
func Net003Results(in Input) []check.Result {
	var out []check.Result
	for _, fam := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		rs := in.Rules.V4
		tool := "iptables"
		if fam == iptsave.IPv6 {
			rs, tool = in.Rules.V6, "ip6tables"
		}
		subj := check.Subject{Kind: check.KindHost, ID: fam.String(), Name: "DOCKER-USER (" + fam.String() + ")"}
		out = append(out, net003(in, fam, tool, rs, subj))
	}
	return out
}

func net003(in Input, fam iptsave.Family, tool string, rs *iptsave.Ruleset, subj check.Subject) check.Result {
	const unprotected = "host UNPROTECTED: "
	docker := hasDockerChains(rs)
	switch {
	case in.Docker.FirewallBackend == "nftables":
		return Net003.Fail(subj, unprotected+"Docker uses its nftables firewall backend, which has no DOCKER-USER chain (moby/moby#50051); rules must go into an nftables table of their own",
			"hardend reports only on this backend; filter in an nftables table of your own with a forward hook at priority filter - 1 or lower (see Docker's \"Docker with nftables\" documentation), or switch dockerd back to \"firewall-backend\": \"iptables\"")
	case rs == nil:
		if err := in.ReadErr[fam]; err != nil {
			return Net003.Err(subj, fmt.Sprintf("the %s rules could not be read: %v", tool, err))
		}
		return Net003.Err(subj, fmt.Sprintf("the %s rules were not read", tool))
	case slices.Contains(rs.Incompatible(), "filter"):
		return Net003.Err(subj, fmt.Sprintf("%s-nft cannot show the filter table (incompatible, use 'nft' tool)", tool))
	case !docker && fam == iptsave.IPv6 && !in.Docker.IP6Tables:
		return Net003.Skip(subj, "Docker manages no ip6tables rules (ip6tables off): HD-NET-002 reports IPv6 paths")
	case !docker && !in.Docker.IPTables:
		return Net003.Fail(subj, unprotected+fmt.Sprintf("\"iptables\": false: Docker manages no %s rules, so published ports are open through docker-proxy and direct routing, and no DOCKER-USER rule applies", tool),
			"remove \"iptables\": false from daemon.json and restart dockerd (HD-DMN-004), then run `hardend --check --remediate`")
	}
	c := rs.Chain("filter", "DOCKER-USER")
	fwd := rs.Chain("filter", "FORWARD")
	if c == nil {
		what := "the filter table has no DOCKER-USER chain"
		if docker {
			what += fmt.Sprintf(" although Docker's chains are there (%s)", dockerChainList(rs))
		}
		return Net003.Fail(subj, unprotected+what+": there is nothing to filter published ports with",
			fmt.Sprintf("restart dockerd so that it creates DOCKER-USER (Docker 20.10 creates none in ip6tables: upgrade, or create it and its jump by hand: %s -N DOCKER-USER; %s -I FORWARD 1 -j DOCKER-USER)", tool, tool))
	}
	jump := -1
	if fwd != nil {
		jump = fwd.IndexOf(func(r *iptsave.Rule) bool { return r.Target == "DOCKER-USER" })
	}
	if jump < 0 {
		return Net003.Fail(subj, unprotected+"FORWARD has no jump to DOCKER-USER: every DOCKER-USER rule is inert (a DOCKER-USER chain that existed before dockerd started keeps Docker from adding the jump: moby/libnetwork#2631)",
			fmt.Sprintf("%s -I FORWARD 1 -j DOCKER-USER (and remove DOCKER-USER from the saved rule set that dockerd finds at start)", tool))
	}
	j := fwd.Rules[jump]
	if jumpConditional(j) {
		return Net003.Fail(subj, unprotected+fmt.Sprintf("the jump to DOCKER-USER is conditional (filter FORWARD line %d: %s): traffic it does not match never meets DOCKER-USER", j.Line, j.Text),
			fmt.Sprintf("%s -I FORWARD 1 -j DOCKER-USER", tool))
	}
	for _, r := range fwd.Rules[:jump] {
		if bypassesDockerUser(r) {
			return Net003.Fail(subj, unprotected+fmt.Sprintf("the jump to DOCKER-USER (filter FORWARD line %d) is not first: filter FORWARD line %d (%s) decides before it, so DOCKER-USER rules do not apply to what it lets through", j.Line, r.Line, r.Text),
				fmt.Sprintf("%s -D FORWARD -j DOCKER-USER; %s -I FORWARD 1 -j DOCKER-USER", tool, tool))
		}
	}
	ev := fmt.Sprintf("filter FORWARD line %d: %s comes before Docker's chains", j.Line, j.Text)
	if n := len(c.Rules); n > 0 && c.Rules[n-1].Target == "RETURN" && !jumpConditional(c.Rules[n-1]) {
		ev += fmt.Sprintf("; DOCKER-USER ends with %q (line %d, Docker before 28.2): rules must be inserted (-I), never appended", c.Rules[n-1].Text, c.Rules[n-1].Line)
	}
	return Net003.Pass(subj, ev)
}

// jumpConditional reports whether a rule matches only some packets.
func jumpConditional(r *iptsave.Rule) bool {
	if r.Proto.Set || r.Src.Set || r.Dst.Set || r.In.Set || r.Out.Set || r.Fragment.Set {
		return true
	}
	for _, m := range r.Matches {
		if m.Name != "comment" {
			return true
		}
	}
	return false
}

// bypassesDockerUser reports whether a FORWARD rule placed above the DOCKER-USER jump can
// decide a new connection to a container before DOCKER-USER sees it: an ACCEPT
// that is not limited to established traffic, or a jump into one of Docker's
// chains (which accept published ports).
func bypassesDockerUser(r *iptsave.Rule) bool {
	if strings.HasPrefix(r.Target, "DOCKER") && r.Target != "DOCKER-USER" {
		return true
	}
	if r.Target != "ACCEPT" {
		return false
	}
	for _, o := range r.Opts("ctstate") {
		if !o.Negated && len(o.Values) > 0 && !strings.Contains(o.Values[0], "NEW") && !strings.Contains(o.Values[0], "DNAT") && !strings.Contains(o.Values[0], "UNTRACKED") {
			return false
		}
	}
	for _, o := range r.Opts("state") {
		if !o.Negated && len(o.Values) > 0 && !strings.Contains(o.Values[0], "NEW") && !strings.Contains(o.Values[0], "UNTRACKED") {
			return false
		}
	}
	return true
}

// Net004Result reports where Docker's chains are (HD-NET-004).
func Net004Result(in Input, d *BackendDecision) check.Result {
	subj := check.Subject{Kind: check.KindHost, ID: "iptables-variant", Name: "iptables variant of Docker's rules"}
	switch {
	case in.Docker.FirewallBackend == "nftables":
		return Net004.Skip(subj, "Docker uses its nftables firewall backend, not iptables (HD-NET-003 reports the missing DOCKER-USER)")
	case d == nil:
		return Net004.Err(subj, "iptables-legacy-save and iptables-nft-save were not read")
	case d.Docker == "neither" && !in.Docker.IPTables:
		return Net004.Skip(subj, "\"iptables\": false: Docker writes no iptables rules ("+strings.Join(d.Evidence, "; ")+")")
	case d.Docker == "unknown":
		return Net004.Err(subj, d.Problem+" ("+strings.Join(d.Evidence, "; ")+")")
	case d.OK:
		return Net004.Pass(subj, fmt.Sprintf("Docker's chains are in iptables-%s only (%s)", d.Docker, strings.Join(d.Evidence, "; ")))
	}
	var rem string
	switch d.Docker {
	case "both":
		rem = "find which variant dockerd uses (its rules carry live counters; `update-alternatives --display iptables`), flush Docker's chains from the other one (iptables-<other>-save to review first), and restart dockerd"
	case "neither":
		rem = "start dockerd with its iptables integration (\"iptables\": true), then check again"
	default:
		rem = fmt.Sprintf("make the system's iptables the one Docker uses: update-alternatives --set iptables /usr/sbin/iptables-%s (and ip6tables), so that firewall tools write where Docker's rules are", d.Docker)
	}
	return Net004.Fail(subj, d.Problem+" ("+strings.Join(d.Evidence, "; ")+")", rem)
}

// Net006Results reports host-network containers whose sockets are reachable
// from outside (HD-NET-006): no DNAT, so DOCKER-USER never sees their traffic.
func Net006Results(x *Exposure) []check.Result {
	var out []check.Result
	for _, w := range x.HostNetUnknown {
		out = append(out, Net006.Err(containerSubject(w), fmt.Sprintf("host network mode, but the listening sockets of its processes (pid %d) were not read", w.Pid)))
	}
	for i := range x.in.Workloads {
		w := &x.in.Workloads[i]
		if w.NetworkMode != "host" || slices.Contains(x.HostNetUnknown, w) {
			continue
		}
		var open, closed, unknown []string
		var ports []*PortExposure
		for j := range x.Ports {
			pe := &x.Ports[j]
			if pe.Workload != w || !pe.HostNetwork {
				continue
			}
			line := fmt.Sprintf("%s/%s (%s)", netip.AddrPortFrom(pe.Port.HostIP, pe.Port.HostPort), pe.Port.Proto, pe.Family)
			switch {
			case pe.Verdict.Reachable():
				open = append(open, line+": "+pathLine(pe.Worst()))
				ports = append(ports, pe)
			case pe.Verdict == VerdictUnknown:
				unknown = append(unknown, line+": "+pathLine(pe.Worst()))
			default:
				closed = append(closed, line+": "+pathLine(pe.Worst()))
			}
		}
		subj := containerSubject(w)
		switch {
		case len(open) > 0:
			var rems []string
			for _, pe := range ports {
				tool := "iptables"
				if pe.Family == iptsave.IPv6 {
					tool = "ip6tables"
				}
				for _, iface := range x.External {
					r := fmt.Sprintf("%s -I INPUT -i %s -p %s --dport %d -m conntrack --ctstate NEW -j DROP", tool, iface, pe.Port.Proto, pe.Port.HostPort)
					if !slices.Contains(rems, r) {
						rems = append(rems, r)
					}
				}
			}
			out = append(out, Net006.Fail(subj, "host network mode: no DNAT, so DOCKER-USER cannot protect these sockets, reachable from outside on the INPUT path:\n"+strings.Join(open, "\n"),
				"bind the service to 127.0.0.1 inside the container, or run it on a bridge network with -p 127.0.0.1:PORT:PORT, or drop it on INPUT (what hardend's DOCKER-USER rules cannot do):\n"+strings.Join(rems, "\n")))
		case len(unknown) > 0:
			out = append(out, Net006.Err(subj, "could not decide:\n"+strings.Join(unknown, "\n")))
		case len(closed) == 0:
			out = append(out, Net006.Pass(subj, "host network mode, no listening sockets"))
		default:
			out = append(out, Net006.Pass(subj, "host network mode; no socket reachable from outside:\n"+strings.Join(closed, "\n")))
		}
	}
	return out
}

func containerSubject(w *Workload) check.Subject {
	return check.Subject{Kind: check.KindContainer, ID: w.ShortID(), Name: w.Name}
}

// ---- evidence and remediation text ----

func pathLine(pr *PathResult) string {
	if pr == nil {
		return "no path evaluated (no external interface with an address of this family)"
	}
	var b strings.Builder
	if !pr.Dst.IsValid() {
		// No destination was evaluated: only the reason means anything.
		fmt.Fprintf(&b, "%s path: %s", pr.Path, pr.Verdict)
		if pr.Reason != "" {
			b.WriteString(" (" + pr.Reason + ")")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%s path to %s from %s: %s", pr.Path, pr.Dst, pr.Iface, pr.Verdict)
	if pr.Via != "" {
		b.WriteString(" via " + pr.Via)
	}
	if pr.Reason != "" {
		b.WriteString(" (" + pr.Reason + ")")
	}
	return b.String()
}

// reachableEvidence lists each reachable path with the rules that let it through.
func reachableEvidence(pe *PortExposure) string {
	var b strings.Builder
	for i := range pe.Paths {
		pr := &pe.Paths[i]
		if !pr.Verdict.Reachable() {
			continue
		}
		b.WriteString("- " + pathLine(pr) + "\n")
		for _, s := range pr.Evidence {
			b.WriteString("    " + s.String() + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// pathSummary is one line per distinct path verdict.
func pathSummary(pe *PortExposure) string {
	var parts []string
	for i := range pe.Paths {
		l := pathLine(&pe.Paths[i])
		if !slices.Contains(parts, l) {
			parts = append(parts, l)
		}
	}
	if len(parts) == 0 {
		return "no path evaluated"
	}
	return strings.Join(parts, "; ")
}

func protoSuffix(proto string) string {
	if proto == "tcp" {
		return ""
	}
	return "/" + proto
}

func loopbackFlag(pe *PortExposure) string {
	p := pe.Port
	if pe.HostNetwork {
		return "bind the service to 127.0.0.1 inside the container (host network mode)"
	}
	hp := p.HostPort
	if hp == 0 {
		hp = p.ContainerPort
	}
	return fmt.Sprintf("-p 127.0.0.1:%d:%d%s", hp, p.ContainerPort, protoSuffix(p.Proto))
}

func policySnippet(list string, pe *PortExposure) string {
	return fmt.Sprintf("firewall:\n  %s:\n    - container: %q\n      ports: [%q]", list, pe.Workload.Name, fmt.Sprintf("%d/%s", pe.Port.ContainerPort, pe.Port.Proto))
}

func remediation001(x *Exposure, pe *PortExposure, class Class) string {
	var b strings.Builder
	if x.in.Policy.Mode != "enforce" {
		fmt.Fprintf(&b, "run `hardend --check --remediate` once, or set firewall.mode: enforce in the policy: hardend then drops external NEW connections to it (policy %s)", map[Class]string{Internal: "lists it internal", Unlisted: "is default: deny"}[class])
	} else {
		b.WriteString("firewall.mode is enforce: hardend's rules should already drop it; HD-NET-005 says why they do not")
	}
	fmt.Fprintf(&b, "\nor publish it on loopback only: %s", loopbackFlag(pe))
	if !pe.HostNetwork && (!pe.Port.HostIP.IsValid() || pe.Port.HostIP.IsUnspecified()) {
		b.WriteString("\nor make loopback the default for every published port: daemon.json \"ip\": \"127.0.0.1\"")
	}
	if class == Unlisted {
		b.WriteString("\nif it must stay reachable, list it as public:\n" + policySnippet("public", pe))
	}
	return b.String()
}
