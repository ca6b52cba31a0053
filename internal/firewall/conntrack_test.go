package firewall

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

func TestDeletionMatches(t *testing.T) {
	local := map[netip.Addr]bool{addr("192.0.2.1"): true, addr("2001:db8:ff::1"): true, addr("172.17.0.1"): true}
	fwd5432 := Deletion{Family: iptsave.IPv4, Path: PathForward, Proto: "tcp", Port: 5432}
	fwd5432at := Deletion{Family: iptsave.IPv4, Path: PathForward, Proto: "tcp", Port: 5432, Dst: netip.MustParsePrefix("192.0.2.1/32")}
	in6 := Deletion{Family: iptsave.IPv6, Path: PathInput, Proto: "tcp", Port: 5432}
	direct := Deletion{Family: iptsave.IPv4, Path: PathDirect, Dst: netip.MustParsePrefix("172.17.0.0/16")}
	v4 := func(proto uint8, src, dst string, dport uint16, rsrc string, rsport uint16) ctFlow {
		return ctFlow{Family: iptsave.IPv4, Proto: proto, OrigSrc: addr(src), OrigDst: addr(dst), OrigDport: dport, ReplySrc: addr(rsrc), ReplySport: rsport}
	}
	tests := []struct {
		name string
		d    Deletion
		fl   ctFlow
		want bool
	}{
		{"DNAT'd to the blocked host port", fwd5432, v4(unix.IPPROTO_TCP, "192.0.2.2", "192.0.2.1", 5432, "172.17.0.3", 5432), true},
		{"DNAT'd, host port differs from container port", fwd5432, v4(unix.IPPROTO_TCP, "192.0.2.2", "192.0.2.1", 5432, "172.17.0.3", 15432), true},
		{"container port equals the blocked port, host port does not (moby#53384)", fwd5432, v4(unix.IPPROTO_TCP, "192.0.2.2", "192.0.2.1", 15432, "172.17.0.3", 5432), false},
		{"other protocol", fwd5432, v4(unix.IPPROTO_UDP, "192.0.2.2", "192.0.2.1", 5432, "172.17.0.3", 5432), false},
		{"not DNAT'd (a host service on the port)", fwd5432, v4(unix.IPPROTO_TCP, "192.0.2.2", "192.0.2.1", 5432, "192.0.2.1", 5432), false},
		{"the host's own outbound connection", fwd5432, v4(unix.IPPROTO_TCP, "192.0.2.1", "198.51.100.7", 5432, "198.51.100.7", 5432), false},
		{"from loopback", fwd5432, v4(unix.IPPROTO_TCP, "127.0.0.1", "192.0.2.1", 5432, "172.17.0.3", 5432), false},
		{"DNAT'd to a non-local destination", fwd5432, v4(unix.IPPROTO_TCP, "192.0.2.2", "198.51.100.7", 5432, "172.17.0.3", 5432), false},
		{"bound address matches", fwd5432at, v4(unix.IPPROTO_TCP, "192.0.2.2", "192.0.2.1", 5432, "172.17.0.3", 5432), true},
		{"bound address differs", fwd5432at, v4(unix.IPPROTO_TCP, "192.0.2.2", "192.0.2.9", 5432, "172.17.0.3", 5432), false},
		{"IPv6 to docker-proxy", in6, ctFlow{Family: iptsave.IPv6, Proto: unix.IPPROTO_TCP, OrigSrc: addr("2001:db8:ff::2"), OrigDst: addr("2001:db8:ff::1"), OrigDport: 5432, ReplySrc: addr("2001:db8:ff::1"), ReplySport: 5432}, true},
		{"IPv4 flow, IPv6 deletion", in6, v4(unix.IPPROTO_TCP, "192.0.2.2", "192.0.2.1", 5432, "192.0.2.1", 5432), false},
		{"routed straight to a container", direct, v4(unix.IPPROTO_TCP, "192.0.2.2", "172.17.0.5", 80, "172.17.0.5", 80), true},
		{"container to container", direct, v4(unix.IPPROTO_TCP, "172.17.0.4", "172.17.0.5", 80, "172.17.0.5", 80), false},
		{"DNAT'd into the subnet", direct, v4(unix.IPPROTO_TCP, "192.0.2.2", "192.0.2.1", 8080, "172.17.0.2", 80), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.matches(tt.fl, local); got != tt.want {
				t.Errorf("%s matches %+v = %v, want %v", tt.d, tt.fl, got, tt.want)
			}
		})
	}
}

func TestDeletionString(t *testing.T) {
	d := Deletion{Family: iptsave.IPv4, Path: PathForward, Proto: "udp", Port: 8082, Dst: netip.MustParsePrefix("192.0.2.1/32")}
	if got, want := d.String(), "conntrack -D -f ipv4 -p udp --orig-port-dst 8082 --orig-dst 192.0.2.1 (DNAT'd flows only)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
