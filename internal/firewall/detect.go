package firewall

import (
	"fmt"
	"strings"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// BackendDecision says which iptables variant holds Docker's chains and whether
// that is the one the system's `iptables` command runs (FAULTS.md 4, HD-NET-004).
type BackendDecision struct {
	// Docker is where Docker's chains are: "legacy", "nft", "both", "neither",
	// or "unknown" (a dump that was needed could not be read).
	Docker string
	// Alternative is the variant `iptables` runs on this host ("legacy", "nft"),
	// "" when unknown.
	Alternative string
	// OK: Docker's chains are in exactly one variant, and (when known) it is
	// the system's. Act only then: writing to the other variant is writing
	// rules that have no effect.
	OK bool
	// Problem says what is wrong when !OK.
	Problem string
	// Evidence lists what was seen.
	Evidence []string
}

// DecideBackend decides, from the IPv4 dumps of iptables-legacy-save and
// iptables-nft-save (nil: could not be read, e.g. the program is missing) and
// the system's iptables alternative ("legacy", "nft", a path such as
// /usr/sbin/iptables-nft, or "" when unknown), where Docker's rules live. Pure.
func DecideBackend(legacy, nft *iptsave.Ruleset, alternative string) BackendDecision {
	d := BackendDecision{Alternative: normalizeVariant(alternative)}
	inL, inN := hasDockerChains(legacy), hasDockerChains(nft)
	for _, s := range []struct {
		name string
		rs   *iptsave.Ruleset
		in   bool
	}{{"iptables-legacy-save", legacy, inL}, {"iptables-nft-save", nft, inN}} {
		switch {
		case s.rs == nil:
			d.Evidence = append(d.Evidence, s.name+": not read")
		case s.in:
			d.Evidence = append(d.Evidence, s.name+": Docker's chains present ("+dockerChainList(s.rs)+")")
		case s.rs.Empty():
			d.Evidence = append(d.Evidence, s.name+": no tables")
		default:
			d.Evidence = append(d.Evidence, s.name+": tables "+strings.Join(s.rs.Order, ",")+", none of Docker's chains")
		}
	}
	if nft.LegacyTablesPresent() {
		d.Evidence = append(d.Evidence, `iptables-nft-save: "# Warning: iptables-legacy tables present"`)
	}
	if d.Alternative != "" {
		d.Evidence = append(d.Evidence, "iptables runs iptables-"+d.Alternative)
	}
	switch {
	case inL && inN:
		d.Docker = "both"
		d.Problem = "Docker's chains are in both iptables-legacy and iptables-nft: rules in one are invisible to the other, and it is not certain which one dockerd maintains; hardend refuses to act"
		return d
	case inL:
		d.Docker = "legacy"
	case inN:
		d.Docker = "nft"
	case legacy == nil || nft == nil:
		d.Docker = "unknown"
		d.Problem = "Docker's chains were not found, and one iptables variant could not be read"
		return d
	default:
		d.Docker = "neither"
		d.Problem = "Docker's chains are in neither iptables-legacy nor iptables-nft (dockerd stopped, started with --iptables=false, or using its nftables firewall backend)"
		return d
	}
	other := map[string]*iptsave.Ruleset{"legacy": nft, "nft": legacy}[d.Docker]
	if other == nil && (d.Docker == "nft" && nft.LegacyTablesPresent()) {
		d.Docker = "unknown"
		d.Problem = "iptables-nft reports legacy tables, but iptables-legacy-save could not be read to check them for Docker's chains"
		return d
	}
	if d.Alternative != "" && d.Alternative != d.Docker {
		d.Problem = fmt.Sprintf("Docker's chains are in iptables-%s, but `iptables` on this host runs iptables-%s: rules written with `iptables` (by an administrator, ufw, fail2ban) land in the other variant and have no effect on container traffic", d.Docker, d.Alternative)
		return d
	}
	d.OK = true
	return d
}

// normalizeVariant reads "nft", "legacy", or the target of the alternatives
// link (/usr/sbin/iptables-nft, xtables-legacy-multi).
func normalizeVariant(s string) string {
	switch {
	case s == "":
		return ""
	case strings.Contains(s, "nft"):
		return "nft"
	case strings.Contains(s, "legacy"):
		return "legacy"
	}
	return ""
}

func dockerChainList(rs *iptsave.Ruleset) string {
	var out []string
	for _, t := range []string{"filter", "nat"} {
		tb := rs.Table(t)
		if tb == nil {
			continue
		}
		for _, c := range tb.Order {
			if strings.HasPrefix(c, "DOCKER") {
				out = append(out, t+" "+c)
			}
		}
	}
	return strings.Join(out, ", ")
}
