package firewall

import (
	"context"
	"fmt"
	"strings"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// ResetResult says what Reset removed (or, in a dry run, would remove).
type ResetResult struct {
	// V4, V6 are the iptables-restore --noflush batches; "" = nothing of
	// hardend's in that family.
	V4, V6 string
	// Removed lists the chains and jumps removed, "ipv4 filter HARDEND-FORWARD".
	Removed []string
	// Written are the families a batch was written to.
	Written []iptsave.Family
}

// Render is the dry-run text.
func (r *ResetResult) Render() string {
	if r.V4 == "" && r.V6 == "" {
		return "# no rule or chain of hardend's is present: nothing to remove\n"
	}
	var sb strings.Builder
	if r.V4 != "" {
		sb.WriteString("# iptables-restore --noflush <<EOF\n" + r.V4 + "EOF\n")
	}
	if r.V6 != "" {
		sb.WriteString("# ip6tables-restore --noflush <<EOF\n" + r.V6 + "EOF\n")
	}
	return sb.String()
}

// Reset removes every rule and chain hardend added — the jumps into HARDEND-
// chains first, then the chains, in every table of both families — and nothing
// else: `hardend firewall reset` leaves the rule set as it was before hardend
// ran. One atomic batch per family, read back to confirm. With dryRun it only
// renders the batches.
//
// One trace can stay: when hardend was the first to use a table (the IPv6
// filter table on a host where Docker wrote no ip6tables rule), the table
// remains, empty, with its built-in chains on policy ACCEPT — the same
// filtering as no table at all. iptables has no command that deletes a table.
func (b *Backend) Reset(ctx context.Context, dryRun bool) (*ResetResult, error) {
	cur, err := b.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("reset: %w", err)
	}
	res := &ResetResult{}
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		batch, removed := resetBatch(cur.family(f))
		res.Removed = append(res.Removed, removed...)
		if f == iptsave.IPv4 {
			res.V4 = batch
		} else {
			res.V6 = batch
		}
	}
	if dryRun {
		return res, nil
	}
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		batch := res.V4
		if f == iptsave.IPv6 {
			batch = res.V6
		}
		if batch == "" {
			continue
		}
		if err := b.restore(ctx, f, []byte(batch)); err != nil {
			return res, fmt.Errorf("reset: %w", err)
		}
		res.Written = append(res.Written, f)
		rs, err := b.readFamily(ctx, f, "")
		if err != nil {
			return res, fmt.Errorf("reset: read back: %w", err)
		}
		if left, _ := resetBatch(rs); left != "" {
			return res, fmt.Errorf("reset: %s: hardend's chains are still there after the reset:\n%s", f, left)
		}
	}
	return res, nil
}

// resetBatch renders the batch removing hardend's jumps and chains from one
// family. Pure.
func resetBatch(rs *iptsave.Ruleset) (string, []string) {
	if rs == nil {
		return "", nil
	}
	var sb strings.Builder
	var removed []string
	for _, table := range rs.Order {
		owned := ownedChains(rs, table)
		if len(owned) == 0 {
			continue
		}
		fmt.Fprintf(&sb, "*%s\n", table)
		for _, name := range owned {
			for _, j := range jumpsInto(rs, table, name) {
				sb.WriteString("-D " + strings.TrimPrefix(j.Text, "-A ") + "\n")
				removed = append(removed, fmt.Sprintf("%s %s jump: %s", rs.Family, table, j.Text))
			}
		}
		for _, name := range owned {
			sb.WriteString("-F " + name + "\n")
		}
		for _, name := range owned {
			sb.WriteString("-X " + name + "\n")
			removed = append(removed, fmt.Sprintf("%s %s chain %s", rs.Family, table, name))
		}
		sb.WriteString("COMMIT\n")
	}
	return sb.String(), removed
}
