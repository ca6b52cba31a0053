package firewall

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hardend/hardend/internal/policy"
)

// Class is what policy says about one published port.
type Class int

// Classes.
const (
	// Unlisted: policy names the port neither public nor internal.
	Unlisted Class = iota
	// Public: may stay reachable from outside.
	Public
	// Internal: must never be reachable from outside.
	Internal
)

func (c Class) String() string {
	switch c {
	case Public:
		return "public"
	case Internal:
		return "internal"
	}
	return "unlisted"
}

// Classify says what policy makes of a workload's port. A policy port ("5432/tcp")
// matches a binding by its container port or its host port: `-p 15432:5432` of a
// database is still the database. Public wins over internal, so that an operator
// can open one specific container's port that the default policy lists as
// internal for every container ("*").
func Classify(fw policy.Firewall, w Workload, p Port) Class {
	info := policy.ContainerInfo{Name: w.Name, Image: w.Image, Labels: w.Labels}
	if listed(fw.Public, info, p) {
		return Public
	}
	if listed(fw.Internal, info, p) {
		return Internal
	}
	return Unlisted
}

// ShouldBlock reports whether policy wants external NEW connections to the port
// dropped: internal ports always; under `default: deny` every port not public.
func ShouldBlock(fw policy.Firewall, c Class) bool {
	switch c {
	case Internal:
		return true
	case Public:
		return false
	}
	return fw.Default == "deny"
}

func listed(rules []policy.PortRule, info policy.ContainerInfo, p Port) bool {
	for _, r := range rules {
		if !r.Selector.Matches(info) {
			continue
		}
		for _, spec := range r.Ports {
			n, proto, err := ParsePortSpec(spec)
			if err != nil || proto != p.Proto {
				continue
			}
			if n == p.ContainerPort || n == p.HostPort {
				return true
			}
		}
	}
	return false
}

// ParsePortSpec parses a policy port "8080/tcp".
func ParsePortSpec(s string) (uint16, string, error) {
	num, proto, ok := strings.Cut(s, "/")
	if !ok {
		return 0, "", fmt.Errorf("port %q: want NUMBER/PROTO", s)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return 0, "", fmt.Errorf("port %q: bad number", s)
	}
	return uint16(n), proto, nil
}

// String renders a port as policy writes it: "8080/tcp".
func (p Port) String() string { return fmt.Sprintf("%d/%s", p.HostPort, p.Proto) }
