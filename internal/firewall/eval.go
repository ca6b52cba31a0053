package firewall

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// This file is the packet-path evaluator: a small symbolic interpreter of
// iptables rules. It walks one NEW connection (the first packet of it) through
// the hooks the kernel runs — raw, mangle and nat PREROUTING, the routing
// decision, then mangle/filter FORWARD or INPUT — following jumps, gotos,
// RETURNs and chain policies exactly as the kernel does.
//
// What is known about the packet is exact: the interface it arrives on, its
// family, protocol, destination address and port, and what DNAT made of them.
// What is not known is the sender: "anyone". A rule that matches on the source
// (an address, a set of sources) splits the walk in two — sources it matches and
// sources it does not — and so does a match this evaluator does not model. Each
// branch remembers the conditions it took, and ends in a leaf: delivered to a
// socket or a container, refused, dropped, rejected, or unknown. The caller
// (exposure.go) turns the leaves into a verdict: public when some branch with no
// condition on who sends gets through, restricted when only chosen sources do,
// unknown when it depends on something not modelled.

// maxDepth bounds nested jumps (the kernel rejects loops; a fabricated dump
// could hold one) and maxBranches the conditional forks of one walk.
const (
	maxDepth    = 64
	maxBranches = 4096
	// maxSteps bounds the rules one walk evaluates: jumps without loops can
	// still nest a chain of N jumps to a chain of N jumps ... (N^depth rules).
	maxSteps = 1 << 18
)

// targetKind is what a rule's target does to the walk.
type targetKind uint8

const (
	tContinue targetKind = iota // no target, or one that does not decide (LOG, NFLOG, ...)
	tAccept
	tDrop
	tReject
	tReturn
	tJump
	tGoto
	tDNAT
	tRedirect
	tNotrack
	tMark
	tConnmark
	tUnknown // NFQUEUE, unmodelled targets: someone else decides
)

// condKind is one compiled condition of a rule.
type condKind uint8

const (
	cFalse condKind = iota // never holds (negated: always holds)
	cProto
	cSrc      // source address range: forks
	cDst      // destination address range: exact
	cIn       // ingress interface
	cOut      // egress interface
	cDport    // destination port
	cTCPFlags // the first packet is a SYN
	cCtState
	cCtOrigDst
	cCtOrigDport
	cCtReplSrc
	cCtReplSrcPort
	cCtProto
	cAddrTypeDst
	cAddrTypeSrc
	cSetDst   // a Docker ipset whose members are known (docker-ext-bridges-v4/v6)
	cMark     // packet mark
	cConnmark // conntrack mark
	cOpaqueSrc
	cAttacker // the sender chooses (source port, TTL, payload, pacing ...)
	cUnknown  // not modelled: forks, and a verdict depending on it is unknown
)

// ctstate bits.
const (
	stNew uint16 = 1 << iota
	stEstablished
	stRelated
	stInvalid
	stUntracked
	stSNAT
	stDNAT
)

var ctStateBits = map[string]uint16{
	"NEW": stNew, "ESTABLISHED": stEstablished, "RELATED": stRelated, "INVALID": stInvalid,
	"UNTRACKED": stUntracked, "SNAT": stSNAT, "DNAT": stDNAT,
}

// addrtype bits (only the ones a unicast packet can have matter).
const (
	atLocal uint16 = 1 << iota
	atUnicast
	atOther
)

type cond struct {
	kind    condKind
	neg     bool
	s       string // protocol or interface name
	wild    bool   // interface name ends in "+"
	lo, hi  netip.Addr
	pfxs    []netip.Prefix
	ports   []iptsave.PortRange
	bits    uint16
	limitIn bool   // addrtype --limit-iface-in
	val     uint32 // mark value
	mask    uint32 // mark mask
	key     string // identity of an opaque or unknown condition
	label   string // what it is, for evidence
}

type crule struct {
	r      *iptsave.Rule
	fam    iptsave.Family
	conds  []cond
	target targetKind
	chain  *cchain
	dnat   iptsave.DNATDest
	redir  uint16
	mark   markOp
	why    string // for tUnknown
}

// markOp is a MARK / CONNMARK target: new = (old &^ and) ^ xor, or a copy
// between the packet mark and the connection mark.
type markOp struct {
	and, xor uint32
	save     bool // CONNMARK --save-mark: ctmark = mark
	restore  bool // CONNMARK --restore-mark: mark = ctmark
}

type cchain struct {
	table, name string
	policy      string
	rules       []crule
}

type ctable struct {
	name   string
	chains map[string]*cchain
}

// program is one family's rules compiled once per scan.
type program struct {
	fam        iptsave.Family
	tables     map[string]*ctable
	unreadable map[string]string // table -> why it cannot be trusted
	why        string            // the whole family cannot be evaluated
}

