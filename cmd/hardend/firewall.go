package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// runFirewall handles `hardend firewall status|reset`.
func runFirewall(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, firewallUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "status":
		return firewallStatus(args[1:], stdout, stderr)
	case "reset":
		return firewallReset(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "hardend firewall: unknown command %q\n\n%s", args[0], firewallUsage)
	return exitUsage
}

const firewallUsage = `usage:
  hardend firewall status            print hardend's chains (HARDEND-*) and the jumps into them,
                                     in both address families, as the kernel holds them
  hardend firewall reset [--dry-run] remove every rule and chain hardend added and nothing else,
                                     atomically per address family; --dry-run prints the
                                     iptables-restore batches instead

Both act on the iptables variant (nft or legacy) that holds Docker's chains.
`

// backendForDocker pins the iptables variant that holds Docker's chains, and
// returns the detection (its IPv4 dump saves a second read).
func backendForDocker(ctx context.Context) (*firewall.Backend, *firewall.Detection, error) {
	det := firewall.Detect(ctx, firewall.Config{})
	if det.Err != nil {
		return nil, det, det.Err
	}
	b, err := firewall.NewBackend(firewall.Config{Variant: det.Variant})
	return b, det, err
}

func firewallReset(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hardend firewall reset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "print what would be removed, change nothing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	ctx := context.Background()
	b, _, err := backendForDocker(ctx)
	if errors.Is(err, firewall.ErrNoDockerChains) {
		// No Docker chains anywhere: hardend cannot have added anything either
		// (its chains hang off DOCKER-USER). Removing the package must not fail.
		fmt.Fprintln(stdout, "hardend firewall reset: no Docker chains in either iptables variant; nothing of hardend's to remove")
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "hardend firewall reset: %v\n", err)
		return exitUsage
	}
	res, err := b.Reset(ctx, *dryRun)
	if err != nil {
		fmt.Fprintf(stderr, "hardend firewall reset: %v\n", err)
		return exitUsage
	}
	if *dryRun {
		fmt.Fprint(stdout, res.Render())
		return exitOK
	}
	if len(res.Removed) == 0 {
		fmt.Fprintln(stdout, "hardend firewall reset: nothing of hardend's was present")
		return exitOK
	}
	fmt.Fprintf(stdout, "hardend firewall reset: removed %s\n", strings.Join(res.Removed, "; "))
	return exitOK
}

func firewallStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hardend firewall status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	ctx := context.Background()
	b, det, err := backendForDocker(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "hardend firewall status: %v\n", err)
		return exitUsage
	}
	rules, err := b.ReadDetected(ctx, det)
	if err != nil {
		fmt.Fprintf(stderr, "hardend firewall status: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "iptables variant: %s\n", b.Variant())
	any := false
	for _, rs := range []*iptsave.Ruleset{rules.V4, rules.V6} {
		if rs == nil {
			continue
		}
		for _, tname := range rs.Order {
			t := rs.Tables[tname]
			for _, cname := range t.Order {
				c := t.Chains[cname]
				for _, r := range c.Rules {
					if strings.HasPrefix(r.Target, firewall.ChainPrefix) || strings.HasPrefix(c.Name, firewall.ChainPrefix) {
						fmt.Fprintf(stdout, "%s %s: %s\n", rs.Family, tname, r.Text)
						any = true
					}
				}
				if strings.HasPrefix(c.Name, firewall.ChainPrefix) && len(c.Rules) == 0 {
					fmt.Fprintf(stdout, "%s %s: chain %s (empty)\n", rs.Family, tname, c.Name)
					any = true
				}
			}
		}
	}
	if !any {
		fmt.Fprintln(stdout, "no rule or chain of hardend's is present")
	}
	return exitOK
}
