package firewall

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// Problem kinds: how hardend's own chains and jumps differ from the plan. Apply
// repairs every one of them.
const (
	ProblemNoHook       = "hook-missing"  // none of the chain's hooks exists (IPv4: DOCKER-USER missing)
	ProblemChainMissing = "chain-missing" // flushed away: a reboot, a firewall reload
	ProblemRulesDiffer  = "rules-differ"  // the chain holds other rules than the plan
	ProblemJumpMissing  = "jump-missing"  // `iptables -F DOCKER-USER`, a reload
	ProblemJumpExtra    = "jump-extra"    // a second jump, or one from the wrong chain
	ProblemStaleChain   = "stale-chain"   // a HARDEND- chain the plan no longer has
	// ProblemJumpBelowDocker: the jump sits in a built-in chain (IPv6 FORWARD
	// where Docker 20.10's ip6tables has no DOCKER-USER) and Docker inserted
	// its own rules above it — dockerd 20.10 does at every start. Apply moves
	// hardend's jump back to the top. Docker is not a foreign tool racing for
	// position 1: it inserts once per start, so this settles.
	ProblemJumpBelowDocker = "jump-below-docker"
)

// Problem is one difference between hardend's chains and the plan.
type Problem struct {
	Family iptsave.Family
	Kind   string
	Chain  string
	Detail string
}

// String renders the problem for evidence and logs.
func (p Problem) String() string {
	s := fmt.Sprintf("%s %s: %s", p.Family, p.Chain, p.Kind)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// Shadow is a rule hardend does not own, above one of hardend's jumps (or above
// FORWARD's jump to DOCKER-USER), that can let a NEW connection through before
// hardend's rules see it (FAULTS 13: ufw-docker, crowdsec and fail2ban insert
// at DOCKER-USER position 1). It is reported, never deleted or raced for the
// top position.
type Shadow struct {
	Family iptsave.Family
	Chain  string // the chain holding the foreign rule
	Over   string // the jump it sits above, e.g. "HARDEND-FORWARD"
	Rule   string // the rule as iptables-save printed it
}

// String renders the shadowing rule for evidence and logs.
func (s Shadow) String() string {
	return fmt.Sprintf("%s %s: %q above the jump to %s", s.Family, s.Chain, s.Rule, s.Over)
}

// DriftReport is the state of hardend's chains against the plan.
type DriftReport struct {
	// Problems: hardend's own chains and jumps are not as planned. Apply
	// repairs them.
	Problems []Problem
	// Shadows: foreign rules that bypass hardend's. Reported (HD-NET-005).
	Shadows []Shadow
	// Inert: hardend's rules are in place but see no traffic at all — FORWARD
	// has no jump to DOCKER-USER (FAULTS 2). The host is unprotected, never
	// "applied".
	Inert []string
}

// Drifted reports whether Apply has something to repair.
func (d DriftReport) Drifted() bool { return len(d.Problems) > 0 }

// Clean reports whether hardend's rules are in place, unshadowed and live.
func (d DriftReport) Clean() bool {
	return len(d.Problems) == 0 && len(d.Shadows) == 0 && len(d.Inert) == 0
}

// Drift checks hardend's chains and jumps against the plan: the agent calls it
// every few seconds to catch a flush (`iptables -F DOCKER-USER`), a firewall
// reload (`iptables-restore < baseline`), a reboot or a dockerd restart between
// two scans. It costs one iptables-save per family — a whole dump rather than
// `-t filter` or `-S CHAIN`, because naming a table makes iptables create it
// when it does not exist, and a status check must change nothing.
func (b *Backend) Drift(ctx context.Context, plan *Plan) (DriftReport, error) {
	if plan.Refusal != nil {
		return DriftReport{}, plan.Refusal
	}
	cur, err := b.Read(ctx)
	if err != nil {
		return DriftReport{}, fmt.Errorf("drift: %w", err)
	}
	return Inspect(plan, cur), nil
}

// Inspect compares hardend's chains and jumps in current with the plan. Pure.
func Inspect(plan *Plan, current *Rules) DriftReport {
	var d DriftReport
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		pr, sh, inert := inspectFamily(plan.Family(f), f, current.family(f))
		d.Problems = append(d.Problems, pr...)
		d.Shadows = append(d.Shadows, sh...)
		d.Inert = append(d.Inert, inert...)
	}
	return d
}

