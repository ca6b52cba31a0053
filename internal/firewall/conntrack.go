package firewall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// A DROP for NEW connections leaves established ones running: Docker accepts
// ESTABLISHED traffic before any rule of ours, and a UDP flow stays alive while
// packets keep coming (FAULTS 10). So after a port becomes blocked, its
// conntrack entries are deleted; the next packet of such a flow is then NEW
// again (TCP loose pickup, UDP) and meets the DROP.
//
// Done over netlink (github.com/vishvananda/netlink, the library moby and
// kube-proxy use for the same job) rather than the conntrack(8) CLI: no extra
// package on the host, no process per port, one table dump per family. The
// filter is on the ORIGINAL destination port — the host port; Docker itself
// once filtered on the container port (moby#53384).

// PathDirect marks a deletion of flows routed straight into a container subnet
// (no DNAT) when its direct-routing drop is new.
const PathDirect = "direct"

// Deletion selects conntrack entries to delete.
type Deletion struct {
	Family iptsave.Family
	// Path: PathForward — DNAT'd flows (to a container); PathInput — flows to
	// the host itself, not DNAT'd (docker-proxy); PathDirect — flows into Dst
	// that were not DNAT'd.
	Path  string
	Proto string // "tcp", "udp", "sctp"; "" = any
	Port  uint16 // original destination port (the host port); 0 = any
	// Dst is the original destination; invalid = any of the host's own
	// addresses (forward, input).
	Dst netip.Prefix
}

// String renders the deletion as the equivalent conntrack(8) command, for the
// dry run.
func (d Deletion) String() string {
	var sb strings.Builder
	sb.WriteString("conntrack -D -f " + d.Family.String())
	if d.Proto != "" {
		sb.WriteString(" -p " + d.Proto)
	}
	if d.Port != 0 {
		fmt.Fprintf(&sb, " --orig-port-dst %d", d.Port)
	}
	if d.Dst.IsValid() {
		if d.Dst.IsSingleIP() {
			sb.WriteString(" --orig-dst " + d.Dst.Addr().String())
		} else {
			sb.WriteString(" --orig-dst " + d.Dst.String())
		}
	}
	switch d.Path {
	case PathForward:
		sb.WriteString(" (DNAT'd flows only)")
	case PathInput:
		sb.WriteString(" (flows to this host, not DNAT'd)")
	case PathDirect:
		sb.WriteString(" (not DNAT'd, from outside the subnet)")
	}
	return sb.String()
}

// ctFlow is the part of a conntrack entry the deletion decides on.
type ctFlow struct {
	Family     iptsave.Family
	Proto      uint8
	OrigSrc    netip.Addr
	OrigDst    netip.Addr
	OrigDport  uint16
	ReplySrc   netip.Addr
	ReplySport uint16
}

var protoNumbers = map[string]uint8{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}

// matches decides whether a conntrack entry is one of d's. Flows the host
// started itself (from one of its addresses or loopback) are never matched:
// the host's own outbound connection to some server's port 5432 is not a
// connection to a blocked container port.
func (d Deletion) matches(fl ctFlow, local map[netip.Addr]bool) bool {
	if fl.Family != d.Family || !fl.OrigSrc.IsValid() || !fl.OrigDst.IsValid() {
		return false
	}
	if fl.OrigSrc.IsLoopback() || local[fl.OrigSrc] {
		return false
	}
	if d.Proto != "" && fl.Proto != protoNumbers[d.Proto] {
		return false
	}
	if d.Port != 0 && fl.OrigDport != d.Port {
		return false
	}
	dnat := fl.ReplySrc != fl.OrigDst || (fl.OrigDport != 0 && fl.ReplySport != fl.OrigDport)
	switch d.Path {
	case PathForward:
		if !dnat {
			return false
		}
	case PathInput:
		if dnat {
			return false
		}
	case PathDirect:
		return !dnat && d.Dst.IsValid() && d.Dst.Contains(fl.OrigDst) && !d.Dst.Contains(fl.OrigSrc)
	default:
		return false
	}
	if d.Dst.IsValid() {
		return d.Dst.Contains(fl.OrigDst)
	}
	// Any of the host's addresses: Docker DNATs only connections to the host
	// (addrtype LOCAL), and docker-proxy listens only there. Without a list of
	// the host's addresses, any destination.
	return len(local) == 0 || local[fl.OrigDst]
}

// ctFilter adapts the deletions of one family to netlink's filter interface.
type ctFilter struct {
	dels  []Deletion
	local map[netip.Addr]bool
}

func (f ctFilter) MatchConntrackFlow(cf *netlink.ConntrackFlow) bool {
	fl := flowFrom(cf)
	for _, d := range f.dels {
		if d.matches(fl, f.local) {
			return true
		}
	}
	return false
}

func flowFrom(cf *netlink.ConntrackFlow) ctFlow {
	fam := iptsave.IPv4
	if cf.FamilyType == unix.AF_INET6 {
		fam = iptsave.IPv6
	}
	return ctFlow{
		Family:     fam,
		Proto:      cf.Forward.Protocol,
		OrigSrc:    ipAddr(cf.Forward.SrcIP),
		OrigDst:    ipAddr(cf.Forward.DstIP),
		OrigDport:  cf.Forward.DstPort,
		ReplySrc:   ipAddr(cf.Reverse.SrcIP),
		ReplySport: cf.Reverse.SrcPort,
	}
}

func ipAddr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// ctTimeout bounds every netlink receive of a conntrack dump or delete.
const ctTimeout = 5 * time.Second

// deleteConntrack deletes the entries the deletions select, one dump per
// family, in the backend's network namespace.
func (b *Backend) deleteConntrack(ctx context.Context, dels []Deletion, localAddrs []netip.Addr) (int, error) {
	h, err := b.netlinkHandle()
	if err != nil {
		return 0, fmt.Errorf("delete conntrack entries: %w", err)
	}
	defer h.Close()
	if err := h.SetSocketTimeout(ctTimeout); err != nil {
		return 0, fmt.Errorf("delete conntrack entries: socket timeout: %w", err)
	}
	local := map[netip.Addr]bool{}
	for _, a := range localAddrs {
		local[a] = true
	}
	total := 0
	var errs []error
	for _, fam := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		f := ctFilter{local: local}
		for _, d := range dels {
			if d.Family == fam {
				f.dels = append(f.dels, d)
			}
		}
		if len(f.dels) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		af := netlink.InetFamily(unix.AF_INET)
		if fam == iptsave.IPv6 {
			af = netlink.InetFamily(unix.AF_INET6)
		}
		n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, af, f)
		total += int(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fam, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return total, fmt.Errorf("delete conntrack entries: %w", err)
	}
	return total, nil
}

// netlinkHandle opens a netfilter netlink socket in the backend's namespace.
func (b *Backend) netlinkHandle() (*netlink.Handle, error) {
	if b.cfg.Netns == "" {
		return netlink.NewHandle(unix.NETLINK_NETFILTER)
	}
	ns, err := netns.GetFromPath(b.cfg.Netns)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", b.cfg.Netns, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
}
