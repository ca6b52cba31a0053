// Package report renders an audit as text, JSON (PRODUCT.md's contract) or
// SARIF 2.1.0, and decides the exit status.
package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hardend/hardend/internal/check"
)

// Report is the JSON document: one object with host facts, a summary and results.
type Report struct {
	Tool    Tool           `json:"tool"`
	Host    map[string]any `json:"host"`
	Summary Summary        `json:"summary"`
	Results []check.Result `json:"results"`
}

// Tool identifies the producer.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Summary counts results by status, failures by severity, and the verdict.
type Summary struct {
	Total      int            `json:"total"`
	ByStatus   map[string]int `json:"by_status"`
	FailedBy   map[string]int `json:"failed_by_severity"`
	Exempted   int            `json:"exempted"`
	Threshold  string         `json:"fail_on"`
	Gating     int            `json:"gating_failures"`
	DurationMS float64        `json:"duration_ms"`
}

// Summarize fills Summary from Results for the given threshold.
func (r *Report) Summarize(threshold check.Severity) {
	s := Summary{ByStatus: map[string]int{}, FailedBy: map[string]int{}, Threshold: threshold.String(), DurationMS: r.Summary.DurationMS}
	for _, res := range r.Results {
		s.Total++
		s.ByStatus[string(res.Status)]++
		if res.Status == check.Fail {
			if res.Exemption != "" {
				s.Exempted++
			} else {
				s.FailedBy[res.Severity.String()]++
			}
		}
		if res.Gates(threshold) {
			s.Gating++
		}
	}
	r.Summary = s
}

// ExitCode is 0 when nothing at or above the threshold failed, 1 otherwise.
func (r *Report) ExitCode() int {
	if r.Summary.Gating > 0 {
		return 1
	}
	return 0
}

// JSON writes the report as one indented JSON object.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

var areaOrder = []string{"virt", "kernel", "daemon", "containers", "network"}

var areaTitle = map[string]string{
	"virt": "Virtualization", "kernel": "Kernel", "daemon": "Docker daemon",
	"containers": "Containers", "network": "Network exposure",
}

func statusRank(s check.Status) int {
	switch s {
	case check.Fail:
		return 0
	case check.Error:
		return 1
	case check.Skip:
		return 2
	}
	return 3
}

// Text writes the human report: grouped by area, worst first, remediation shown,
// passes collapsed to one line per area unless verbose. Colour only when color.
func (r *Report) Text(w io.Writer, color, verbose bool) error {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	sevColor := map[check.Severity]string{check.Critical: "1;31", check.High: "31", check.Medium: "33", check.Low: "36", check.Info: "37"}
	var b strings.Builder
	fmt.Fprintf(&b, "hardend %s", r.Tool.Version)
	if v, ok := r.Host["virtualization"]; ok {
		fmt.Fprintf(&b, " — host virtualization: %v", v)
	}
	if k, ok := r.Host["kernel_release"]; ok && k != "" {
		fmt.Fprintf(&b, ", kernel %v", k)
	}
	b.WriteString("\n")
	byArea := map[string][]check.Result{}
	for _, res := range r.Results {
		byArea[res.Area] = append(byArea[res.Area], res)
	}
	areas := slices.Clone(areaOrder)
	for a := range byArea {
		if !slices.Contains(areas, a) {
			areas = append(areas, a)
		}
	}
	for _, area := range areas {
		list := byArea[area]
		if len(list) == 0 {
			continue
		}
		slices.SortStableFunc(list, func(x, y check.Result) int {
			return cmp.Or(cmp.Compare(statusRank(x.Status), statusRank(y.Status)),
				cmp.Compare(y.Severity, x.Severity), cmp.Compare(x.ID, y.ID))
		})
		title := areaTitle[area]
		if title == "" {
			title = area
		}
		fmt.Fprintf(&b, "\n%s\n", paint("1", title))
		passed := 0
		for _, res := range list {
			if res.Status == check.Pass && !verbose {
				passed++
				continue
			}
			label := strings.ToUpper(string(res.Status))
			switch {
			case res.Status == check.Fail && res.Exemption != "":
				label = "EXEMPT"
			case res.Status == check.Fail:
				label = paint(sevColor[res.Severity], fmt.Sprintf("FAIL %s", strings.ToUpper(res.Severity.String())))
			}
			fmt.Fprintf(&b, "  [%s] %s %s", label, res.ID, res.Title)
			if subj := subjectText(res.Subject); subj != "" {
				fmt.Fprintf(&b, " — %s", subj)
			}
			b.WriteString("\n")
			if res.Evidence != "" {
				label := evidenceLabel(res.Status)
				indent := "\n" + strings.Repeat(" ", 6+len(label)+2)
				fmt.Fprintf(&b, "      %s: %s\n", label, strings.ReplaceAll(strings.TrimRight(res.Evidence, "\n"), "\n", indent))
			}
			if res.Status == check.Fail && res.Remediation != "" {
				fmt.Fprintf(&b, "      fix: %s\n", strings.ReplaceAll(res.Remediation, "\n", "\n           "))
			}
			if res.Exemption != "" {
				fmt.Fprintf(&b, "      exempt: %s\n", res.Exemption)
			}
			if res.Note != "" {
				fmt.Fprintf(&b, "      note: %s\n", res.Note)
			}
		}
		if passed > 0 {
			fmt.Fprintf(&b, "  %s\n", paint("32", fmt.Sprintf("%d passed", passed)))
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d results: %d failed (%d critical, %d high, %d medium, %d low, %d info), %d exempted, %d errors, %d skipped, %d passed — %d at or above %s",
		s.Total, s.ByStatus["fail"]-s.Exempted, s.FailedBy["critical"], s.FailedBy["high"], s.FailedBy["medium"], s.FailedBy["low"], s.FailedBy["info"],
		s.Exempted, s.ByStatus["error"], s.ByStatus["skip"], s.ByStatus["pass"], s.Gating, s.Threshold)
	if s.DurationMS > 0 {
		fmt.Fprintf(&b, " (%.0f ms)", s.DurationMS)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func evidenceLabel(s check.Status) string {
	switch s {
	case check.Skip, check.Error:
		return "reason"
	}
	return "seen"
}

func subjectText(s check.Subject) string {
	switch {
	case s.Kind == check.KindHost && s.Name == "":
		return ""
	case s.Name != "" && s.ID != "":
		return fmt.Sprintf("%s %s (%s)", s.Kind, s.Name, s.ID)
	case s.Name != "":
		return fmt.Sprintf("%s %s", s.Kind, s.Name)
	case s.ID != "":
		return fmt.Sprintf("%s %s", s.Kind, s.ID)
	}
	return s.Kind
}