// builtinChains exist in every filter table, even before iptables created it.
var builtinChains = map[string]bool{"INPUT": true, "FORWARD": true, "OUTPUT": true}

// resolveHook picks the first of hooks present in the filter table.
func resolveHook(hooks []string, rs *iptsave.Ruleset) string {
	for _, h := range hooks {
		if builtinChains[h] || rs.HasChain("filter", h) {
			return h
		}
	}
	return ""
}

// chainRules returns the rule texts of a chain (nil when the chain is missing).
func chainRules(rs *iptsave.Ruleset, table, chain string) ([]string, bool) {
	c := rs.Chain(table, chain)
	if c == nil {
		return nil, false
	}
	out := make([]string, len(c.Rules))
	for i, r := range c.Rules {
		out[i] = r.Text
	}
	return out, true
}

// ownedChains lists the HARDEND- chains of a table, in dump order.
func ownedChains(rs *iptsave.Ruleset, table string) []string {
	if rs == nil || rs.Tables[table] == nil {
		return nil
	}
	var out []string
	for _, name := range rs.Tables[table].Order {
		if strings.HasPrefix(name, ChainPrefix) {
			out = append(out, name)
		}
	}
	return out
}

// jumpsInto returns the rules of table that jump (or goto) into chain, from
// chains hardend does not own.
func jumpsInto(rs *iptsave.Ruleset, table, chain string) []*iptsave.Rule {
	if rs == nil {
		return nil
	}
	var out []*iptsave.Rule
	for _, r := range rs.Jumps(table, chain) {
		if !strings.HasPrefix(r.Chain, ChainPrefix) {
			out = append(out, r)
		}
	}
	return out
}

func inspectFamily(fp *FamilyPlan, f iptsave.Family, rs *iptsave.Ruleset) (problems []Problem, shadows []Shadow, inert []string) {
	planned := map[string]bool{}
	if fp != nil {
		for _, c := range fp.Chains {
			planned[c.Name] = true
			hook := resolveHook(c.Hooks, rs)
			if hook == "" {
				problems = append(problems, Problem{Family: f, Kind: ProblemNoHook, Chain: c.Name,
					Detail: fmt.Sprintf("no %s chain to hold the jump (Docker's chains missing?)", strings.Join(c.Hooks, " or "))})
			}
			got, ok := chainRules(rs, "filter", c.Name)
			switch {
			case !ok:
				problems = append(problems, Problem{Family: f, Kind: ProblemChainMissing, Chain: c.Name})
			case !slices.Equal(got, c.Rules):
				problems = append(problems, Problem{Family: f, Kind: ProblemRulesDiffer, Chain: c.Name, Detail: firstDifference(c.Rules, got)})
			}
			if hook == "" {
				continue
			}
			want := jumpRule(hook, c.Name)
			canonical := -1
			for _, j := range jumpsInto(rs, "filter", c.Name) {
				if j.Chain == hook && j.Text == want && canonical < 0 {
					canonical = rs.Chain("filter", hook).IndexOf(func(r *iptsave.Rule) bool { return r == j })
					continue
				}
				problems = append(problems, Problem{Family: f, Kind: ProblemJumpExtra, Chain: c.Name, Detail: j.Text})
			}
			if canonical < 0 {
				problems = append(problems, Problem{Family: f, Kind: ProblemJumpMissing, Chain: c.Name, Detail: "no " + want})
				continue
			}
			for _, sh := range shadowsAbove(rs, f, hook, canonical, c.Name) {
				if builtinChains[hook] && dockersRule(rs, sh.rule, fp.Bridges) {
					problems = append(problems, Problem{Family: f, Kind: ProblemJumpBelowDocker, Chain: c.Name, Detail: sh.Rule})
					continue
				}
				shadows = append(shadows, sh.Shadow)
			}
			if hook == "DOCKER-USER" {
				fwd := rs.Chain("filter", "FORWARD")
				idx := fwd.IndexOf(func(r *iptsave.Rule) bool { return r.Target == "DOCKER-USER" })
				if idx < 0 {
					inert = append(inert, fmt.Sprintf("%s: FORWARD has no jump to DOCKER-USER: no rule in DOCKER-USER, hardend's included, sees any traffic (HD-NET-003, FAULTS 2)", f))
				} else {
					for _, sh := range shadowsAbove(rs, f, "FORWARD", idx, "DOCKER-USER") {
						shadows = append(shadows, sh.Shadow)
					}
				}
			}
		}
	}
	for _, name := range ownedChains(rs, "filter") {
		if !planned[name] {
			problems = append(problems, Problem{Family: f, Kind: ProblemStaleChain, Chain: name})
		}
	}
	return problems, shadows, inert
}

