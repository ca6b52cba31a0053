package firewall

import (
	"net/netip"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// Workload is what the firewall needs to know of one container. The caller fills
// it from the Docker API; this package never talks to Docker.
type Workload struct {
	ID          string // full container ID
	Name        string // without the leading "/"
	Image       string
	Labels      map[string]string // compared by policy selectors only, never put into a rule
	NetworkMode string            // "bridge", "host", "none", "container:<id>", or a user network's name
	Ports       []Port
	Endpoints   []Endpoint
	Pid         int // the container's init process on the host, 0 if unknown
}

// ShortID is the 12-character container ID, the only container-derived string
// that ever goes into a rule (as a comment), and only after validation.
func (w Workload) ShortID() string {
	if len(w.ID) > 12 {
		return w.ID[:12]
	}
	return w.ID
}

// Port is one published port binding.
type Port struct {
	// HostIP is the address Docker bound; the zero Addr means "every address"
	// (Docker's "" — 0.0.0.0 and :: are kept as themselves).
	HostIP        netip.Addr
	HostPort      uint16 // 0: no host port (a routed-mode network publishes the container's own address)
	ContainerPort uint16
	Proto         string // "tcp", "udp", "sctp"
	// Ingress marks a swarm service port published through the routing mesh
	// (nat DOCKER-INGRESS), not a binding of this container.
	Ingress bool
}

// Endpoint is a container's attachment to one network.
type Endpoint struct {
	Network   string // network name
	NetworkID string
	IPv4      netip.Addr
	IPv6      netip.Addr
}

// Network is a Docker network, as far as exposure is concerned.
type Network struct {
	ID, Name, Driver string
	Bridge           string // host bridge interface: docker0, br-<id[:12]>, or the configured name; "" if none
	Internal         bool
	IPv6             bool
	Subnets          []netip.Prefix
	// GatewayMode is Docker 28+'s com.docker.network.bridge.gateway_mode_ipv4/6:
	// "" or "nat" (the default), "routed", "nat-unprotected", "isolated".
	GatewayMode4, GatewayMode6 string
}

// Interface is a host network interface.
type Interface struct {
	Name     string
	Up       bool
	Loopback bool
	Addrs    []netip.Prefix
}

// Docker is what the daemon's configuration says about its firewall.
type Docker struct {
	Version         string // engine version, e.g. "20.10.24+dfsg1"
	IPTables        bool   // "iptables" (default true)
	IP6Tables       bool   // "ip6tables" (default true since 27, false before)
	IPv6            bool   // daemon --ipv6 (the default bridge has IPv6)
	UserlandProxy   bool   // "userland-proxy" (default true)
	FirewallBackend string // /info FirewallBackend.Driver: "iptables", "nftables", "" (older APIs: iptables)
	DirectRouting   bool   // "allow-direct-routing"
	Swarm           bool
	Networks        []Network
}

// Rules is one read of the kernel's rules: every table of both families, read once
// per scan.
type Rules struct {
	V4, V6 *iptsave.Ruleset
	// Backend is the iptables variant the rules were read with: "nft" or "legacy".
	Backend string
}
