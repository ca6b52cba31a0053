package catalog

import (
	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/kernel"
	"github.com/hardend/hardend/internal/virt"
)

//go:generate go run ./gen -root ../..

// All returns every check definition, in catalogue order: virtualization,
// kernel, Docker daemon and containers, network exposure. The slice is new on
// each call; callers may keep or modify it.
func All() []check.Definition {
	var all []check.Definition
	for _, defs := range [][]check.Definition{
		virt.Definitions,
		kernel.Definitions,
		containers.Definitions, // HD-DMN and HD-CTR
		firewall.Definitions,   // HD-NET
	} {
		all = append(all, defs...)
	}
	return all
}

// Area order and headings of the catalogue, with the ID prefix each area owns.
var areas = []struct {
	Area, Prefix, Heading, Subject string
}{
	{"virt", "HD-VIRT-", "Virtualization", check.KindHost},
	{"kernel", "HD-KERN-", "Kernel", check.KindHost},
	{"daemon", "HD-DMN-", "Docker daemon", check.KindDaemon},
	{"containers", "HD-CTR-", "Containers", check.KindContainer},
	{"network", "HD-NET-", "Network exposure", check.KindPort},
}

// subjectExceptions are the checks whose subject is not their area's usual one
// (CHECKS.md's subject column). check.Definition has no subject field, so the
// catalogue keeps the few exceptions here; the tests compare them with CHECKS.md.
var subjectExceptions = map[string]string{
	"HD-NET-003": check.KindHost,
	"HD-NET-004": check.KindHost,
	"HD-NET-005": check.KindHost,
	"HD-NET-006": check.KindContainer,
}

// Subject returns the kind of subject (host, daemon, container, port) a check's
// results are about.
func Subject(d check.Definition) string {
	if s, ok := subjectExceptions[d.ID]; ok {
		return s
	}
	for _, a := range areas {
		if a.Area == d.Area {
			return a.Subject
		}
	}
	return ""
}
