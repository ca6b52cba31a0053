package audit

import (
	"net/netip"
	"strings"

	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/firewall"
)

// Workloads turns the Docker snapshot into what the firewall needs of each
// container. Port bindings Docker reports for a host-network container are kept:
// the firewall knows they describe what listens on the host directly.
func Workloads(snap *containers.Snapshot) []firewall.Workload {
	if snap == nil {
		return nil
	}
	out := make([]firewall.Workload, 0, len(snap.Containers))
	for _, c := range snap.Containers {
		w := firewall.Workload{ID: c.ID, Name: c.Name, Image: c.Image, Labels: c.Labels,
			NetworkMode: c.NetworkMode, Pid: c.Pid}
		for _, p := range c.Ports {
			fp := firewall.Port{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Proto: p.Proto}
			if p.HostIP != "" {
				// Docker validated the address; one it could not parse would not
				// be bound either, so skipping it loses nothing real.
				a, err := netip.ParseAddr(p.HostIP)
				if err != nil {
					continue
				}
				fp.HostIP = a
			}
			w.Ports = append(w.Ports, fp)
		}
		for _, e := range c.Endpoints {
			w.Endpoints = append(w.Endpoints, firewall.Endpoint{Network: e.Network, NetworkID: e.NetworkID, IPv4: e.IPv4, IPv6: e.IPv6})
		}
		out = append(out, w)
	}
	return out
}

// DockerFirewall is what the daemon's settings say about its firewall: flags win
// over daemon.json (dockerd refuses a key set in both), then Docker's defaults
// for that version.
func DockerFirewall(snap *containers.Snapshot) firewall.Docker {
	d := firewall.Docker{IPTables: true, UserlandProxy: true}
	if snap == nil {
		return d
	}
	d.Version = snap.Engine.Version
	d.FirewallBackend = snap.Engine.FirewallBackend
	// ip6tables is on by default since Docker 27.
	d.IP6Tables = majorVersion(d.Version) >= 27
	daemon := snap.Daemon
	setting := func(flag, key string, into *bool) {
		if v, ok := daemon.Flags.Bool(flag); ok {
			*into = v
			return
		}
		if v, set, ok := daemon.Config.Bool(key); set && ok {
			*into = v
		}
	}
	setting("iptables", "iptables", &d.IPTables)
	setting("ip6tables", "ip6tables", &d.IP6Tables)
	setting("ipv6", "ipv6", &d.IPv6)
	setting("userland-proxy", "userland-proxy", &d.UserlandProxy)
	setting("allow-direct-routing", "allow-direct-routing", &d.DirectRouting)
	for _, n := range snap.Networks {
		fn := firewall.Network{ID: n.ID, Name: n.Name, Driver: n.Driver, Bridge: n.Bridge,
			Internal: n.Internal, IPv6: n.IPv6, Subnets: n.Subnets,
			GatewayMode4: n.Options["com.docker.network.bridge.gateway_mode_ipv4"],
			GatewayMode6: n.Options["com.docker.network.bridge.gateway_mode_ipv6"]}
		if n.Driver == "overlay" && n.Name == "ingress" {
			d.Swarm = true
		}
		d.Networks = append(d.Networks, fn)
	}
	return d
}

// majorVersion reads 20 from "20.10.24+dfsg1"; 0 when unknown.
func majorVersion(v string) int {
	n := 0
	for _, r := range strings.TrimPrefix(v, "v") {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}
