package containers

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Container is hardend's view of one inspect: what the checks, the firewall
// and policy need, plus the raw inspect the checks read.
type Container struct {
	ID          string // full 64-hex ID
	Name        string // without the leading "/"
	Image       string // as the user named it (Config.Image)
	Labels      map[string]string
	Pid         int // init process on the host (State.Pid); 0 if not running
	Running     bool
	NetworkMode string // "default", "bridge", "host", "none", "container:<id>", a network name
	// Ports are the effective published ports. For host-network containers
	// Docker discards -p (the service listens on the host directly), so they
	// come from HostConfig.PortBindings with HostPort = ContainerPort: what
	// actually listens on the host.
	Ports     []PortBinding
	Endpoints []Endpoint
	Inspect   *container.InspectResponse

	// Proc is what the host's /proc says about the init process; nil when it
	// could not be read (ProcErr says why).
	Proc    *ProcFacts
	ProcErr error
}

// PortBinding is one published port.
type PortBinding struct {
	HostIP string // "0.0.0.0", "::", "127.0.0.1", ... ; "" = every address
	// HostPort is the port on the host; 0 means none was mapped (Docker's
	// "routed" gateway mode publishes the container port with no host port).
	HostPort      uint16
	ContainerPort uint16
	Proto         string // "tcp", "udp", "sctp"
}

// Endpoint is the container's attachment to one network.
type Endpoint struct {
	Network   string
	NetworkID string
	IPv4      netip.Addr
	IPv6      netip.Addr
}

// ShortID is the 12-character ID Docker shows, used as the result subject's ID.
func (c *Container) ShortID() string { return shortID(c.ID) }

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// HostNetwork reports whether the container shares the host's network
// namespace.
func (c *Container) HostNetwork() bool { return c.NetworkMode == "host" }

// containerFrom builds the view from a raw inspect.
func containerFrom(in *container.InspectResponse) Container {
	c := Container{ID: in.ID, Name: strings.TrimPrefix(in.Name, "/"), Inspect: in}
	if in.Config != nil {
		c.Image = in.Config.Image
		c.Labels = in.Config.Labels
	}
	if c.Image == "" {
		c.Image = in.Image
	}
	if in.State != nil {
		c.Pid, c.Running = in.State.Pid, in.State.Running
	}
	if in.HostConfig != nil {
		c.NetworkMode = string(in.HostConfig.NetworkMode)
	}
	if in.NetworkSettings != nil {
		c.Ports = portsFrom(in.NetworkSettings.Ports)
		names := make([]string, 0, len(in.NetworkSettings.Networks))
		for n := range in.NetworkSettings.Networks {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			ep := in.NetworkSettings.Networks[n]
			if ep == nil {
				continue
			}
			c.Endpoints = append(c.Endpoints, Endpoint{Network: n, NetworkID: ep.NetworkID,
				IPv4: validAddr(ep.IPAddress), IPv6: validAddr(ep.GlobalIPv6Address)})
		}
	}
	if c.HostNetwork() && in.HostConfig != nil && len(c.Ports) == 0 {
		for _, p := range portsFrom(in.HostConfig.PortBindings) {
			p.HostPort, p.HostIP = p.ContainerPort, ""
			c.Ports = append(c.Ports, p)
		}
		c.Ports = dedupePorts(c.Ports)
	}
	return c
}

func validAddr(a netip.Addr) netip.Addr {
	if !a.IsValid() || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// portsFrom flattens a PortMap, skipping exposed-but-unpublished ports, in a
// stable order.
func portsFrom(pm network.PortMap) []PortBinding {
	var out []PortBinding
	for port, bindings := range pm {
		for _, b := range bindings {
			pb := PortBinding{ContainerPort: port.Num(), Proto: string(port.Proto())}
			if b.HostIP.IsValid() {
				pb.HostIP = b.HostIP.Unmap().String()
			}
			if b.HostPort != "" {
				// "8080" or, for a range published as one binding, "8080-8090":
				// the first port is the one this container port maps to.
				first, _, _ := strings.Cut(b.HostPort, "-")
				if n, err := strconv.ParseUint(first, 10, 16); err == nil {
					pb.HostPort = uint16(n)
				}
			}
			if pb.Proto == "" {
				pb.Proto = "tcp"
			}
			out = append(out, pb)
		}
	}
	return dedupePorts(out)
}

func dedupePorts(ps []PortBinding) []PortBinding {
	slices.SortFunc(ps, func(a, b PortBinding) int {
		return cmp.Or(cmp.Compare(a.ContainerPort, b.ContainerPort), cmp.Compare(a.Proto, b.Proto),
			cmp.Compare(a.HostPort, b.HostPort), cmp.Compare(a.HostIP, b.HostIP))
	})
	return slices.Compact(ps)
}

// Network is one Docker network, as the firewall needs it.
type Network struct {
	ID       string
	Name     string
	Driver   string // "bridge", "host", "null", "overlay", "macvlan", "ipvlan", ...
	Bridge   string // the Linux bridge interface for bridge networks: docker0, br-<id[:12]>, or the configured name
	IPv4     bool
	IPv6     bool
	Internal bool
	Subnets  []netip.Prefix
	Options  map[string]string
}

// Bridge driver options Docker sets (libnetwork bridge driver).
const (
	optBridgeName  = "com.docker.network.bridge.name"
	optEnableICC   = "com.docker.network.bridge.enable_icc"
	optHostBinding = "com.docker.network.bridge.host_binding_ipv4"
	optDefault     = "com.docker.network.bridge.default_bridge"
)

func networkFrom(n *network.Network) Network {
	out := Network{ID: n.ID, Name: n.Name, Driver: n.Driver, IPv6: n.EnableIPv6, Internal: n.Internal,
		Options: n.Options}
	// EnableIPv4 exists since API 1.48; older daemons always enable IPv4 and do
	// not send the field, which decodes as false.
	out.IPv4 = n.EnableIPv4 || slices.ContainsFunc(n.IPAM.Config, func(c network.IPAMConfig) bool { return c.Subnet.Addr().Is4() })
	for _, c := range n.IPAM.Config {
		if c.Subnet.IsValid() {
			out.Subnets = append(out.Subnets, c.Subnet)
		}
	}
	if n.Driver == "bridge" {
		switch {
		case n.Options[optBridgeName] != "":
			out.Bridge = n.Options[optBridgeName]
		case n.Name == "bridge":
			out.Bridge = "docker0"
		default:
			out.Bridge = "br-" + shortID(n.ID)
		}
	}
	return out
}
