//go:build linux

package firewall

import (
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestApplyDeletesConntrackOfNewlyBlockedPorts puts conntrack entries into a
// namespace's table over netlink — as if connections had been established
// before hardend blocked their port — and asserts that Apply deletes exactly
// the ones it must (FAULTS 10): DNAT'd flows whose ORIGINAL destination port is
// a newly blocked host port (TCP and UDP), IPv6 flows to docker-proxy on such a
// port, and flows routed straight into a container subnet. The host's own
// outbound connection to a remote port 5432, and flows to ports that stay
// open, survive. A second Apply deletes nothing.
func TestApplyDeletesConntrackOfNewlyBlockedPorts(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		udp := append([]Workload{}, baseWorkloads...)
		udp = append(udp, workload("2222222222220000000000000000000000000000000000000000000000000000", "cache-udp",
			published("", 11211, 11211, "udp")))
		in := PlanInput{Workloads: udp, Interfaces: hostIfaces, Firewall: internalDBs, Docker: docker2010}
		in.Firewall.Internal = append(in.Firewall.Internal, portRule("*", "11211/udp"))
		p := mustPlan(t, in)

		h, err := f.b.netlinkHandle()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		type entry struct {
			name   string
			flow   *netlink.ConntrackFlow
			delete bool
		}
		tcp4 := func(src, dst string, sport, dport uint16, rsrc string, rsport uint16) *netlink.ConntrackFlow {
			return ctFlowOf(unix.AF_INET, unix.IPPROTO_TCP, src, dst, sport, dport, rsrc, rsport)
		}
		entries := []entry{
			{"tcp to blocked 5432, DNAT'd", tcp4("192.0.2.2", "192.0.2.1", 40001, 5432, "172.17.0.3", 5432), true},
			{"tcp to blocked 16379, DNAT'd to 6379", tcp4("192.0.2.2", "192.0.2.1", 40002, 16379, "172.17.0.4", 6379), true},
			{"udp to blocked 11211, DNAT'd", ctFlowOf(unix.AF_INET, unix.IPPROTO_UDP, "192.0.2.2", "192.0.2.1", 40003, 11211, "172.17.0.6", 11211), true},
			{"tcp6 to docker-proxy on blocked 5432", ctFlowOf(unix.AF_INET6, unix.IPPROTO_TCP, "2001:db8:ff::2", "2001:db8:ff::1", 40004, 5432, "2001:db8:ff::1", 5432), true},
			{"tcp routed straight to a container", tcp4("192.0.2.2", "172.17.0.5", 40005, 80, "172.17.0.5", 80), true},
			{"tcp to open 8080, DNAT'd", tcp4("192.0.2.2", "192.0.2.1", 40006, 8080, "172.17.0.2", 80), false},
			{"host's own connection to a remote 5432", tcp4("192.0.2.1", "198.51.100.7", 40007, 5432, "198.51.100.7", 5432), false},
			{"container's outbound connection", tcp4("172.17.0.3", "192.0.2.2", 40008, 80, "192.0.2.2", 80), false},
		}
		for _, e := range entries {
			if err := h.ConntrackCreate(netlink.ConntrackTable, netlink.InetFamily(e.flow.FamilyType), e.flow); err != nil {
				t.Fatalf("create conntrack entry %q: %v", e.name, err)
			}
		}
		res := f.apply(t, p)
		if want := 5; res.ConntrackDeleted != want {
			t.Errorf("deleted %d conntrack entries, want %d; deletions:\n%s", res.ConntrackDeleted, want, res.Changes.Render())
		}
		left := listFlows(t, h)
		for _, e := range entries {
			present := slices.Contains(left, flowKey(e.flow))
			if present == e.delete {
				t.Errorf("%s: present after apply = %v, want %v", e.name, present, !e.delete)
			}
		}
		// Without a change, nothing more is deleted.
		for _, e := range entries[:1] {
			h.ConntrackCreate(netlink.ConntrackTable, netlink.InetFamily(e.flow.FamilyType), e.flow)
		}
		if res := f.apply(t, p); res.ConntrackDeleted != 0 || len(res.Changes.Deletions) != 0 {
			t.Errorf("second apply deleted %d entries (%d deletions)", res.ConntrackDeleted, len(res.Changes.Deletions))
		}
	})
}

func ctFlowOf(fam uint8, proto uint8, src, dst string, sport, dport uint16, rsrc string, rsport uint16) *netlink.ConntrackFlow {
	// netlink sends the address bytes as given: an IPv4 address must be the
	// 4-byte form, or the kernel reads the zeros of the 16-byte one.
	ip := func(s string) net.IP {
		a := net.ParseIP(s)
		if v4 := a.To4(); v4 != nil {
			return v4
		}
		return a
	}
	return &netlink.ConntrackFlow{
		FamilyType: fam,
		Forward:    netlink.IPTuple{Protocol: proto, SrcIP: ip(src), DstIP: ip(dst), SrcPort: sport, DstPort: dport},
		Reverse:    netlink.IPTuple{Protocol: proto, SrcIP: ip(rsrc), DstIP: ip(src), SrcPort: rsport, DstPort: sport},
		TimeOut:    600,
		ProtoInfo:  tcpInfo(proto),
	}
}

func tcpInfo(proto uint8) netlink.ProtoInfo {
	if proto != unix.IPPROTO_TCP {
		return nil
	}
	return &netlink.ProtoInfoTCP{State: 3} // ESTABLISHED
}

func flowKey(f *netlink.ConntrackFlow) string {
	return fmt.Sprintf("%d %d %s:%d>%s:%d", f.FamilyType, f.Forward.Protocol, f.Forward.SrcIP, f.Forward.SrcPort, f.Forward.DstIP, f.Forward.DstPort)
}

func listFlows(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	var out []string
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		flows, err := h.ConntrackTableList(netlink.ConntrackTable, fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range flows {
			out = append(out, flowKey(f))
		}
	}
	return out
}
