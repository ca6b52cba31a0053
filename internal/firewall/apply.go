package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// How the agent drives the remediation (one scan):
//
//	rules, err := backend.Read(ctx)                 // once per scan, shared with the exposure analysis
//	plan, err := firewall.NewPlan(input)            // pure
//	results = append(results, firewall.Net005Results(firewall.Net005Input{...})...)
//	res, err := backend.Apply(ctx, plan, rules)     // enforce mode / --remediate
//	ch, err := firewall.Diff(plan, rules)           // --dry-run instead: pure, nothing written
//	fmt.Print(ch.Render())
//
// and between scans, every few seconds, backend.Drift(ctx, plan): when it
// reports Drifted(), Apply again. `hardend firewall reset` is backend.Reset.

// Errors of Apply that callers decide on.
var (
	// ErrNoDockerUser: the IPv4 filter table has no DOCKER-USER chain (dockerd
	// not started yet, `iptables: false`, a flushed rule set before Docker put
	// its chains back). Nothing is written: a rule in a chain nobody jumps to
	// protects nothing, and creating DOCKER-USER ourselves would make Docker
	// skip its FORWARD jump at its next start (FAULTS 2).
	ErrNoDockerUser = errors.New("no DOCKER-USER chain in the IPv4 filter table: Docker's chains are not there, nothing written")
	// ErrVerify: the rules read back after a write differ from the plan.
	ErrVerify = errors.New("hardend's rules read back differ from the plan")
	// ErrInert: hardend's rules are in place but DOCKER-USER sees no traffic
	// (FORWARD has no jump to it, FAULTS 2): the host is NOT protected.
	ErrInert = errors.New("hardend's rules are in place but inert")
	// ErrWrongVariant: the rules given to Apply were read with another
	// iptables variant than the backend's.
	ErrWrongVariant = errors.New("rules were read with another iptables variant")
)

// Changes is what Apply would do to go from the current rules to the plan:
// per family one iptables-restore --noflush batch ("" = nothing to write), and
// the conntrack entries to delete afterwards. A dry run prints it.
type Changes struct {
	V4, V6 string
	// Problems are the differences that made the batches.
	Problems []Problem
	// Deletions: conntrack entries of ports the plan blocks that the current
	// rules did not block (FAULTS 10), and of flows into bridges whose
	// direct-routing drop is new.
	Deletions []Deletion
	// Local are the host's addresses (Plan.Local): their own flows are kept.
	Local []netip.Addr
}

// Batch returns the batch of one family.
func (c *Changes) Batch(f iptsave.Family) string {
	if f == iptsave.IPv6 {
		return c.V6
	}
	return c.V4
}

// Empty reports whether nothing would be written.
func (c *Changes) Empty() bool { return c.V4 == "" && c.V6 == "" }

// Render is the dry-run text: the exact batches and the conntrack deletions.
func (c *Changes) Render() string {
	var sb strings.Builder
	if c.Empty() {
		sb.WriteString("# hardend's rules already match the plan: nothing to write\n")
	}
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		if batch := c.Batch(f); batch != "" {
			tool := "iptables-restore"
			if f == iptsave.IPv6 {
				tool = "ip6tables-restore"
			}
			fmt.Fprintf(&sb, "# %s --noflush <<EOF\n%sEOF\n", tool, batch)
		}
	}
	for _, d := range c.Deletions {
		sb.WriteString("# then delete conntrack entries: " + d.String() + "\n")
	}
	return sb.String()
}

// Diff computes the changes from current to the plan. Pure. It refuses (no
// changes, an error) when the plan must not be applied or when a chain's hook
// is missing (IPv4 DOCKER-USER).
func Diff(plan *Plan, current *Rules) (*Changes, error) {
	if plan.Refusal != nil {
		return nil, plan.Refusal
	}
	ch := &Changes{Local: plan.Local}
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		batch, problems, err := diffFamily(plan.Family(f), f, current.family(f))
		if err != nil {
			return nil, err
		}
		ch.Problems = append(ch.Problems, problems...)
		if f == iptsave.IPv4 {
			ch.V4 = batch
		} else {
			ch.V6 = batch
		}
		ch.Deletions = append(ch.Deletions, newDeletions(plan, f, current.family(f))...)
	}
	return ch, nil
}

