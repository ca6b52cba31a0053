package firewall

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// Net005Input is what HD-NET-005 is judged on: the scan's one read of the rules
// and the plan the policy makes of this host.
type Net005Input struct {
	Plan    *Plan // nil when the plan could not be made; PlanErr says why
	PlanErr error
	Rules   *Rules // nil when the rules could not be read; ReadErr says why
	ReadErr error
	// Enforce: policy firewall.mode is enforce (or --remediate was asked).
	Enforce bool
}

// Subjects of HD-NET-005 results: one per kind of problem, so that the agent
// sees each appear and clear on its own.
var (
	subjRules    = check.Subject{Kind: check.KindHost, ID: "hardend-rules"}
	subjShadowed = check.Subject{Kind: check.KindHost, ID: "hardend-shadowed"}
	subjInert    = check.Subject{Kind: check.KindHost, ID: "hardend-inert"}
)

// maxEvidence bounds the lines of evidence one result lists.
const maxEvidence = 12

// Net005Results reports HD-NET-005: hardend's own rules missing, shadowed by a foreign
// rule above the jump that lets traffic through, or drifted from policy. It
// judges only in enforce mode or when hardend's chains exist (a leftover of a
// one-shot --remediate); otherwise it is a skip. It never passes on rules it
// could not read.
func Net005Results(in Net005Input) []check.Result {
	if in.Rules == nil {
		reason := "the rules could not be read"
		if in.ReadErr != nil {
			reason += ": " + in.ReadErr.Error()
		}
		return []check.Result{Net005.Err(subjRules, reason)}
	}
	present := hasOwnedChains(in.Rules)
	if !in.Enforce && !present {
		return []check.Result{Net005.Skip(subjRules, "firewall.mode is report and no rule of hardend's is present: nothing of hardend's to check")}
	}
	if in.Plan == nil {
		reason := "hardend's plan could not be made"
		if in.PlanErr != nil {
			reason += ": " + in.PlanErr.Error()
		}
		return []check.Result{Net005.Err(subjRules, reason)}
	}
	if in.Plan.Refusal != nil {
		ev := in.Plan.Refusal.Error()
		if errors.Is(in.Plan.Refusal, ErrNftablesBackend) {
			ev = "Docker uses its nftables firewall backend (FAULTS 5): it makes no DOCKER-USER chain and hardend writes no rule there, so enforce mode protects nothing on this host; exposure is reported by HD-NET-001/002"
		}
		return []check.Result{Net005.Fail(subjRules, ev,
			"block the exposed ports in your own nftables table (a forward hook at priority filter - 1 or lower, matching ct original destination port), or run Docker with its iptables backend")}
	}
	d := Inspect(in.Plan, in.Rules)
	var out []check.Result
	if len(d.Problems) > 0 {
		lines := make([]string, 0, len(d.Problems))
		for _, p := range d.Problems {
			lines = append(lines, p.String())
		}
		rem := "run `hardend --check --remediate` once, or let the agent (firewall.mode: enforce) reconcile: it re-applies its chains in one atomic batch per family"
		for _, p := range d.Problems {
			if p.Kind == ProblemNoHook {
				rem = "start dockerd with iptables enabled so that DOCKER-USER exists (see HD-NET-003), then " + rem
				break
			}
		}
		out = append(out, Net005.Fail(subjRules, "hardend's rules are missing or drifted from policy: "+bounded(lines), rem))
	}
	if len(d.Shadows) > 0 {
		lines := make([]string, 0, len(d.Shadows))
		for _, s := range d.Shadows {
			lines = append(lines, s.String())
		}
		out = append(out, Net005.Fail(subjShadowed,
			"a rule hardend does not own sits above hardend's jump and can let NEW connections through before hardend's rules see them: "+bounded(lines),
			"remove that rule or move it below hardend's jump (e.g. `iptables -D DOCKER-USER <rule>` then `iptables -A DOCKER-USER <rule>`); hardend never deletes or overrides rules it does not own"))
	}
	if len(d.Inert) > 0 {
		out = append(out, Net005.Fail(subjInert, bounded(d.Inert),
			"restart dockerd so that it re-creates `-A FORWARD -j DOCKER-USER` at the top of FORWARD (a saved rule set that declares DOCKER-USER makes Docker skip it, moby#48560)"))
	}
	if len(out) == 0 {
		out = append(out, Net005.Pass(subjRules, "hardend's chains match the plan and their jumps are live: "+summary(in.Plan)))
	}
	return out
}

func hasOwnedChains(r *Rules) bool {
	for _, rs := range []*iptsave.Ruleset{r.V4, r.V6} {
		if rs == nil {
			continue
		}
		for _, t := range rs.Order {
			if len(ownedChains(rs, t)) > 0 {
				return true
			}
		}
	}
	return false
}

func bounded(lines []string) string {
	if len(lines) > maxEvidence {
		more := len(lines) - maxEvidence
		lines = append(lines[:maxEvidence:maxEvidence], fmt.Sprintf("... and %d more", more))
	}
	return strings.Join(lines, "; ")
}

// summary says what the plan holds, for a pass.
func summary(p *Plan) string {
	var parts []string
	for _, fp := range []*FamilyPlan{p.V4, p.V6} {
		if fp == nil {
			continue
		}
		for _, c := range fp.Chains {
			parts = append(parts, fmt.Sprintf("%s %s (%d rules)", fp.Family, c.Name, len(c.Rules)))
		}
	}
	if len(parts) == 0 {
		return "no chain needed"
	}
	return fmt.Sprintf("default %s; %s", p.Default, strings.Join(parts, ", "))
}
