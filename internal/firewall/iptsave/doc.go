// Package iptsave parses the output of iptables-save and ip6tables-save (legacy and
// nf_tables variants) into a model of tables, chains and rules that the exposure
// analysis evaluates and the remediation code reads back.
//
// It is pure: it takes bytes and never runs a program. Reading the whole rule set
// once per scan and parsing it here is cheaper than listing chains one by one, and
// comparing parsed rules is more reliable than `iptables -C` (FAULTS.md 15).
//
// A rule keeps its exact text (as iptables-save printed it, for comparison and
// evidence) and a decomposition into the generic parts every match has: protocol,
// addresses, interfaces, each `-m` module with its options, the target and its
// options. Accessors answer the questions the analysis asks (Dports, CtState,
// Comment ...). Anything the parser does not understand is kept, never dropped, so
// that a caller can treat an unknown match conservatively.
//
// The quirks of real dumps (quirks.go): counters, CRLF, quoted comments with
// escapes, "[unsupported revision]" (kept as Module.Unsupported), iptables-nft's
// "# Table `x' is incompatible, use 'nft' tool." (Ruleset.Incompatible: that
// table's rules are missing, not empty), its "# Warning: iptables-legacy tables
// present" (Ruleset.LegacyTablesPresent), and its stderr captured into the dump
// ("Parsing nftables rule failed": ErrIncomplete). A truncated dump is
// ErrTruncated. An incomplete or truncated dump is never evaluated.
package iptsave