// diffFamily renders the batch that turns rs into the plan for one family:
// refill every chain that differs (`:CHAIN - [0:0]` flushes an existing chain
// inside the same atomic commit), delete every jump into a HARDEND- chain that
// is not the one canonical jump, insert the jump at position 1 where it is
// missing, remove stale HARDEND- chains. Rules hardend does not own are never
// named in the batch, and a canonical jump that is present is never moved —
// not even below a foreign rule (FAULTS 13: report, do not fight).
func diffFamily(fp *FamilyPlan, f iptsave.Family, rs *iptsave.Ruleset) (string, []Problem, error) {
	problems, _, _ := inspectFamily(fp, f, rs)
	if len(problems) == 0 {
		return "", nil, nil
	}
	for _, p := range problems {
		if p.Kind == ProblemNoHook {
			if f == iptsave.IPv4 {
				return "", problems, ErrNoDockerUser
			}
			return "", problems, fmt.Errorf("%s: %s", f, p)
		}
	}
	var decl, dels, ins, drop []string
	planned := map[string]bool{}
	keep := map[*iptsave.Rule]bool{}
	if fp != nil {
		for _, c := range fp.Chains {
			planned[c.Name] = true
			hook := resolveHook(c.Hooks, rs)
			got, ok := chainRules(rs, "filter", c.Name)
			if !ok || !slices.Equal(got, c.Rules) {
				decl = append(decl, ":"+c.Name+" - [0:0]")
				decl = append(decl, c.Rules...)
			}
			want := jumpRule(hook, c.Name)
			// A jump below Docker's own rules in a built-in chain is deleted
			// (it is not kept) and inserted again at the top.
			move := slices.ContainsFunc(problems, func(p Problem) bool {
				return p.Kind == ProblemJumpBelowDocker && p.Family == f && p.Chain == c.Name
			})
			found := false
			for _, j := range jumpsInto(rs, "filter", c.Name) {
				if !move && !found && j.Chain == hook && j.Text == want {
					found = true
					keep[j] = true
				}
			}
			if !found {
				ins = append(ins, insertJump(hook, c.Name))
			}
		}
	}
	for _, name := range ownedChains(rs, "filter") {
		for _, j := range jumpsInto(rs, "filter", name) {
			if !keep[j] {
				dels = append(dels, "-D "+strings.TrimPrefix(j.Text, "-A "))
			}
		}
		if !planned[name] {
			drop = append(drop, name)
		}
	}
	var sb strings.Builder
	sb.WriteString("*filter\n")
	for _, l := range decl {
		sb.WriteString(l + "\n")
	}
	for _, l := range dels {
		sb.WriteString(l + "\n")
	}
	for _, l := range ins {
		sb.WriteString(l + "\n")
	}
	for _, name := range drop {
		sb.WriteString("-F " + name + "\n")
	}
	for _, name := range drop {
		sb.WriteString("-X " + name + "\n")
	}
	sb.WriteString("COMMIT\n")
	return sb.String(), problems, nil
}

// ApplyResult says what Apply did.
type ApplyResult struct {
	Changes *Changes
	// Written are the families a batch was written to (in order).
	Written []iptsave.Family
	// ConntrackDeleted counts the conntrack entries deleted.
	ConntrackDeleted int
	// After is the state read back after writing (or the current state when
	// nothing was written): shadows and inertness stay visible here.
	After DriftReport
}

