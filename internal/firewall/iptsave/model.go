package iptsave

import (
	"slices"
	"strconv"
	"strings"
)

// Family is the address family a dump belongs to.
type Family int

// Families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// Ruleset is one parsed dump: every table it held, and the warning comments the
// tool printed (e.g. "# Warning: iptables-legacy tables present").
type Ruleset struct {
	Family   Family
	Tables   map[string]*Table
	Order    []string // table names in dump order
	Warnings []string
}

// Table is one "*name ... COMMIT" block.
type Table struct {
	Name   string
	Chains map[string]*Chain
	Order  []string // chain names in declaration order
}

// Chain is a chain with its policy ("ACCEPT", "DROP" for built-in chains, "-" for
// user-defined ones) and its rules in order.
type Chain struct {
	Name   string
	Policy string
	Rules  []*Rule
}

// Builtin reports whether the chain is a built-in one (it has a policy).
func (c *Chain) Builtin() bool { return c.Policy != "-" && c.Policy != "" }

// Rule is one "-A CHAIN ..." line.
type Rule struct {
	Table, Chain string
	Line         int    // 1-based line in the dump
	Text         string // the line as printed, without counters: "-A CHAIN ..."

	Proto    Cond // -p
	Src, Dst Cond // -s, -d (as printed: "172.17.0.2/32")
	In, Out  Cond // -i, -o (a trailing "+" is a wildcard)
	Fragment Cond // -f (Value "" when present)

	Matches    []Module // every -m module, in order, with its options
	Target     string   // -j or -g target; "" when the rule has none (counts only)
	Goto       bool     // -g rather than -j
	TargetOpts []Option
	// TargetUnsupported is set when iptables printed "[unsupported revision]"
	// after the target: it could not show the target's options.
	TargetUnsupported bool
}

// Cond is a possibly negated single-valued condition.
type Cond struct {
	Set     bool
	Negated bool
	Value   string
}

// Module is one "-m NAME --opt value ..." group.
type Module struct {
	Name string
	Opts []Option
	// Unsupported is set when iptables printed "[unsupported revision]" for the
	// module: the kernel holds a revision this iptables cannot show, so the
	// options are missing and the match must be treated as unknown.
	Unsupported bool
}

// Option is one "[!] --name [values...]" of a match module or target.
type Option struct {
	Name    string // without the leading dashes
	Negated bool
	Values  []string
}

// Module returns the first match module with that name.
func (r *Rule) Module(name string) (Module, bool) {
	for _, m := range r.Matches {
		if m.Name == name {
			return m, true
		}
	}
	return Module{}, false
}

// Opt returns the first option of that name in any match module (e.g. "dport",
// "ctstate", "comment"), with the module it came from.
func (r *Rule) Opt(name string) (Option, string, bool) {
	for _, m := range r.Matches {
		for _, o := range m.Opts {
			if o.Name == name {
				return o, m.Name, true
			}
		}
	}
	return Option{}, "", false
}

// Opts returns every option of that name across the match modules, in order
// (conntrack options may repeat in separate -m conntrack groups).
func (r *Rule) Opts(name string) []Option {
	var out []Option
	for _, m := range r.Matches {
		for _, o := range m.Opts {
			if o.Name == name {
				out = append(out, o)
			}
		}
	}
	return out
}

// TargetOpt returns a target option such as "to-destination".
func (r *Rule) TargetOpt(name string) (Option, bool) {
	for _, o := range r.TargetOpts {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// Comment returns the rule's -m comment text, unquoted.
func (r *Rule) Comment() string {
	if o, _, ok := r.Opt("comment"); ok && len(o.Values) > 0 {
		return o.Values[0]
	}
	return ""
}

// PortRange is an inclusive port range; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi uint16 }

// Contains reports whether p is in the range.
func (pr PortRange) Contains(p uint16) bool { return p >= pr.Lo && p <= pr.Hi }

// ParsePorts parses "80", "8000:8080" and comma lists "80,443,8000:8080"
// (multiport). A missing bound means 0 or 65535, as iptables reads it.
func ParsePorts(s string) ([]PortRange, bool) {
	var out []PortRange
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		var pr PortRange
		var err error
		pr.Lo, err = parsePort(lo, 0)
		if err != nil {
			return nil, false
		}
		pr.Hi = pr.Lo
		if isRange {
			if pr.Hi, err = parsePort(hi, 65535); err != nil {
				return nil, false
			}
		}
		if pr.Hi < pr.Lo {
			pr.Lo, pr.Hi = pr.Hi, pr.Lo
		}
		out = append(out, pr)
	}
	return out, len(out) > 0
}

func parsePort(s string, empty uint16) (uint16, error) {
	if s == "" {
		return empty, nil
	}
	v, err := strconv.ParseUint(s, 10, 16)
	return uint16(v), err
}

// Chain returns a chain of a table, or nil.
func (rs *Ruleset) Chain(table, chain string) *Chain {
	if rs == nil {
		return nil
	}
	t := rs.Tables[table]
	if t == nil {
		return nil
	}
	return t.Chains[chain]
}

// HasChain reports whether table holds chain.
func (rs *Ruleset) HasChain(table, chain string) bool { return rs.Chain(table, chain) != nil }

// Empty reports whether the dump held no table at all (e.g. ip6tables never used,
// or dockerd started with --iptables=false).
func (rs *Ruleset) Empty() bool { return rs == nil || len(rs.Tables) == 0 }

// Jumps returns the rules in table whose target is chain, in dump order.
func (rs *Ruleset) Jumps(table, chain string) []*Rule {
	t := rs.Tables[table]
	if t == nil {
		return nil
	}
	var out []*Rule
	for _, name := range t.Order {
		for _, r := range t.Chains[name].Rules {
			if r.Target == chain {
				out = append(out, r)
			}
		}
	}
	return out
}

// IndexOf returns the position of the first rule in c satisfying f, or -1.
func (c *Chain) IndexOf(f func(*Rule) bool) int {
	if c == nil {
		return -1
	}
	return slices.IndexFunc(c.Rules, f)
}