// compile turns a parsed ruleset into a program. sets resolves Docker's own
// ipsets (their members are the bridge networks' subnets).
func compile(rs *iptsave.Ruleset, fam iptsave.Family, sets map[string][]netip.Prefix) *program {
	p := &program{fam: fam, tables: map[string]*ctable{}, unreadable: map[string]string{}}
	if rs == nil {
		p.why = fmt.Sprintf("the %s rules were not read", fam)
		return p
	}
	for _, name := range rs.Incompatible() {
		p.unreadable[name] = fmt.Sprintf("iptables-nft cannot show the %s %s table (\"incompatible, use 'nft' tool\"): its rules are unknown", fam, name)
	}
	for _, tname := range rs.Order {
		t := rs.Tables[tname]
		ct := &ctable{name: tname, chains: make(map[string]*cchain, len(t.Chains))}
		for _, cname := range t.Order {
			c := t.Chains[cname]
			ct.chains[cname] = &cchain{table: tname, name: cname, policy: c.Policy, rules: make([]crule, len(c.Rules))}
		}
		for _, cname := range t.Order {
			cc := ct.chains[cname]
			for i, r := range t.Chains[cname].Rules {
				cc.rules[i] = compileRule(r, fam, ct, sets)
			}
		}
		p.tables[tname] = ct
	}
	return p
}

func compileRule(r *iptsave.Rule, fam iptsave.Family, t *ctable, sets map[string][]netip.Prefix) crule {
	cr := crule{r: r, fam: fam}
	add := func(c cond) { cr.conds = append(cr.conds, c) }
	unknown := func(key, label string) { add(cond{kind: cUnknown, key: key, label: label}) }

	if r.Proto.Set {
		add(cond{kind: cProto, neg: r.Proto.Negated, s: normProto(r.Proto.Value)})
	}
	for _, a := range []struct {
		c    iptsave.Cond
		kind condKind
		flag string
	}{{r.Src, cSrc, "-s"}, {r.Dst, cDst, "-d"}} {
		if !a.c.Set {
			continue
		}
		p, ok := iptsave.ParseAddr(a.c.Value)
		if !ok {
			unknown(a.flag+" "+a.c.Value, fmt.Sprintf("address match %s %s", a.flag, a.c.Value))
			continue
		}
		lo, hi := prefixRange(p)
		add(cond{kind: a.kind, neg: a.c.Negated, lo: lo, hi: hi, label: p.String()})
	}
	for _, a := range []struct {
		c    iptsave.Cond
		kind condKind
	}{{r.In, cIn}, {r.Out, cOut}} {
		if a.c.Set {
			name, wild := strings.CutSuffix(a.c.Value, "+")
			add(cond{kind: a.kind, neg: a.c.Negated, s: name, wild: wild})
		}
	}
	if r.Fragment.Set {
		// -f matches second and later fragments; a connection's first packet is
		// never one.
		add(cond{kind: cFalse, neg: r.Fragment.Negated})
	}
	for _, m := range r.Matches {
		compileModule(&cr, m, sets)
	}
	// Conditions are ANDed: deciding the exact ones first means a rule that
	// cannot match never splits the walk on a source or an unknown.
	slices.SortStableFunc(cr.conds, func(a, b cond) int { return cmp.Compare(a.kind.forks(), b.kind.forks()) })
	compileTarget(&cr, t)
	return cr
}

// forks orders condition kinds: 0 for those decided from the packet, 1 for
// those that may split the walk.
func (k condKind) forks() int {
	switch k {
	case cSrc, cOpaqueSrc, cAttacker, cUnknown, cOut:
		return 1
	}
	return 0
}

// modelled match modules and what their unmodelled options mean.
var attackerModules = map[string]bool{
	// The sender shapes these freely, so a branch that needs them is open to
	// anyone: packet length, TTL/hop limit, TOS/DSCP/ECN, MSS, payload, and
	// rate or recency limits a patient sender stays under.
	"length": true, "ttl": true, "hl": true, "tos": true, "dscp": true, "ecn": true,
	"tcpmss": true, "string": true, "limit": true, "hashlimit": true, "recent": true,
	"connlimit": true, "statistic": true,
}

