package firewall

import "github.com/hardend/hardend/internal/check"

// The network-exposure checks (CHECKS.md). IDs are a public contract.
var (
	Net001 = check.Definition{ID: "HD-NET-001", Area: "network", Severity: check.High,
		Title:      "published port that policy says is internal is reachable from outside",
		References: []string{"guide §4", "CIS Docker 5.14"}}
	Net002 = check.Definition{ID: "HD-NET-002", Area: "network", Severity: check.High,
		Title:      "port reachable from outside by a path its binding does not show",
		References: []string{"CVE-2025-54388"}}
	Net003 = check.Definition{ID: "HD-NET-003", Area: "network", Severity: check.High,
		Title: "DOCKER-USER chain missing, or its FORWARD jump missing or not first"}
	Net004 = check.Definition{ID: "HD-NET-004", Area: "network", Severity: check.High,
		Title: "Docker's chains are in an iptables backend the system does not use, or in both"}
	Net005 = check.Definition{ID: "HD-NET-005", Area: "network", Severity: check.High,
		Title: "hardend's remediation rules missing, shadowed or drifted from policy"}
	Net006 = check.Definition{ID: "HD-NET-006", Area: "network", Severity: check.Medium,
		Title: "host-network container listens on a non-loopback address"}
	Net007 = check.Definition{ID: "HD-NET-007", Area: "network", Severity: check.Medium,
		Title:      "published port reachable from outside that policy names neither public nor internal",
		References: []string{"guide §4"}}
)

// Definitions is the catalogue of this package's checks, in ID order.
var Definitions = []check.Definition{Net001, Net002, Net003, Net004, Net005, Net006, Net007}
