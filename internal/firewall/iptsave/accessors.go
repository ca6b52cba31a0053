package iptsave

import (
	"net/netip"
	"strconv"
	"strings"
)

// Table returns a table of the dump, or nil.
func (rs *Ruleset) Table(name string) *Table {
	if rs == nil {
		return nil
	}
	return rs.Tables[name]
}

// DestinationPorts returns the destination ports a rule matches on, from
// `-m tcp/udp/sctp --dport` or `-m multiport --dports`, whether that match is
// negated, and whether the rule has one at all. A value that does not parse
// reports ok with no ranges, so that a caller never mistakes it for "any port".
func (r *Rule) DestinationPorts() (ranges []PortRange, negated, ok bool) {
	for _, m := range r.Matches {
		for _, o := range m.Opts {
			switch o.Name {
			case "dport", "destination-port", "dports", "destination-ports":
			default:
				continue
			}
			if len(o.Values) == 0 {
				return nil, o.Negated, true
			}
			pr, _ := ParsePorts(o.Values[0])
			return pr, o.Negated, true
		}
	}
	return nil, false, false
}

// ToDestination parses a DNAT target's --to-destination: "172.17.0.2:80",
// "[fd00::2]:80", "172.17.0.2" (port unchanged: Ports is the zero range),
// "172.17.0.2-172.17.0.4:80-81" (a range: the first address and port are
// returned and Range is set).
func (r *Rule) ToDestination() (dst DNATDest, ok bool) {
	o, found := r.TargetOpt("to-destination")
	if !found || len(o.Values) == 0 {
		return DNATDest{}, false
	}
	return ParseDNATDest(o.Values[0])
}

// DNATDest is a parsed --to-destination.
type DNATDest struct {
	Addr  netip.Addr // invalid when only a port was given (":8080")
	Ports PortRange  // zero when the port is left unchanged
	Range bool       // an address or port range: only the first is in Addr/Ports
}

// ParseDNATDest parses one --to-destination value.
func ParseDNATDest(v string) (DNATDest, bool) {
	var d DNATDest
	host, port := v, ""
	switch {
	case strings.HasPrefix(v, "["):
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return DNATDest{}, false
		}
		host = v[1:end]
		rest := v[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return DNATDest{}, false
			}
			port = rest[1:]
		}
	case strings.Count(v, ":") == 1:
		host, port, _ = strings.Cut(v, ":")
	case strings.Count(v, ":") > 1:
		// A bare IPv6 address, no port.
	}
	if lo, hi, isRange := strings.Cut(host, "-"); isRange {
		d.Range = true
		host = lo
		if _, err := netip.ParseAddr(hi); err != nil {
			return DNATDest{}, false
		}
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return DNATDest{}, false
		}
		d.Addr = a.Unmap()
	}
	if port != "" {
		lo, hi, isRange := strings.Cut(port, "-")
		pl, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return DNATDest{}, false
		}
		d.Ports = PortRange{uint16(pl), uint16(pl)}
		if isRange {
			d.Range = true
			ph, err := strconv.ParseUint(hi, 10, 16)
			if err != nil {
				return DNATDest{}, false
			}
			d.Ports.Hi = uint16(ph)
		}
	}
	if !d.Addr.IsValid() && d.Ports == (PortRange{}) {
		return DNATDest{}, false
	}
	return d, true
}

// ParseAddr parses an address condition as iptables-save prints it:
// "172.17.0.2/32", "10.0.0.0/8", "fd00::/64", a bare address, or an address with
// a dotted mask ("10.0.0.0/255.0.0.0"). A non-contiguous mask (legal in iptables,
// not a prefix) reports ok false.
func ParseAddr(v string) (netip.Prefix, bool) {
	addr, mask, hasMask := strings.Cut(v, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	if !hasMask {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	if n, err := strconv.Atoi(mask); err == nil {
		p, err := a.Prefix(n)
		if err != nil || n < 0 {
			return netip.Prefix{}, false
		}
		return p, true
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || m.BitLen() != a.BitLen() {
		return netip.Prefix{}, false
	}
	ones, contiguous := 0, true
	for _, b := range m.AsSlice() {
		for bit := 7; bit >= 0; bit-- {
			if b&(1<<bit) != 0 {
				if !contiguous {
					return netip.Prefix{}, false
				}
				ones++
			} else {
				contiguous = false
			}
		}
	}
	p, err := a.Prefix(ones)
	return p, err == nil
}