func compileModule(cr *crule, m iptsave.Module, sets map[string][]netip.Prefix) {
	add := func(c cond) { cr.conds = append(cr.conds, c) }
	unknownOpt := func(o iptsave.Option) {
		label := fmt.Sprintf("-m %s --%s", m.Name, o.Name)
		add(cond{kind: cUnknown, key: label + " " + strings.Join(o.Values, " "), label: label})
	}
	if m.Unsupported {
		add(cond{kind: cUnknown, key: "-m " + m.Name + " [unsupported revision]", label: "-m " + m.Name + " [unsupported revision]"})
		return
	}
	if attackerModules[m.Name] {
		add(cond{kind: cAttacker, label: "-m " + m.Name})
		return
	}
	for _, o := range m.Opts {
		v := ""
		if len(o.Values) > 0 {
			v = o.Values[0]
		}
		switch m.Name {
		case "comment":
			continue
		case "tcp", "udp", "sctp", "udplite", "dccp", "multiport":
			switch o.Name {
			case "dport", "destination-port", "dports", "destination-ports":
				pr, ok := iptsave.ParsePorts(v)
				if !ok {
					unknownOpt(o)
					continue
				}
				add(cond{kind: cDport, neg: o.Negated, ports: pr})
			case "sport", "source-port", "sports", "source-ports", "tcp-option":
				add(cond{kind: cAttacker, label: fmt.Sprintf("-m %s --%s %s", m.Name, o.Name, v)})
			case "ports":
				// Either port: the sender can always pick a matching source
				// port, so only the negation (neither port) constrains.
				pr, ok := iptsave.ParsePorts(v)
				if !ok {
					unknownOpt(o)
					continue
				}
				if o.Negated {
					add(cond{kind: cDport, neg: true, ports: pr})
				}
				add(cond{kind: cAttacker, label: "-m multiport --ports " + v})
			case "syn":
				add(cond{kind: cTCPFlags, neg: o.Negated, bits: 0x17, val: 0x02})
			case "tcp-flags":
				if len(o.Values) != 2 {
					unknownOpt(o)
					continue
				}
				mask, ok1 := tcpFlags(o.Values[0])
				comp, ok2 := tcpFlags(o.Values[1])
				if !ok1 || !ok2 {
					unknownOpt(o)
					continue
				}
				add(cond{kind: cTCPFlags, neg: o.Negated, bits: mask, val: uint32(comp)})
			default:
				unknownOpt(o)
			}
		case "conntrack", "state":
			switch o.Name {
			case "ctstate", "state":
				var bits uint16
				ok := true
				for s := range strings.SplitSeq(v, ",") {
					b, known := ctStateBits[s]
					ok = ok && known
					bits |= b
				}
				if !ok {
					unknownOpt(o)
					continue
				}
				add(cond{kind: cCtState, neg: o.Negated, bits: bits})
			case "ctorigdst", "ctreplsrc", "ctorigsrc", "ctrepldst":
				p, ok := iptsave.ParseAddr(v)
				if !ok {
					unknownOpt(o)
					continue
				}
				lo, hi := prefixRange(p)
				kind := map[string]condKind{"ctorigdst": cCtOrigDst, "ctreplsrc": cCtReplSrc, "ctorigsrc": cSrc, "ctrepldst": cSrc}[o.Name]
				add(cond{kind: kind, neg: o.Negated, lo: lo, hi: hi, label: p.String()})
			case "ctorigdstport", "ctreplsrcport":
				pr, ok := iptsave.ParsePorts(v)
				if !ok {
					unknownOpt(o)
					continue
				}
				kind := cCtOrigDport
				if o.Name == "ctreplsrcport" {
					kind = cCtReplSrcPort
				}
				add(cond{kind: kind, neg: o.Negated, ports: pr})
			case "ctorigsrcport", "ctrepldstport":
				add(cond{kind: cAttacker, label: "--" + o.Name + " " + v})
			case "ctproto":
				add(cond{kind: cCtProto, neg: o.Negated, s: normProto(v)})
			case "ctdir":
				add(cond{kind: cFalse, neg: o.Negated != (v == "ORIGINAL")})
			case "ctstatus":
				// The first packet of a connection has no status bit set yet.
				add(cond{kind: cFalse, neg: o.Negated != (v == "NONE")})
			default:
				unknownOpt(o)
			}
		case "addrtype":
			switch o.Name {
			case "dst-type", "src-type":
				var bits uint16
				for s := range strings.SplitSeq(v, ",") {
					switch s {
					case "LOCAL":
						bits |= atLocal
					case "UNICAST":
						bits |= atUnicast
					default:
						bits |= atOther
					}
				}
				kind := cAddrTypeDst
				if o.Name == "src-type" {
					kind = cAddrTypeSrc
				}
				add(cond{kind: kind, neg: o.Negated, bits: bits})
			case "limit-iface-in":
				for i := range cr.conds {
					if cr.conds[i].kind == cAddrTypeDst {
						cr.conds[i].limitIn = true
					}
				}
			case "limit-iface-out":
				// Only valid in OUTPUT/POSTROUTING; never on our path.
			default:
				unknownOpt(o)
			}
		case "set":
			if o.Name != "match-set" {
				if o.Name == "return-nomatch" || o.Name == "update-counters" || o.Name == "update-subcounters" {
					continue
				}
				unknownOpt(o)
				continue
			}
			if len(o.Values) < 2 {
				unknownOpt(o)
				continue
			}
			// The first flag says which address the set's first dimension
			// is; further dimensions (ports, interfaces) make it opaque.
			flags := o.Values[1]
			label := fmt.Sprintf("ipset %s (%s)", o.Values[0], flags)
			switch {
			case flags == "dst" && sets[o.Values[0]] != nil:
				add(cond{kind: cSetDst, neg: o.Negated, pfxs: sets[o.Values[0]], label: label})
			case flags == "src":
				add(cond{kind: cOpaqueSrc, neg: o.Negated, key: "set " + o.Values[0], label: label})
			default:
				add(cond{kind: cUnknown, neg: o.Negated, key: "set " + o.Values[0] + " " + o.Values[1], label: label + ": members unknown"})
			}
		case "iprange":
			lo, hi, ok := parseRange(v)
			switch {
			case !ok:
				unknownOpt(o)
			case o.Name == "src-range":
				add(cond{kind: cSrc, neg: o.Negated, lo: lo, hi: hi, label: v})
			case o.Name == "dst-range":
				add(cond{kind: cDst, neg: o.Negated, lo: lo, hi: hi})
			default:
				unknownOpt(o)
			}
		case "mark", "connmark":
			if o.Name != "mark" {
				unknownOpt(o)
				continue
			}
			val, mask, ok := parseMark(v)
			if !ok {
				unknownOpt(o)
				continue
			}
			kind := cMark
			if m.Name == "connmark" {
				kind = cConnmark
			}
			add(cond{kind: kind, neg: o.Negated, val: val, mask: mask})
		case "policy":
			switch o.Name {
			case "dir", "strict":
				continue
			case "pol":
				// Traffic from "anyone" is not IPsec-protected.
				add(cond{kind: cFalse, neg: o.Negated != (v == "none")})
			default:
				unknownOpt(o)
			}
		case "pkttype":
			if o.Name != "pkt-type" {
				unknownOpt(o)
				continue
			}
			add(cond{kind: cFalse, neg: o.Negated != (v == "unicast")})
		case "geoip":
			if o.Name == "src-cc" || o.Name == "source-country" {
				add(cond{kind: cOpaqueSrc, neg: o.Negated, key: "geoip " + v, label: "geoip source country " + v})
				continue
			}
			unknownOpt(o)
		case "physdev":
			// A routed packet (an external interface to a Docker bridge) has
			// no bridge ports: every physdev test is false, only its negation
			// holds.
			add(cond{kind: cFalse, neg: o.Negated})
		default:
			unknownOpt(o)
		}
	}
	if len(m.Opts) == 0 && m.Name != "comment" {
		switch m.Name {
		case "tcp", "udp", "sctp", "conntrack", "state", "addrtype", "multiport", "mark", "set", "iprange", "policy":
		default:
			add(cond{kind: cUnknown, key: "-m " + m.Name, label: "-m " + m.Name})
		}
	}
}