// Apply makes the kernel hold the plan: it diffs against current (the scan's
// one read; nil = read now), writes each family that differs in ONE
// iptables-restore --noflush batch, reads the family back and compares it with
// the plan byte for byte (never `-C`, FAULTS 15), then deletes the conntrack
// entries of newly blocked ports so that established connections die too
// (FAULTS 10). Idempotent: when nothing differs it runs no program at all.
//
// It refuses, writing nothing, when the plan does (Docker's nftables backend),
// when the IPv4 DOCKER-USER chain is missing, or when Docker's chains are in
// the other iptables variant as well (FAULTS 4). A crash between the IPv4 and
// IPv6 writes leaves whole, valid chains in one family: the next Apply adopts
// them and writes only what is missing (FAULTS 14).
//
// It returns ErrInert (with the result) when everything was written but
// FORWARD does not jump to DOCKER-USER: the caller must report the host as
// unprotected, not as applied (FAULTS 2).
func (b *Backend) Apply(ctx context.Context, plan *Plan, current *Rules) (*ApplyResult, error) {
	if plan.Refusal != nil {
		return nil, plan.Refusal
	}
	if current == nil {
		var err error
		if current, err = b.Read(ctx); err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
	}
	if current.Backend != "" && current.Backend != string(b.cfg.Variant) {
		return nil, fmt.Errorf("apply: %w: %s, backend is %s", ErrWrongVariant, current.Backend, b.cfg.Variant)
	}
	ch, err := Diff(plan, current)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	res := &ApplyResult{Changes: ch}
	if ch.Empty() {
		res.After = Inspect(plan, current)
		return res, inertErr(res.After)
	}
	if err := b.checkOtherVariant(ctx); err != nil {
		return res, fmt.Errorf("apply: %w", err)
	}
	after := &Rules{Backend: current.Backend, V4: current.V4, V6: current.V6}
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		if f == iptsave.IPv6 && len(res.Written) > 0 && b.Hooks.BetweenFamilies != nil {
			b.Hooks.BetweenFamilies()
		}
		batch := ch.Batch(f)
		if batch == "" {
			continue
		}
		rs, err := b.writeFamily(ctx, plan, f, batch)
		if err != nil {
			return res, fmt.Errorf("apply: %w", err)
		}
		res.Written = append(res.Written, f)
		if f == iptsave.IPv4 {
			after.V4 = rs
		} else {
			after.V6 = rs
		}
	}
	res.After = Inspect(plan, after)
	if len(ch.Deletions) > 0 {
		n, err := b.deleteConntrack(ctx, ch.Deletions, plan.Local)
		res.ConntrackDeleted = n
		if err != nil {
			return res, fmt.Errorf("apply: rules written and verified, but %w", err)
		}
	}
	return res, inertErr(res.After)
}

func inertErr(d DriftReport) error {
	if len(d.Inert) > 0 {
		return fmt.Errorf("%w: %s", ErrInert, strings.Join(d.Inert, "; "))
	}
	return nil
}

// writeFamily writes one batch, reads the family back and verifies it. A batch
// that fails for another reason than the lock (a jump it deletes vanished
// since the read: someone flushed DOCKER-USER meanwhile) is recomputed from a
// fresh read and tried once more.
func (b *Backend) writeFamily(ctx context.Context, plan *Plan, f iptsave.Family, batch string) (*iptsave.Ruleset, error) {
	err := b.restore(ctx, f, []byte(batch))
	if err != nil && !errors.Is(err, ErrLocked) && ctx.Err() == nil {
		rs, rerr := b.readFamily(ctx, f, "")
		if rerr != nil {
			return nil, fmt.Errorf("%w (and re-reading failed: %v)", err, rerr)
		}
		batch2, _, derr := diffFamily(plan.Family(f), f, rs)
		if derr != nil {
			return nil, derr
		}
		if batch2 == "" {
			err = nil
		} else {
			err = b.restore(ctx, f, []byte(batch2))
		}
	}
	if err != nil {
		return nil, err
	}
	rs, err := b.readFamily(ctx, f, "")
	if err != nil {
		return nil, fmt.Errorf("read back: %w", err)
	}
	if problems, _, _ := inspectFamily(plan.Family(f), f, rs); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.String()
		}
		return rs, fmt.Errorf("%w: %s", ErrVerify, strings.Join(msgs, "; "))
	}
	return rs, nil
}

