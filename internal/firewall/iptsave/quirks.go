package iptsave

import (
	"errors"
	"slices"
	"strings"
)

// ErrIncomplete marks a dump that is known to miss rules: iptables-nft said it
// could not translate an nftables rule ("Parsing nftables rule failed"), or its
// error output was captured in the middle of the dump. Like a truncated dump, it
// is never evaluated.
var ErrIncomplete = errors.New("iptables-save output incomplete")

// isToolError recognises a line iptables wrote to stderr rather than a line of
// the dump: "iptables-save v1.8.9 (nf_tables): Parsing nftables rule failed",
// "iptables v1.8.7 (nf_tables): table `nat' is incompatible, use 'nft' tool.",
// "Error: ...".
func isToolError(line string) bool {
	if strings.Contains(line, "Parsing nftables rule failed") {
		return true
	}
	if strings.HasPrefix(line, "Error: ") {
		return true
	}
	for _, tool := range []string{"iptables", "ip6tables"} {
		if !strings.HasPrefix(line, tool) {
			continue
		}
		rest := line[len(tool):]
		// iptables v1.8.9, iptables-save v1.8.9, iptables-nft-save v1.8.9 ...
		if i := strings.Index(rest, " v"); i >= 0 && !strings.ContainsAny(rest[:i], " \t") {
			return true
		}
	}
	return false
}

// Incompatible returns the tables iptables-nft declared it cannot show
// ("# Table `filter' is incompatible, use 'nft' tool.", or the same about one
// chain of a table): their rules were written with nft directly and are missing
// from the dump, so an empty or absent table there does not mean "no rules".
func (rs *Ruleset) Incompatible() []string {
	if rs == nil {
		return nil
	}
	var out []string
	for _, w := range rs.Warnings {
		if !strings.Contains(w, "incompatible") {
			continue
		}
		// "Table `nat' is incompatible" or "chain `X' in table `filter' is incompatible".
		lower := strings.ToLower(w)
		i := strings.LastIndex(lower, "table `")
		if i < 0 {
			continue
		}
		name, _, ok := strings.Cut(w[i+len("table `"):], "'")
		if ok && name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// LegacyTablesPresent reports iptables-nft's hint that iptables-legacy holds
// tables too ("# Warning: iptables-legacy tables present, use iptables-legacy-save
// to see them"): rules may live in the backend this dump does not show
// (FAULTS.md 4).
func (rs *Ruleset) LegacyTablesPresent() bool {
	if rs == nil {
		return false
	}
	for _, w := range rs.Warnings {
		if strings.Contains(w, "iptables-legacy tables present") {
			return true
		}
	}
	return false
}

// MaxChainName is the longest chain name the kernel accepts (XT_EXTENSION_MAXNAMELEN
// minus the terminating NUL). Longer names in a dump mean it was not written by
// iptables-save (MaxKellermann/ferm#21 generated such names and failed to load).
const MaxChainName = 28