func compileTarget(cr *crule, t *ctable) {
	r := cr.r
	if r.TargetUnsupported {
		cr.target, cr.why = tUnknown, fmt.Sprintf("target %s [unsupported revision]", r.Target)
		return
	}
	switch r.Target {
	case "":
		cr.target = tContinue
	case "ACCEPT":
		cr.target = tAccept
	case "DROP":
		cr.target = tDrop
	case "REJECT":
		cr.target = tReject
	case "RETURN":
		cr.target = tReturn
	case "DNAT":
		if d, ok := r.ToDestination(); ok {
			cr.target, cr.dnat = tDNAT, d
		} else {
			cr.target, cr.why = tUnknown, "DNAT without a readable --to-destination"
		}
	case "REDIRECT":
		cr.target = tRedirect
		if o, ok := r.TargetOpt("to-ports"); ok && len(o.Values) > 0 {
			if pr, ok := iptsave.ParsePorts(strings.ReplaceAll(o.Values[0], "-", ":")); ok {
				cr.redir = pr[0].Lo
			}
		}
	case "NOTRACK":
		cr.target = tNotrack
	case "CT":
		if _, ok := r.TargetOpt("notrack"); ok {
			cr.target = tNotrack
		} else {
			cr.target = tContinue
		}
	case "MARK", "CONNMARK":
		cr.mark, cr.target = compileMark(r)
		if cr.target == tUnknown {
			cr.why = r.Target + " with options hardend does not model"
		}
	case "LOG", "NFLOG", "ULOG", "TRACE", "AUDIT", "SET", "CLASSIFY", "DSCP", "TOS", "TTL", "HL",
		"TCPMSS", "CHECKSUM", "SECMARK", "CONNSECMARK", "IDLETIMER", "LED", "TEE", "RATEEST",
		"MASQUERADE", "SNAT", "NETMAP", "CLUSTERIP", "ECN", "TCPOPTSTRIP", "SYNPROXY":
		// They do not decide a NEW packet's fate on our path (SNAT and
		// MASQUERADE live in POSTROUTING).
		cr.target = tContinue
	default:
		if c := t.chains[r.Target]; c != nil {
			cr.target, cr.chain = tJump, c
			if r.Goto {
				cr.target = tGoto
			}
			return
		}
		cr.target, cr.why = tUnknown, fmt.Sprintf("target %s decides outside the rules (userspace or an unmodelled extension)", r.Target)
	}
}

func compileMark(r *iptsave.Rule) (markOp, targetKind) {
	var op markOp
	kind := tMark
	if r.Target == "CONNMARK" {
		kind = tConnmark
	}
	if len(r.TargetOpts) != 1 || (len(r.TargetOpts[0].Values) == 0 && !strings.HasSuffix(r.TargetOpts[0].Name, "-mark")) {
		return op, tUnknown
	}
	o := r.TargetOpts[0]
	v := ""
	if len(o.Values) > 0 {
		v = o.Values[0]
	}
	switch o.Name {
	case "save-mark":
		op.save = true
		return op, kind
	case "restore-mark":
		op.restore = true
		return op, kind
	}
	val, mask, ok := parseMark(v)
	if !ok {
		return op, tUnknown
	}
	switch o.Name {
	case "set-xmark":
		op.and, op.xor = mask, val
	case "set-mark":
		op.and, op.xor = mask|val, val // (old &^ (mask|val)) ^ val == (old &^ mask) | val
	case "or-mark":
		op.and, op.xor = val, val
	case "and-mark":
		op.and = ^val
	case "xor-mark":
		op.xor = val
	default:
		return op, tUnknown
	}
	return op, kind
}

// ---- walking ----