// firstDifference describes where two rule lists part, for evidence.
func firstDifference(want, got []string) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("%d rules, want %d; first missing: %s", len(got), len(want), want[i])
		case i >= len(want):
			return fmt.Sprintf("%d rules, want %d; first extra: %s", len(got), len(want), got[i])
		case want[i] != got[i]:
			return fmt.Sprintf("rule %d is %s, want %s", i+1, got[i], want[i])
		}
	}
	return ""
}

type shadowRule struct {
	Shadow
	rule *iptsave.Rule
}

// dockersRule reports whether a rule is Docker's own: it jumps to one of
// Docker's chains or names one of Docker's bridges.
func dockersRule(rs *iptsave.Ruleset, r *iptsave.Rule, bridges []string) bool {
	if strings.HasPrefix(r.Target, "DOCKER") && rs.HasChain(r.Table, r.Target) {
		return true
	}
	for _, c := range []iptsave.Cond{r.In, r.Out} {
		if c.Set && slices.Contains(bridges, c.Value) {
			return true
		}
	}
	return false
}

// shadowsAbove returns the rules above position idx of chain that can let a
// NEW connection through.
func shadowsAbove(rs *iptsave.Ruleset, f iptsave.Family, chain string, idx int, over string) []shadowRule {
	c := rs.Chain("filter", chain)
	if c == nil {
		return nil
	}
	// RETURN from DOCKER-USER goes back to FORWARD, where Docker accepts what
	// it published; RETURN from a built-in chain applies its policy.
	returnLets := !c.Builtin() || c.Policy == "ACCEPT"
	var out []shadowRule
	for _, r := range c.Rules[:idx] {
		if letsNewThrough(rs, r, returnLets, 0) {
			out = append(out, shadowRule{Shadow{Family: f, Chain: chain, Over: over, Rule: r.Text}, r})
		}
	}
	return out
}

// letsNewThrough reports whether rule r can decide to let a NEW connection
// from an external interface through (accept it, or return it to where it is
// accepted). Conservative: a verdict it cannot see through (NFQUEUE, a chain
// nested too deep) counts as letting through.
func letsNewThrough(rs *iptsave.Ruleset, r *iptsave.Rule, returnLets bool, depth int) bool {
	if !mayMatchNew(r) {
		return false
	}
	switch r.Target {
	case "ACCEPT", "NFQUEUE", "QUEUE":
		return true
	case "RETURN":
		return returnLets
	case "", "DROP", "REJECT":
		return false
	}
	sub := rs.Chain(r.Table, r.Target)
	if sub == nil {
		return false // a non-terminating target extension: LOG, MARK, CT, ...
	}
	if depth > 8 {
		return true
	}
	// A RETURN in a chain entered by -j comes back here; one entered by -g
	// returns from the chain holding r, as does falling off its end.
	subReturnLets := r.Goto && returnLets
	for _, sr := range sub.Rules {
		if letsNewThrough(rs, sr, subReturnLets, depth+1) {
			return true
		}
	}
	return subReturnLets
}

// mayMatchNew is false for rules that cannot match a NEW connection from an
// external interface: a ctstate/state match without NEW (Docker's
// RELATED,ESTABLISHED accepts), `! --ctstate NEW`, or `-i lo`.
func mayMatchNew(r *iptsave.Rule) bool {
	if r.In.Set && !r.In.Negated && r.In.Value == "lo" {
		return false
	}
	for _, name := range []string{"ctstate", "state"} {
		for _, o := range r.Opts(name) {
			has := false
			for _, v := range o.Values {
				for s := range strings.SplitSeq(v, ",") {
					if s == "NEW" {
						has = true
					}
				}
			}
			if has == o.Negated {
				return false
			}
		}
	}
	return true
}