// checkOtherVariant refuses to write when Docker's chains are also in the
// other iptables variant (FAULTS 4): one of the two is dead weight, and
// writing to the wrong one reports "applied" while protecting nothing. A
// missing other variant is fine.
func (b *Backend) checkOtherVariant(ctx context.Context) error {
	other := VariantLegacy
	if b.cfg.Variant == VariantLegacy {
		other = VariantNFT
	}
	cfg := b.cfg
	cfg.Variant = other
	ob, err := NewBackend(cfg)
	if err != nil {
		return nil //nolint:nilerr // the other variant is not installed: nothing to clash with
	}
	rs, err := ob.readFamily(ctx, iptsave.IPv4, "")
	if err != nil {
		return fmt.Errorf("check the %s variant for Docker's chains: %w", other, err)
	}
	if hasDockerChains(rs) {
		return fmt.Errorf("%w; backend is %s: refusing to write", ErrBothVariants, b.cfg.Variant)
	}
	return nil
}

// chainProbe is one NEW connection from an external interface, for evaluating
// hardend's own chain.
type chainProbe struct {
	in    string // ingress interface; "" = an external one no rule names
	proto string
	port  uint16
	addr  netip.Addr // original destination; invalid = "any address"
	dnat  bool
}

// blockedNow reports whether the current rules already drop external NEW
// connections to the block's port: hardend's chain holds a DROP that matches,
// and a jump leads into the chain. Unsure counts as not blocked, so that at
// worst a conntrack entry is deleted once too often.
func blockedNow(compiled map[string][]ownRule, bl Block, ext []string, live map[string]bool) bool {
	chain := ChainForward
	if bl.Path == PathInput {
		chain = ChainInput
	}
	c := compiled[chain]
	if c == nil || !live[chain] {
		return false
	}
	ins := ext
	if len(ins) == 0 {
		ins = []string{""}
	}
	for _, in := range ins {
		pk := chainProbe{in: in, proto: bl.Proto, port: bl.Port, addr: bl.Addr, dnat: bl.Path == PathForward}
		if !chainDrops(c, pk) {
			return false
		}
	}
	return true
}

// ownRule is a rule of hardend's chain, its conditions parsed once so that
// judging many ports against many rules stays cheap (FAULTS 18).
type ownRule struct {
	r *iptsave.Rule
	// opaque: a condition no probe answers (-o, -s, -d, -f, a match other
	// than conntrack and comment).
	opaque bool
	conds  []ownCond
}

type ownCond struct {
	name    string // ctstate, ctorigdstport, ctorigdst
	negated bool
	states  []string
	ports   []iptsave.PortRange
	pfx     netip.Prefix
	bad     bool // unparsable or unknown: the probe cannot answer it
}

func compileOwn(c *iptsave.Chain) []ownRule {
	if c == nil {
		return nil
	}
	out := make([]ownRule, 0, len(c.Rules))
	for _, r := range c.Rules {
		or := ownRule{r: r, opaque: r.Out.Set || r.Src.Set || r.Dst.Set || r.Fragment.Set}
		for _, m := range r.Matches {
			switch m.Name {
			case "comment":
				continue
			case "conntrack":
			default:
				or.opaque = true
				continue
			}
			for _, o := range m.Opts {
				oc := ownCond{name: o.Name, negated: o.Negated, bad: len(o.Values) == 0}
				if !oc.bad {
					switch o.Name {
					case "ctstate":
						oc.states = strings.Split(o.Values[0], ",")
					case "ctorigdstport":
						var ok bool
						oc.ports, ok = iptsave.ParsePorts(o.Values[0])
						oc.bad = !ok
					case "ctorigdst":
						var err error
						oc.pfx, err = parsePrefixOrAddr(o.Values[0])
						oc.bad = err != nil
					default:
						oc.bad = true
					}
				}
				or.conds = append(or.conds, oc)
			}
		}
		out = append(out, or)
	}
	return out
}

func chainDrops(rules []ownRule, pk chainProbe) bool {
	for _, or := range rules {
		match, sure := or.matches(pk)
		switch or.r.Target {
		case "DROP", "REJECT":
			if match && sure {
				return true
			}
		default:
			// RETURN / ACCEPT / anything else: when it may match, the
			// connection may leave the chain unblocked.
			if match {
				return false
			}
		}
	}
	return false
}