// packet is what the kernel knows of the connection's first packet at a point of
// its path.
type packet struct {
	in, out   string
	outKnown  bool
	proto     string
	dst       netip.Addr
	dport     uint16
	origDst   netip.Addr
	origDport uint16
	dnat      bool
	untracked bool
	mark      uint32
	ctmark    uint32
}

// state is one branch of the walk.
type state struct {
	pkt   packet
	cons  *consNode
	trace *stepNode
}

// A constraint a branch took on something the evaluator does not know.
type consKind uint8

const (
	kSrcRange  consKind = iota // the source address is (not) in lo..hi
	kSrcOpaque                 // the source is (not) in a named set / country
	kAttacker                  // the sender chooses
	kUnknown                   // not modelled
)

type consNode struct {
	kind   consKind
	in     bool // the underlying condition (without the rule's "!") holds
	neg    bool // the rule negates it: it matches when in is false
	lo, hi netip.Addr
	key    string
	label  string // the underlying condition
	rule   *crule
	next   *consNode
}

// String says what the branch assumed: "source in 10.0.0.0/8", "not ipset x".
func (n *consNode) String() string {
	if n.in {
		return n.label
	}
	return "not " + n.label
}

type stepNode struct {
	s    Step
	next *stepNode
}

// outcome is how one hook's traversal ended.
type outcomeKind uint8

const (
	oAccept outcomeKind = iota
	oDrop
	oReject
	oDNAT
	oRedirect
	oUnknown
)

type outcome struct {
	kind  outcomeKind
	rule  *crule
	chain *cchain // the built-in chain whose policy decided, when rule is nil
	why   string
}

type frame struct {
	ch  *cchain
	idx int
}

// run is one walk of one packet through one family's program.
type run struct {
	p        *program
	ctx      *evalContext
	branches int
	steps    int
	overflow bool // maxBranches or maxSteps reached: some branches were not explored
	leaves   []leaf
}

func (ev *run) push(st state, s Step) state {
	st.trace = &stepNode{s: s, next: st.trace}
	return st
}

func (ev *run) ruleStep(cr *crule, note string) Step {
	return Step{Family: ev.p.fam.String(), Table: cr.r.Table, Chain: cr.r.Chain, Line: cr.r.Line, Rule: cr.r.Text, Note: note}
}

// hook traverses one built-in chain of one table.
func (ev *run) hook(table, chain string, st state, next func(state, outcome)) {
	if why, bad := ev.p.unreadable[table]; bad {
		next(st, outcome{kind: oUnknown, why: why})
		return
	}
	t := ev.p.tables[table]
	if t == nil {
		next(st, outcome{kind: oAccept, why: "no " + table + " table"}) // nothing to traverse
		return
	}
	c := t.chains[chain]
	if c == nil {
		next(st, outcome{kind: oAccept, why: "no " + table + " " + chain + " chain"})
		return
	}
	ev.walk([]frame{{ch: c}}, st, next)
}

// walk runs rules from the top frame on. It returns after every branch it
// started has called done.
func (ev *run) walk(fr []frame, st state, done func(state, outcome)) {
	for {
		top := &fr[len(fr)-1]
		if top.idx >= len(top.ch.rules) {
			if len(fr) == 1 {
				done(st, policyOutcome(top.ch))
				return
			}
			fr = fr[:len(fr)-1]
			continue
		}
		cr := &top.ch.rules[top.idx]
		top.idx++
		ev.steps++
		if ev.steps > maxSteps {
			ev.overflow = true
			done(st, outcome{kind: oUnknown, rule: cr, why: fmt.Sprintf("more than %d rule evaluations on one path", maxSteps)})
			return
		}
		res, ci, _ := ev.matchFast(cr, &st, 0)
		switch res {
		case triNo:
			continue
		case triFork:
			ev.fork(cr, ci, fr, st, done)
			return
		}
		if !ev.target(cr, &fr, &st, done) {
			return
		}
	}
}

// target applies a matched rule's target. It reports whether the walk goes on
// (with fr and st updated) or has ended (done was called).
func (ev *run) target(cr *crule, fr *[]frame, st *state, done func(state, outcome)) bool {
	switch cr.target {
	case tContinue:
		return true
	case tAccept:
		done(ev.push(*st, ev.ruleStep(cr, "")), outcome{kind: oAccept, rule: cr})
	case tDrop:
		done(ev.push(*st, ev.ruleStep(cr, "")), outcome{kind: oDrop, rule: cr})
	case tReject:
		done(ev.push(*st, ev.ruleStep(cr, "")), outcome{kind: oReject, rule: cr})
	case tDNAT:
		done(ev.push(*st, ev.ruleStep(cr, "")), outcome{kind: oDNAT, rule: cr})
	case tRedirect:
		done(ev.push(*st, ev.ruleStep(cr, "")), outcome{kind: oRedirect, rule: cr})
	case tUnknown:
		done(ev.push(*st, ev.ruleStep(cr, "")), outcome{kind: oUnknown, rule: cr, why: cr.why})
	case tReturn:
		if len(*fr) == 1 {
			done(*st, policyOutcome((*fr)[0].ch))
			return false
		}
		*fr = (*fr)[:len(*fr)-1]
		return true
	case tJump, tGoto:
		if len(*fr) >= maxDepth {
			done(*st, outcome{kind: oUnknown, rule: cr, why: fmt.Sprintf("jumps nested deeper than %d", maxDepth)})
			return false
		}
		*st = ev.push(*st, ev.ruleStep(cr, ""))
		if cr.target == tGoto {
			(*fr)[len(*fr)-1] = frame{ch: cr.chain}
		} else {
			*fr = append(*fr, frame{ch: cr.chain})
		}
		return true
	case tNotrack:
		st.pkt.untracked = true
		*st = ev.push(*st, ev.ruleStep(cr, "connection not tracked: no NAT, state UNTRACKED"))
		return true
	case tMark:
		st.pkt.mark = (st.pkt.mark &^ cr.mark.and) ^ cr.mark.xor
		return true
	case tConnmark:
		switch {
		case cr.mark.save:
			st.pkt.ctmark = st.pkt.mark
		case cr.mark.restore:
			st.pkt.mark = st.pkt.ctmark
		default:
			st.pkt.ctmark = (st.pkt.ctmark &^ cr.mark.and) ^ cr.mark.xor
		}
		return true
	}
	return false
}

