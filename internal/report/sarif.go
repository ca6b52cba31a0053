package report

import (
	"encoding/json"
	"io"
	"slices"

	"github.com/hardend/hardend/internal/check"
)

// SARIF writes the failed and errored results as a SARIF 2.1.0 log with one rule
// per check ID (the catalogue's stable IDs).
func (r *Report) SARIF(w io.Writer, defs []check.Definition) error {
	type msg struct {
		Text string `json:"text"`
	}
	type rule struct {
		ID               string         `json:"id"`
		ShortDescription msg            `json:"shortDescription"`
		Properties       map[string]any `json:"properties,omitempty"`
		DefaultConfig    map[string]any `json:"defaultConfiguration"`
	}
	type result struct {
		RuleID     string         `json:"ruleId"`
		Level      string         `json:"level"`
		Message    msg            `json:"message"`
		Properties map[string]any `json:"properties"`
		Locations  []any          `json:"locations"`
		Suppress   []any          `json:"suppressions,omitempty"`
	}
	seen := map[string]bool{}
	var rules []rule
	addRule := func(id, title string, sev check.Severity, refs []string) {
		if seen[id] {
			return
		}
		seen[id] = true
		rules = append(rules, rule{ID: id, ShortDescription: msg{title},
			Properties:    map[string]any{"severity": sev.String(), "references": refs},
			DefaultConfig: map[string]any{"level": level(sev)}})
	}
	for _, d := range defs {
		addRule(d.ID, d.Title, d.Severity, d.References)
	}
	var results []result
	for _, res := range r.Results {
		addRule(res.ID, res.Title, res.Severity, res.References)
		if res.Status != check.Fail && res.Status != check.Error {
			continue
		}
		text := res.Title
		if res.Evidence != "" {
			text += ": " + res.Evidence
		}
		if res.Remediation != "" {
			text += " — fix: " + res.Remediation
		}
		lvl := level(res.Severity)
		if res.Status == check.Error {
			lvl = "warning"
		}
		out := result{RuleID: res.ID, Level: lvl, Message: msg{text},
			Properties: map[string]any{"status": res.Status, "severity": res.Severity.String(), "subject": res.Subject},
			Locations: []any{map[string]any{"logicalLocations": []any{map[string]any{
				"name": subjectText(res.Subject), "kind": res.Subject.Kind, "fullyQualifiedName": res.Subject.Kind + ":" + cmpOr(res.Subject.ID, res.Subject.Name)}}}}}
		if res.Exemption != "" {
			out.Suppress = []any{map[string]any{"kind": "external", "justification": res.Exemption}}
		}
		results = append(results, out)
	}
	slices.SortStableFunc(rules, func(a, b rule) int {
		if a.ID < b.ID {
			return -1
		} else if a.ID > b.ID {
			return 1
		}
		return 0
	})
	if results == nil {
		results = []result{}
	}
	doc := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name": "hardend", "version": r.Tool.Version, "informationUri": "https://github.com/hardend/hardend", "rules": rules}},
			"results": results,
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func level(s check.Severity) string {
	switch {
	case s >= check.High:
		return "error"
	case s >= check.Medium:
		return "warning"
	}
	return "note"
}