// matches evaluates a rule of hardend's own shape against a probe. sure is
// false when the rule has a condition the probe cannot answer.
func (or ownRule) matches(pk chainProbe) (match, sure bool) {
	r := or.r
	if r.In.Set && ifaceMatches(r.In.Value, pk.in) == r.In.Negated {
		return false, true
	}
	if r.Proto.Set && (r.Proto.Value == pk.proto) == r.Proto.Negated {
		return false, true
	}
	sure = !or.opaque
	for _, c := range or.conds {
		if c.bad {
			sure = false
			continue
		}
		var ok bool
		switch c.name {
		case "ctstate":
			for _, s := range c.states {
				ok = ok || s == "NEW" || (s == "DNAT" && pk.dnat)
			}
		case "ctorigdstport":
			for _, pr := range c.ports {
				ok = ok || pr.Contains(pk.port)
			}
		case "ctorigdst":
			if !pk.addr.IsValid() {
				sure = false
				continue
			}
			ok = c.pfx.Contains(pk.addr)
		}
		if ok == c.negated {
			return false, true
		}
	}
	return true, sure
}

func ifaceMatches(pattern, name string) bool {
	if name == "" {
		return false
	}
	if p, ok := strings.CutSuffix(pattern, "+"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// liveChains says which of hardend's chains traffic reaches now: the chain has
// a jump, and nothing above the jump lets traffic through first.
func liveChains(fp *FamilyPlan, f iptsave.Family, rs *iptsave.Ruleset) map[string]bool {
	live := map[string]bool{}
	for _, name := range []string{ChainForward, ChainInput} {
		live[name] = len(jumpsInto(rs, "filter", name)) > 0
	}
	problems, shadows, inert := inspectFamily(fp, f, rs)
	for _, p := range problems {
		switch p.Kind {
		case ProblemJumpMissing, ProblemJumpBelowDocker, ProblemNoHook:
			live[p.Chain] = false
		}
	}
	for _, s := range shadows {
		live[s.Over] = false
		if s.Over == "DOCKER-USER" {
			live[ChainForward] = false
		}
	}
	if len(inert) > 0 {
		live[ChainForward] = false
	}
	return live
}

// newDeletions lists the conntrack deletions for ports (and directly routed
// bridges) the plan blocks in family f that the current rules did not.
func newDeletions(plan *Plan, f iptsave.Family, rs *iptsave.Ruleset) []Deletion {
	var out []Deletion
	seen := map[Deletion]bool{}
	add := func(d Deletion) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	fp := plan.Family(f)
	// Chains as planned and live: every planned block is blocked already.
	if problems, shadows, inert := inspectFamily(fp, f, rs); len(problems) == 0 && len(shadows) == 0 && len(inert) == 0 {
		return nil
	}
	ext := plan.External
	live := liveChains(fp, f, rs)
	compiled := map[string][]ownRule{
		ChainForward: compileOwn(rs.Chain("filter", ChainForward)),
		ChainInput:   compileOwn(rs.Chain("filter", ChainInput)),
	}
	for _, bl := range plan.Blocks {
		if bl.Family != f || blockedNow(compiled, bl, ext, live) {
			continue
		}
		d := Deletion{Family: f, Path: bl.Path, Proto: bl.Proto, Port: bl.Port}
		if bl.Addr.IsValid() {
			d.Dst = netip.PrefixFrom(bl.Addr, bl.Addr.BitLen())
		}
		add(d)
	}
	if fp == nil {
		return out
	}
	current, _ := chainRules(rs, "filter", ChainForward)
	for _, dn := range fp.Direct {
		rule := ""
		if c := fp.Chain(ChainForward); c != nil {
			for _, r := range c.Rules {
				if strings.Contains(r, " -o "+dn.Bridge+" ") && strings.Contains(r, commentDirect) {
					rule = r
					break
				}
			}
		}
		if rule != "" && live[ChainForward] && slices.Contains(current, rule) {
			continue
		}
		for _, s := range dn.Subnets {
			add(Deletion{Family: f, Path: PathDirect, Dst: s})
		}
	}
	return out
}