// fork splits the walk at condition ci of cr, which the branch cannot decide:
// one branch where the rule matches (its target applies), one where it does not
// (the walk goes on below it).
func (ev *run) fork(cr *crule, ci int, fr []frame, st state, done func(state, outcome)) {
	ev.matchSlow(cr, ci, st, func(s state) {
		f := append([]frame(nil), fr...)
		if ev.target(cr, &f, &s, done) {
			ev.walk(f, s, done)
		}
	}, func(s state) {
		ev.walk(append([]frame(nil), fr...), s, done)
	})
}

// matchSlow matches conditions from ci on, forking as needed, and calls yes or
// no once per resulting branch.
func (ev *run) matchSlow(cr *crule, ci int, st state, yes, no func(state)) {
	res, at, c := ev.matchFast(cr, &st, ci)
	switch res {
	case triYes:
		yes(st)
		return
	case triNo:
		no(st)
		return
	}
	ev.branches++
	if ev.branches > maxBranches {
		// Stop splitting: the branch that skips the rule goes on, and the
		// verdict says it is incomplete.
		ev.overflow = true
		no(st)
		return
	}
	y := st
	yc := *c
	yc.in, yc.next, yc.rule = !c.neg, st.cons, cr
	y.cons = &yc
	y = ev.push(y, ev.ruleStep(cr, "assuming "+yc.String()))
	ev.matchSlow(cr, at+1, y, yes, no)
	n := st
	nc := *c
	nc.in, nc.next, nc.rule = c.neg, st.cons, cr
	n.cons = &nc
	no(n)
}

type tri uint8

const (
	triNo tri = iota
	triYes
	triFork
)

// matchFast evaluates cr's conditions from ci on. On a fork it returns the
// index of the condition and the constraint it would add (in = true meaning the
// condition, negation included, holds).
func (ev *run) matchFast(cr *crule, st *state, ci int) (tri, int, *consNode) {
	for i := ci; i < len(cr.conds); i++ {
		c := &cr.conds[i]
		r, cn := ev.test(c, st)
		switch r {
		case triNo:
			return triNo, i, nil
		case triFork:
			return triFork, i, cn
		}
	}
	return triYes, len(cr.conds), nil
}

// test decides one condition for a branch.
func (ev *run) test(c *cond, st *state) (tri, *consNode) {
	pk := &st.pkt
	b := func(v bool) (tri, *consNode) {
		if v != c.neg {
			return triYes, nil
		}
		return triNo, nil
	}
	switch c.kind {
	case cFalse:
		return b(false)
	case cProto:
		return b(c.s == "all" || c.s == pk.proto)
	case cCtProto:
		return b(c.s == "all" || c.s == pk.proto)
	case cDst:
		return b(inRange(pk.dst, c.lo, c.hi))
	case cCtOrigDst:
		return b(inRange(pk.origDst, c.lo, c.hi))
	case cCtReplSrc:
		return b(inRange(pk.dst, c.lo, c.hi))
	case cIn:
		return b(ifaceMatch(c.s, c.wild, pk.in))
	case cOut:
		if !pk.outKnown {
			return ev.opaque(st, c, kUnknown, "-o "+c.s+" (the egress interface is unknown)")
		}
		return b(ifaceMatch(c.s, c.wild, pk.out))
	case cDport:
		return b(portsContain(c.ports, pk.dport))
	case cCtOrigDport:
		return b(portsContain(c.ports, pk.origDport))
	case cCtReplSrcPort:
		return b(portsContain(c.ports, pk.dport))
	case cTCPFlags:
		if pk.proto != "tcp" {
			return triNo, nil
		}
		return b(0x02&c.bits == uint16(c.val)) // the first packet carries SYN only
	case cCtState:
		var have uint16
		switch {
		case pk.untracked:
			have = stUntracked
		default:
			have = stNew
			if pk.dnat {
				have |= stDNAT
			}
		}
		return b(have&c.bits != 0)
	case cAddrTypeDst:
		var have uint16
		if ev.ctx.isLocal(pk.dst, pk.in, c.limitIn) {
			have = atLocal
		} else {
			have = atUnicast
		}
		return b(have&c.bits != 0)
	case cAddrTypeSrc:
		// The sender is a unicast address somewhere else.
		return b(c.bits&atUnicast != 0)
	case cSetDst:
		for _, p := range c.pfxs {
			if p.Contains(pk.dst) {
				return b(true)
			}
		}
		return b(false)
	case cMark:
		return b(pk.mark&c.mask == c.val)
	case cConnmark:
		return b(pk.ctmark&c.mask == c.val)
	case cSrc:
		return ev.source(st, c)
	case cOpaqueSrc:
		return ev.opaque(st, c, kSrcOpaque, c.label)
	case cAttacker:
		return ev.opaque(st, c, kAttacker, c.label)
	case cUnknown:
		return ev.opaque(st, c, kUnknown, c.label)
	}
	return ev.opaque(st, c, kUnknown, "unmodelled condition")
}

