package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hardend/hardend/internal/agent"
	"github.com/hardend/hardend/internal/audit"
	"github.com/hardend/hardend/internal/catalog"
	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/report"
)

// runMain parses the flags of `hardend` itself: --check (one audit) or, without
// it, the agent.
func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hardend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		doCheck   = fs.Bool("check", false, "audit once, print a report and exit (0 pass, 1 findings at/above the threshold, 2 could not run)")
		format    = fs.String("format", "text", "report format: text, json or sarif")
		failOn    = fs.String("fail-on", "", "lowest severity that makes the exit status 1: info, low, medium, high, critical (default: the policy's fail_on)")
		config    = fs.String("config", "", "policy file (YAML, owned by root, not writable by others); default: the embedded policy")
		root      = fs.String("root", "/", "host root to read /proc, /sys and /etc below (e.g. /host when hardend runs in a container)")
		remediate = fs.Bool("remediate", false, "with --check: apply the firewall plan of the policy (hardend's own chains), then report the result")
		dryRun    = fs.Bool("dry-run", false, "with --remediate: print the exact rules and conntrack deletions, change nothing")
		verbose   = fs.Bool("verbose", false, "text report: list passed results too")
		color     = fs.String("color", "auto", "text report colour: auto (only on a terminal, not with NO_COLOR), always, never")
		timeout   = fs.Duration("docker-timeout", 5*time.Second, "deadline of each Docker API call")
		showVer   = fs.Bool("version", false, "print the version and exit")
		printPol  = fs.Bool("print-default-policy", false, "print the embedded default policy and exit")
	)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hardend: unexpected argument %q (see hardend --help)\n", fs.Arg(0))
		return exitUsage
	}
	switch {
	case *showVer:
		fmt.Fprintf(stdout, "hardend %s\n", versionString())
		return exitOK
	case *printPol:
		stdout.Write(policy.DefaultYAML())
		return exitOK
	}
	if !*doCheck {
		for _, f := range []string{"format", "fail-on", "remediate", "dry-run", "verbose", "color"} {
			if isSet(fs, f) {
				fmt.Fprintf(stderr, "hardend: --%s goes with --check (without --check hardend runs as the agent)\n", f)
				return exitUsage
			}
		}
		return runAgent(*config, *root, *timeout, stderr)
	}
	if *dryRun && !*remediate {
		fmt.Fprintln(stderr, "hardend: --dry-run goes with --remediate")
		return exitUsage
	}
	switch *format {
	case "text", "json", "sarif":
	default:
		fmt.Fprintf(stderr, "hardend: --format %q: want text, json or sarif\n", *format)
		return exitUsage
	}
	pol, err := loadPolicy(*config)
	if err != nil {
		fmt.Fprintf(stderr, "hardend: %v\n", err)
		return exitUsage
	}
	if *failOn != "" {
		s, err := check.ParseSeverity(*failOn)
		if err != nil {
			fmt.Fprintf(stderr, "hardend: --fail-on: %v\n", err)
			return exitUsage
		}
		pol.FailOn = s
	}
	useColor, err := colorMode(*color, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "hardend: %v\n", err)
		return exitUsage
	}

	ctx := context.Background()
	opts := audit.Options{
		Root: *root, DockerHost: os.Getenv("DOCKER_HOST"), Timeout: *timeout, Policy: pol,
		Enforce: pol.Firewall.Mode == "enforce", Version: versionString(),
	}
	scan := audit.Run(ctx, opts)
	var remediation *remediationOutcome
	if *remediate {
		remediation = remediateScan(ctx, scan, *dryRun)
		if remediation.Err == nil && !*dryRun {
			// Report the host as it is now, with hardend's rules judged.
			opts.Enforce = true
			scan = audit.Run(ctx, opts)
		}
	}
	rep := scan.Report
	switch *format {
	case "json":
		err = writeJSON(stdout, rep, remediation)
	case "sarif":
		err = rep.SARIF(stdout, catalog.All())
	default:
		err = rep.Text(stdout, useColor, *verbose)
		if err == nil && remediation != nil {
			err = remediation.text(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "hardend: write report: %v\n", err)
		return exitUsage
	}
	if remediation != nil && remediation.Err != nil {
		fmt.Fprintf(stderr, "hardend: remediation failed: %v\n", remediation.Err)
		return exitUsage
	}
	return rep.ExitCode()
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func loadPolicy(file string) (*policy.Policy, error) {
	if file == "" {
		return policy.Default(), nil
	}
	return policy.Load(file)
}

func colorMode(mode string, stdout io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		return isTerminal(stdout) && os.Getenv("NO_COLOR") == "", nil
	}
	return false, fmt.Errorf("--color %q: want auto, always or never", mode)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// remediationOutcome is what --remediate did (or, with --dry-run, would do).
type remediationOutcome struct {
	DryRun bool     `json:"dry_run"`
	Plan   string   `json:"plan"`            // the exact iptables-restore batches and conntrack deletions
	Notes  []string `json:"notes,omitempty"` // what the plan cannot cover
	Result string   `json:"result"`          // what happened
	Err    error    `json:"-"`
	Error  string   `json:"error,omitempty"`
}

func remediateScan(ctx context.Context, scan *audit.Scan, dryRun bool) *remediationOutcome {
	out := &remediationOutcome{DryRun: dryRun}
	fail := func(err error) *remediationOutcome {
		out.Err, out.Error = err, err.Error()
		return out
	}
	fw := scan.Firewall
	switch {
	case fw == nil:
		return fail(errors.New("the rule set was not read"))
	case fw.PlanErr != nil:
		return fail(fw.PlanErr)
	case fw.Backend == nil || fw.Rules == nil:
		err := fw.ReadErr
		if err == nil && fw.Detection != nil {
			err = fw.Detection.Err
		}
		return fail(fmt.Errorf("cannot act on the firewall: %v", err))
	}
	out.Notes = fw.Plan.Notes
	changes, err := firewall.Diff(fw.Plan, fw.Rules)
	if err != nil {
		return fail(err)
	}
	out.Plan = changes.Render()
	if dryRun {
		if fw.Plan.Refusal != nil {
			out.Result = "would not apply: " + fw.Plan.Refusal.Error()
		} else if changes.Empty() {
			out.Result = "nothing to change: hardend's rules are in place"
		} else {
			out.Result = "dry run: nothing was changed"
		}
		return out
	}
	res, err := fw.Backend.Apply(ctx, fw.Plan, fw.Rules)
	if err != nil {
		return fail(err)
	}
	switch {
	case res.Changes.Empty():
		out.Result = "nothing to change: hardend's rules were already in place"
	default:
		out.Result = fmt.Sprintf("applied and verified (%s); %d established connections cut", familiesText(res), res.ConntrackDeleted)
	}
	return out
}

func familiesText(res *firewall.ApplyResult) string {
	var f []string
	for _, fam := range res.Written {
		f = append(f, fam.String())
	}
	return strings.Join(f, ", ")
}

func (r *remediationOutcome) text(w io.Writer) error {
	var b strings.Builder
	title := "Remediation"
	if r.DryRun {
		title = "Remediation plan (--dry-run: nothing changed)"
	}
	fmt.Fprintf(&b, "\n%s\n", title)
	if r.Plan != "" {
		for _, line := range strings.Split(strings.TrimRight(r.Plan, "\n"), "\n") {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  FAILED: %s\n", r.Error)
	} else {
		fmt.Fprintf(&b, "  %s\n", r.Result)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeJSON(w io.Writer, rep *report.Report, rem *remediationOutcome) error {
	if rem == nil {
		return rep.JSON(w)
	}
	doc := struct {
		*report.Report
		Remediation *remediationOutcome `json:"remediation"`
	}{rep, rem}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// runAgent runs the long-running service until SIGTERM. agent.Run builds the
// real Docker client, auditor and firewall itself from these.
func runAgent(config, root string, timeout time.Duration, stderr io.Writer) int {
	err := agent.Run(context.Background(), agent.Config{
		PolicyFile: config, Root: root, DockerHost: os.Getenv("DOCKER_HOST"), DockerTimeout: timeout,
		Version: versionString(),
	})
	if err != nil {
		fmt.Fprintf(stderr, "hardend: %v\n", err)
		return exitUsage
	}
	return exitOK
}
