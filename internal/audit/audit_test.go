package audit

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/policy"
)

func TestWorkloads(t *testing.T) {
	snap := &containers.Snapshot{Containers: []containers.Container{{
		ID: "0123456789abcdef", Name: "web", Image: "nginx", Labels: map[string]string{"a": "b"},
		NetworkMode: "bridge", Pid: 42,
		Ports: []containers.PortBinding{
			{HostIP: "", HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
			{HostIP: "127.0.0.1", HostPort: 8081, ContainerPort: 81, Proto: "tcp"},
			{HostIP: "::", HostPort: 8082, ContainerPort: 82, Proto: "udp"},
			{HostIP: "not-an-address", HostPort: 8083, ContainerPort: 83, Proto: "tcp"},
		},
		Endpoints: []containers.Endpoint{{Network: "bridge", NetworkID: "n1", IPv4: netip.MustParseAddr("172.17.0.2")}},
	}}}
	want := []firewall.Workload{{
		ID: "0123456789abcdef", Name: "web", Image: "nginx", Labels: map[string]string{"a": "b"},
		NetworkMode: "bridge", Pid: 42,
		Ports: []firewall.Port{
			{HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
			{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8081, ContainerPort: 81, Proto: "tcp"},
			{HostIP: netip.MustParseAddr("::"), HostPort: 8082, ContainerPort: 82, Proto: "udp"},
		},
		Endpoints: []firewall.Endpoint{{Network: "bridge", NetworkID: "n1", IPv4: netip.MustParseAddr("172.17.0.2")}},
	}}
	if diff := cmp.Diff(want, Workloads(snap), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if Workloads(nil) != nil {
		t.Error("Workloads(nil) != nil")
	}
}

func TestDockerFirewall(t *testing.T) {
	flags := func(kv ...string) containers.DockerdFlags {
		f := containers.DockerdFlags{Values: map[string][]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Values[kv[i]] = append(f.Values[kv[i]], kv[i+1])
		}
		return f
	}
	config := func(kv map[string]any) *containers.DaemonConfig {
		c := &containers.DaemonConfig{Keys: map[string]containers.ConfigValue{}}
		for k, v := range kv {
			c.Keys[k] = containers.ConfigValue{Value: v}
		}
		return c
	}
	tests := []struct {
		name string
		snap *containers.Snapshot
		want firewall.Docker
	}{
		{"20.10 defaults", &containers.Snapshot{Engine: containers.EngineInfo{Version: "20.10.24+dfsg1"}},
			firewall.Docker{Version: "20.10.24+dfsg1", IPTables: true, UserlandProxy: true}},
		{"27 turns ip6tables on", &containers.Snapshot{Engine: containers.EngineInfo{Version: "27.0.1"}},
			firewall.Docker{Version: "27.0.1", IPTables: true, IP6Tables: true, UserlandProxy: true}},
		{"flags", &containers.Snapshot{Engine: containers.EngineInfo{Version: "20.10.24"},
			Daemon: containers.DaemonFacts{Flags: flags("userland-proxy", "false", "ipv6", "true", "ip6tables", "true")}},
			firewall.Docker{Version: "20.10.24", IPTables: true, IP6Tables: true, IPv6: true}},
		{"daemon.json", &containers.Snapshot{Engine: containers.EngineInfo{Version: "28.5.2", FirewallBackend: "iptables"},
			Daemon: containers.DaemonFacts{Config: config(map[string]any{"iptables": false, "allow-direct-routing": true, "ip6tables": "yes"})}},
			// "yes" is not a boolean: dockerd refuses it; the default stands.
			firewall.Docker{Version: "28.5.2", FirewallBackend: "iptables", IP6Tables: true, UserlandProxy: true, DirectRouting: true}},
		{"networks and swarm", &containers.Snapshot{Networks: []containers.Network{
			{ID: "n1", Name: "bridge", Driver: "bridge", Bridge: "docker0", Subnets: []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")}},
			{ID: "n2", Name: "ingress", Driver: "overlay", Options: map[string]string{"com.docker.network.bridge.gateway_mode_ipv4": "routed"}},
		}}, firewall.Docker{IPTables: true, UserlandProxy: true, Swarm: true, Networks: []firewall.Network{
			{ID: "n1", Name: "bridge", Driver: "bridge", Bridge: "docker0", Subnets: []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")}},
			{ID: "n2", Name: "ingress", Driver: "overlay", GatewayMode4: "routed"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DockerFirewall(tt.snap)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestMajorVersion(t *testing.T) {
	for in, want := range map[string]int{"20.10.24+dfsg1": 20, "v28.5.2": 28, "": 0, "dev": 0, "29": 29} {
		if got := majorVersion(in); got != want {
			t.Errorf("majorVersion(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestRouteLocalnet(t *testing.T) {
	root := t.TempDir()
	set := func(iface, v string) {
		dir := filepath.Join(root, "proc/sys/net/ipv4/conf", iface)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "route_localnet"), []byte(v+"\n"), 0o644)
	}
	ifaces := []firewall.Interface{{Name: "lo", Loopback: true}, {Name: "eth0"}, {Name: "docker0"}}
	set("all", "0")
	set("eth0", "0")
	set("docker0", "1") // Docker sets it on its bridge with userland-proxy off: not external
	if routeLocalnet(root, ifaces) {
		t.Error("route_localnet on docker0 only: reported as set on an external interface")
	}
	set("eth0", "1")
	if !routeLocalnet(root, ifaces) {
		t.Error("route_localnet=1 on eth0 not seen")
	}
}

// With no Docker daemon and no rules read, every area still reports, the
// Docker-dependent checks skip with the reason, and nothing Docker-dependent
// passes.
func TestRunWithoutDocker(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")
	scan := Run(context.Background(), Options{
		Root: t.TempDir(), DockerHost: sock, Timeout: time.Second, Policy: policy.Default(),
		SkipFirewall: true, Version: "test",
	})
	areas := map[string]int{}
	for _, r := range scan.Report.Results {
		areas[r.Area]++
		if (r.Area == "containers" || r.Area == "network") && r.Status == check.Pass {
			t.Errorf("%s passed without a daemon or rules: %s", r.ID, r.Evidence)
		}
	}
	for _, a := range []string{"virt", "kernel", "daemon", "containers", "network"} {
		if areas[a] == 0 {
			t.Errorf("no results for area %s", a)
		}
	}
	if scan.Docker.Err == nil {
		t.Error("no error for a daemon that does not exist")
	}
	if scan.Report.Summary.Total != len(scan.Report.Results) {
		t.Error("report not summarized")
	}
}