// opaque decides a condition the branch has already taken a side on (the same
// set, the same unknown match in another rule); otherwise it forks.
func (ev *run) opaque(st *state, c *cond, kind consKind, label string) (tri, *consNode) {
	key := c.key
	if key == "" {
		key = label
	}
	for k := st.cons; k != nil; k = k.next {
		if k.kind == kind && k.key == key {
			if k.in != c.neg {
				return triYes, nil
			}
			return triNo, nil
		}
	}
	return triFork, &consNode{kind: kind, key: key, label: label, neg: c.neg}
}

// source decides "the source address is in lo..hi" (negated by c.neg) against
// what the branch already assumed of the source.
func (ev *run) source(st *state, c *cond) (tri, *consNode) {
	full := c.lo == familyFirst(c.lo) && c.hi == familyLast(c.hi)
	in := func(v bool) (tri, *consNode) {
		if v != c.neg {
			return triYes, nil
		}
		return triNo, nil
	}
	if full {
		return in(true)
	}
	for k := st.cons; k != nil; k = k.next {
		if k.kind != kSrcRange {
			continue
		}
		if k.in {
			if k.hi.Less(c.lo) || c.hi.Less(k.lo) {
				return in(false) // disjoint from where the source is
			}
			if !k.lo.Less(c.lo) && !c.hi.Less(k.hi) {
				return in(true) // inside
			}
		} else if !c.lo.Less(k.lo) && !k.hi.Less(c.hi) {
			return in(false) // the source is known to be outside a superset
		}
	}
	return triFork, &consNode{kind: kSrcRange, lo: c.lo, hi: c.hi, label: "source in " + c.label, neg: c.neg}
}

// ---- the whole path ----

// leafKind is where a branch ended.
type leafKind uint8

const (
	lDelivered leafKind = iota // a container or a listening socket got the SYN
	lRefused                   // the host answered with a reset: nothing listens
	lDropped
	lRejected
	lUnknown
)

type leaf struct {
	kind     leafKind
	pkt      packet
	forward  bool      // delivered by routing (to a container address) rather than locally
	listener *Listener // local delivery
	rule     *crule
	chain    *cchain
	why      string
	cons     *consNode
	trace    *stepNode
}

func (ev *run) leaf(st state, l leaf) {
	l.pkt, l.cons, l.trace = st.pkt, st.cons, st.trace
	ev.leaves = append(ev.leaves, l)
}

func (ev *run) end(st state, o outcome) {
	switch o.kind {
	case oDrop:
		ev.leaf(st, leaf{kind: lDropped, rule: o.rule, chain: o.chain})
	case oReject:
		ev.leaf(st, leaf{kind: lRejected, rule: o.rule})
	default:
		ev.leaf(st, leaf{kind: lUnknown, rule: o.rule, why: o.why})
	}
}

// start walks a NEW connection's first packet from the wire to its end.
func (ev *run) start(pk packet) {
	if ev.p.why != "" {
		ev.leaves = append(ev.leaves, leaf{kind: lUnknown, why: ev.p.why, pkt: pk})
		return
	}
	pk.origDst, pk.origDport = pk.dst, pk.dport
	st := state{pkt: pk}
	ev.hook("raw", "PREROUTING", st, func(st state, o outcome) {
		if o.kind != oAccept {
			ev.end(st, o)
			return
		}
		ev.hook("mangle", "PREROUTING", st, func(st state, o outcome) {
			if o.kind != oAccept {
				ev.end(st, o)
				return
			}
			if st.pkt.untracked {
				ev.route(st)
				return
			}
			ev.hook("nat", "PREROUTING", st, func(st state, o outcome) {
				switch o.kind {
				case oAccept:
				case oDNAT:
					d := o.rule.dnat
					if d.Addr.IsValid() {
						st.pkt.dst = d.Addr
					}
					if d.Ports.Lo != 0 {
						st.pkt.dport = d.Ports.Lo
					}
					st.pkt.dnat = true
				case oRedirect:
					// REDIRECT sends to the primary address of the incoming
					// interface; for the walk only "local" matters.
					st.pkt.dst = st.pkt.origDst
					if o.rule.redir != 0 {
						st.pkt.dport = o.rule.redir
					}
					st.pkt.dnat = true
					ev.local(st)
					return
				default:
					ev.end(st, o)
					return
				}
				ev.route(st)
			})
		})
	})
}

