//go:build linux

package testenv

import (
	"net/netip"
	"testing"
	"time"
)

// Outsider is "the internet": a second namespace joined to the engine's by a veth
// pair, hdt-v0 (engine side) and hdt-v1 (outsider side).
type Outsider struct {
	NS *Netns
	// HostV4/HostV6 are the engine host's addresses on the link; V4/V6 the
	// outsider's own.
	HostV4, HostV6, V4, V6 netip.Addr
	// HostIface is the engine host's external interface (hdt-v0).
	HostIface string
}

// Outsider creates the outsider namespace and the link to the engine's host:
// 192.0.2.1/24 and 2001:db8:ff::1/64 on the host side, .2 and ::2 outside. It adds
// no route to the container subnets: RouteVia does that for direct-routing tests.
func (e *Engine) Outsider(t testing.TB) *Outsider {
	t.Helper()
	ns := NewNetns(t)
	o := &Outsider{
		NS:        ns,
		HostV4:    netip.MustParseAddr("192.0.2.1"),
		HostV6:    netip.MustParseAddr("2001:db8:ff::1"),
		V4:        netip.MustParseAddr("192.0.2.2"),
		V6:        netip.MustParseAddr("2001:db8:ff::2"),
		HostIface: "hdt-v0",
	}
	// Created straight inside the two namespaces: the root namespace never holds
	// either end, not even for a moment.
	e.NS.Run(t, "ip", "link", "add", "hdt-v0", "type", "veth", "peer", "name", "hdt-v1", "netns", ns.Name)
	e.NS.Run(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "hdt-v0")
	e.NS.Run(t, "ip", "addr", "add", "2001:db8:ff::1/64", "dev", "hdt-v0", "nodad")
	e.NS.Run(t, "ip", "link", "set", "hdt-v0", "up")
	ns.Run(t, "ip", "addr", "add", "192.0.2.2/24", "dev", "hdt-v1")
	ns.Run(t, "ip", "addr", "add", "2001:db8:ff::2/64", "dev", "hdt-v1", "nodad")
	ns.Run(t, "ip", "link", "set", "hdt-v1", "up")
	return o
}

// RouteVia makes the outsider a neighbour that routes prefix (e.g. the container
// subnet 172.16.0.0/12) straight through the engine host — the direct-routing
// path of FAULTS.md 7.
func (o *Outsider) RouteVia(t testing.TB, prefix string) {
	t.Helper()
	p := netip.MustParsePrefix(prefix)
	via := o.HostV4
	if p.Addr().Is6() {
		via = o.HostV6
	}
	o.NS.Run(t, "ip", "route", "add", prefix, "via", via.String())
}

// Reachable reports whether a TCP connection from the outsider to addr
// ("192.0.2.1:8080", "[2001:db8:ff::1]:8080") opens within 2 s.
func (o *Outsider) Reachable(addr string) bool {
	return o.ReachableWithin(addr, 2*time.Second)
}

// ReachableWithin is Reachable with a chosen timeout.
func (o *Outsider) ReachableWithin(addr string, timeout time.Duration) bool {
	c, err := o.NS.Dial("tcp", addr, timeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// WaitReachable waits (up to 10 s) until a TCP connect from the outsider to addr
// succeeds (want) or fails (!want), and fails the test otherwise.
func (o *Outsider) WaitReachable(t testing.TB, addr string, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if o.ReachableWithin(addr, 500*time.Millisecond) == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("from the outsider, %s reachable=%v, want %v", addr, !want, want)
}