// route is the kernel's routing decision after PREROUTING.
func (ev *run) route(st state) {
	pk := &st.pkt
	if ev.ctx.isLocal(pk.dst, "", false) {
		if pk.dst.IsLoopback() && !ev.ctx.routeLocalnet {
			// ip_route_input: a loopback destination from a real interface is a
			// martian unless route_localnet is set.
			st = ev.push(st, Step{Family: ev.p.fam.String(), Note: fmt.Sprintf("kernel: %s arriving on %s is a martian destination (route_localnet=0): dropped", pk.dst, pk.in)})
			ev.leaf(st, leaf{kind: lDropped, why: "martian destination"})
			return
		}
		ev.local(st)
		return
	}
	if pk.dst.IsLoopback() {
		ev.leaf(st, leaf{kind: lDropped, why: "loopback destination"})
		return
	}
	pk.out, pk.outKnown = ev.ctx.egress(pk.dst)
	ev.hook("mangle", "FORWARD", st, func(st state, o outcome) {
		if o.kind != oAccept {
			ev.end(st, o)
			return
		}
		ev.hook("filter", "FORWARD", st, func(st state, o outcome) {
			if o.kind != oAccept {
				ev.end(st, o)
				return
			}
			ev.leaf(st, leaf{kind: lDelivered, forward: true, rule: o.rule, chain: o.chain, why: o.why})
		})
	})
}

// local is the INPUT path: the packet is for the host itself.
func (ev *run) local(st state) {
	ev.hook("mangle", "INPUT", st, func(st state, o outcome) {
		if o.kind != oAccept {
			ev.end(st, o)
			return
		}
		ev.hook("filter", "INPUT", st, func(st state, o outcome) {
			if o.kind != oAccept {
				ev.end(st, o)
				return
			}
			l := ev.ctx.listener(ev.p.fam, st.pkt.proto, st.pkt.dst, st.pkt.dport)
			if l == nil {
				ev.leaf(st, leaf{kind: lRefused, rule: o.rule, chain: o.chain, why: o.why})
				return
			}
			ev.leaf(st, leaf{kind: lDelivered, listener: l, rule: o.rule, chain: o.chain, why: o.why})
		})
	})
}

func policyOutcome(c *cchain) outcome {
	switch c.policy {
	case "DROP":
		return outcome{kind: oDrop, chain: c}
	case "ACCEPT", "-", "":
		return outcome{kind: oAccept, chain: c}
	}
	return outcome{kind: oUnknown, chain: c, why: fmt.Sprintf("chain %s policy %q", c.name, c.policy)}
}

// ---- small helpers ----

func normProto(p string) string {
	switch strings.ToLower(p) {
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "132":
		return "sctp"
	case "0", "all":
		return "all"
	}
	return strings.ToLower(p)
}

func prefixRange(p netip.Prefix) (netip.Addr, netip.Addr) {
	p = p.Masked()
	lo := p.Addr()
	b := lo.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	hi, _ := netip.AddrFromSlice(b)
	return lo, hi
}

func parseRange(v string) (netip.Addr, netip.Addr, bool) {
	a, b, ok := strings.Cut(v, "-")
	lo, err1 := netip.ParseAddr(a)
	if !ok {
		return lo, lo, err1 == nil
	}
	hi, err2 := netip.ParseAddr(b)
	if err1 != nil || err2 != nil || lo.BitLen() != hi.BitLen() || hi.Less(lo) {
		return netip.Addr{}, netip.Addr{}, false
	}
	return lo, hi, true
}

func inRange(a, lo, hi netip.Addr) bool {
	if !a.IsValid() || a.BitLen() != lo.BitLen() {
		return false
	}
	return !a.Less(lo) && !hi.Less(a)
}

func familyFirst(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

func familyLast(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

func ifaceMatch(name string, wild bool, iface string) bool {
	if wild {
		return strings.HasPrefix(iface, name)
	}
	return iface == name
}

func portsContain(prs []iptsave.PortRange, p uint16) bool {
	for _, pr := range prs {
		if pr.Contains(p) {
			return true
		}
	}
	return false
}

func tcpFlags(s string) (uint16, bool) {
	var bits uint16
	for f := range strings.SplitSeq(s, ",") {
		switch f {
		case "FIN":
			bits |= 0x01
		case "SYN":
			bits |= 0x02
		case "RST":
			bits |= 0x04
		case "PSH":
			bits |= 0x08
		case "ACK":
			bits |= 0x10
		case "URG":
			bits |= 0x20
		case "ECE":
			bits |= 0x40
		case "CWR":
			bits |= 0x80
		case "ALL":
			bits |= 0xff
		case "NONE":
		default:
			return 0, false
		}
	}
	return bits, true
}

// parseMark parses "0x10/0xff", "16", "0x10".
func parseMark(v string) (val, mask uint32, ok bool) {
	a, m, hasMask := strings.Cut(v, "/")
	x, err := strconv.ParseUint(a, 0, 32)
	if err != nil {
		return 0, 0, false
	}
	mask = 0xffffffff
	if hasMask {
		y, err := strconv.ParseUint(m, 0, 32)
		if err != nil {
			return 0, 0, false
		}
		mask = uint32(y)
	}
	return uint32(x), mask, true
}
