//go:build linux

package firewall

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/testenv"
)

// Tier 3: a real dockerd in its own namespace, an outsider namespace, real
// packets — before and after Apply, and through the faults of FAULTS.md that
// one machine can reproduce.

// engineFacts builds the plan input from the engine itself: inspect data via
// internal/containers (the API, no CLI parsing), the engine namespace's
// interfaces via `ip -j addr`.
func engineFacts(t *testing.T, e *testenv.Engine, fw policy.Firewall, d Docker) PlanInput {
	t.Helper()
	c, err := containers.Connect(containers.Options{Host: e.Host})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	snap := containers.Collect(context.Background(), c, containers.Options{Host: e.Host})
	if snap.Err != nil {
		t.Fatalf("collect: %v", snap.Err)
	}
	in := PlanInput{Firewall: fw, Docker: d, Interfaces: netnsInterfaces(t, e.NS)}
	in.Docker.Version = snap.Engine.Version
	in.Docker.FirewallBackend = snap.Engine.FirewallBackend
	for _, n := range snap.Networks {
		in.Docker.Networks = append(in.Docker.Networks, Network{ID: n.ID, Name: n.Name, Driver: n.Driver,
			Bridge: n.Bridge, Internal: n.Internal, IPv6: n.IPv6, Subnets: n.Subnets})
	}
	for _, ct := range snap.Containers {
		w := Workload{ID: ct.ID, Name: ct.Name, Image: ct.Image, Labels: ct.Labels, NetworkMode: ct.NetworkMode, Pid: ct.Pid}
		for _, p := range ct.Ports {
			var ip netip.Addr
			if p.HostIP != "" {
				ip = netip.MustParseAddr(p.HostIP)
			}
			w.Ports = append(w.Ports, Port{HostIP: ip, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Proto: p.Proto})
		}
		for _, ep := range ct.Endpoints {
			w.Endpoints = append(w.Endpoints, Endpoint{Network: ep.Network, NetworkID: ep.NetworkID, IPv4: ep.IPv4, IPv6: ep.IPv6})
		}
		in.Workloads = append(in.Workloads, w)
	}
	return in
}

func netnsInterfaces(t *testing.T, ns *testenv.Netns) []Interface {
	t.Helper()
	var links []struct {
		Ifname   string   `json:"ifname"`
		Flags    []string `json:"flags"`
		AddrInfo []struct {
			Local     string `json:"local"`
			Prefixlen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(ns.Run(t, "ip", "-j", "addr", "show")), &links); err != nil {
		t.Fatal(err)
	}
	var out []Interface
	for _, l := range links {
		ifc := Interface{Name: l.Ifname}
		for _, f := range l.Flags {
			ifc.Loopback = ifc.Loopback || f == "LOOPBACK"
			ifc.Up = ifc.Up || f == "UP"
		}
		for _, a := range l.AddrInfo {
			ip, err := netip.ParseAddr(a.Local)
			if err == nil {
				ifc.Addrs = append(ifc.Addrs, netip.PrefixFrom(ip, a.Prefixlen))
			}
		}
		out = append(out, ifc)
	}
	return out
}

// serveHost stands in for the host's sshd: a listener on port 22 in the
// engine's namespace, IPv4 and IPv6, accepting and closing.
func serveHost(t *testing.T, ns *testenv.Netns) {
	t.Helper()
	for _, a := range [][2]string{{"tcp4", "0.0.0.0:22"}, {"tcp6", "[::]:22"}} {
		l, err := ns.Listen(a[0], a[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
}

// expectReach checks many addresses from the outsider at once; blocked ports
// time out, so doing them in parallel keeps the test short.
func expectReach(t *testing.T, o *testenv.Outsider, when string, want map[string]bool) {
	t.Helper()
	var mu sync.Mutex
	got := map[string]bool{}
	var wg sync.WaitGroup
	for a := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := o.ReachableWithin(a, 2500*time.Millisecond)
			mu.Lock()
			got[a] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	for a, w := range want {
		if got[a] != w {
			t.Errorf("%s: %s reachable = %v, want %v", when, a, got[a], w)
		}
	}
}

// session is an established TCP connection through a published port to a
// container running an echo server.
type session struct {
	c net.Conn
	r *bufio.Reader
}

func openSession(t *testing.T, o *testenv.Outsider, addr string) *session {
	t.Helper()
	var c net.Conn
	var err error
	for i := 0; i < 20; i++ { // the echo server may still be starting
		if c, err = o.NS.Dial("tcp", addr, 2*time.Second); err == nil {
			s := &session{c: c, r: bufio.NewReader(c)}
			if s.echo("hello") {
				t.Cleanup(func() { c.Close() })
				return s
			}
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no echo session to %s: %v", addr, err)
	return nil
}

// echo sends a line and reports whether it comes back within 2 s.
func (s *session) echo(line string) bool {
	s.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(s.c, line); err != nil {
		return false
	}
	got, err := s.r.ReadString('\n')
	return err == nil && strings.TrimSpace(got) == line
}

func containerIP(t *testing.T, e *testenv.Engine, name string) string {
	t.Helper()
	return e.Docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
}

func containerIP6(t *testing.T, e *testenv.Engine, name string) string {
	t.Helper()
	return e.Docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}", name)
}

// outboundWorks: the blocked container opens a connection to a listener in the
// outsider namespace and reads its answer — replies to the container's own
// connections are not NEW and pass.
func outboundWorks(t *testing.T, e *testenv.Engine, o *testenv.Outsider, name string) bool {
	t.Helper()
	l, err := o.NS.Listen("tcp", "192.0.2.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		bufio.NewReader(c).ReadString('\n')
		fmt.Fprint(c, "HTTP/1.0 200 OK\r\n\r\nfrom-outside\n")
	}()
	out, _ := e.DockerErr("exec", name, "sh", "-c", `printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 192.0.2.2 80`)
	return strings.Contains(out, "from-outside")
}

func engineBackend(t *testing.T, e *testenv.Engine) *Backend {
	t.Helper()
	det := Detect(context.Background(), Config{Netns: e.NS.Path})
	if det.Err != nil {
		t.Fatalf("detect: %v", det.Err)
	}
	b, err := NewBackend(Config{Variant: det.Variant, Netns: e.NS.Path})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func engineSave(t *testing.T, e *testenv.Engine, b *Backend) string {
	t.Helper()
	var sb strings.Builder
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		out, err := b.save(context.Background(), f, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(l, "# Generated") && !strings.HasPrefix(l, "# Completed") {
				sb.WriteString(countersRe.ReplaceAllString(l, "[0:0]") + "\n")
			}
		}
	}
	return sb.String()
}

func runHTTPD(t *testing.T, e *testenv.Engine, name string, publish ...string) {
	t.Helper()
	// --stop-timeout: busybox as pid 1 ignores SIGTERM, and dockerd 20.10
	// waits each container's own stop timeout (10 s) at shutdown.
	args := []string{"run", "-d", "--name", name, "--restart", "always", "--stop-timeout", "1"}
	for _, p := range publish {
		args = append(args, "-p", p)
	}
	e.Docker(t, append(args, e.Image, "httpd", "-f", "-p", "80", "-h", "/")...)
}

// TestTier3DefaultDaemon: Docker 20.10 with its defaults (IPv4 networks,
// userland-proxy on, so IPv6 reaches published ports through docker-proxy on
// [::]), policy default deny with one public port.
func TestTier3DefaultDaemon(t *testing.T) {
	t.Parallel() // its own engine and namespaces; the two engines start side by side
	e := testenv.StartEngine(t, testenv.EngineOptions{})
	o := e.Outsider(t)
	o.RouteVia(t, "172.16.0.0/12") // a neighbour routing the container subnets via the host
	serveHost(t, e.NS)
	runHTTPD(t, e, "app", "8080:80")             // unlisted: blocked under default deny
	runHTTPD(t, e, "web", "8081:80")             // public 80/tcp
	runHTTPD(t, e, "weblo", "127.0.0.1:8082:80") // loopback only
	e.Docker(t, "run", "-d", "--name", "echo", "--restart", "always", "--stop-timeout", "1", "-p", "9000:80", e.Image, "nc", "-ll", "-p", "80", "-e", "cat")
	fw := policy.Firewall{Mode: "enforce", Default: "deny", Public: []policy.PortRule{portRule("web", "80/tcp")}}
	dk := Docker{IPTables: true, UserlandProxy: true}
	b := engineBackend(t, e)
	// The host's own firewall, as most have one: it makes the kernel track
	// IPv6 connections. (Without any ip6tables conntrack rule a namespace does
	// not track IPv6 at all, and a session established then dies anyway when
	// hardend's first conntrack rule makes tracking start.)
	e.NS.Run(t, strings.TrimSuffix(b.tools[save6], "-save"), "-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	pristine := engineSave(t, e, b)
	appIP, webIP, loIP := containerIP(t, e, "app"), containerIP(t, e, "web"), containerIP(t, e, "weblo")

	expectReach(t, o, "before", map[string]bool{
		"192.0.2.1:8080": true, "[2001:db8:ff::1]:8080": true, appIP + ":80": true,
		"192.0.2.1:8081": true, "[2001:db8:ff::1]:8081": true, webIP + ":80": true,
		"192.0.2.1:8082": false, loIP + ":80": true,
		"192.0.2.1:22": true, "[2001:db8:ff::1]:22": true,
	})
	p := mustPlan(t, engineFacts(t, e, fw, dk))

	t.Run("established sessions survive a new DROP without the conntrack deletion", func(t *testing.T) {
		s4 := openSession(t, o, "192.0.2.1:9000")
		s6 := openSession(t, o, "[2001:db8:ff::1]:9000")
		cur, err := b.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ch, err := Diff(p, cur)
		if err != nil {
			t.Fatal(err)
		}
		// The rules alone, as a remediation without FAULTS 10's step would do.
		for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
			if _, err := b.writeFamily(context.Background(), p, f, ch.Batch(f)); err != nil {
				t.Fatal(err)
			}
		}
		if o.ReachableWithin("192.0.2.1:9000", time.Second) {
			t.Error("new connections to the echo port still open after the DROP")
		}
		ok4, ok6 := s4.echo("still-there"), s6.echo("still-there")
		if !ok4 || !ok6 {
			t.Errorf("regression premise broken: an established session died without the conntrack deletion: IPv4 alive %v, IPv6 alive %v", ok4, ok6)
		}
		if _, err := b.Reset(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		// ip6tables had no table before: its empty filter table stays (see Reset).
		if got := engineSave(t, e, b); dropEmptyTables(got) != dropEmptyTables(pristine) {
			t.Errorf("reset did not restore the rule set Docker made (-before +after):\n%s", lineDiff(pristine, got))
		}
	})

	var res *ApplyResult
	t.Run("apply cuts established sessions to newly blocked ports", func(t *testing.T) {
		s4 := openSession(t, o, "192.0.2.1:9000")
		s6 := openSession(t, o, "[2001:db8:ff::1]:9000")
		var err error
		if res, err = b.Apply(context.Background(), p, nil); err != nil {
			t.Fatalf("apply: %v", err)
		}
		if res.ConntrackDeleted < 2 {
			t.Errorf("deleted %d conntrack entries, want the two sessions'", res.ConntrackDeleted)
		}
		if s4.echo("after") {
			t.Error("IPv4 session through DNAT survived the apply")
		}
		if s6.echo("after") {
			t.Error("IPv6 session through docker-proxy survived the apply")
		}
	})
	if res == nil {
		t.FailNow()
	}

	t.Run("after apply", func(t *testing.T) {
		expectReach(t, o, "after apply", map[string]bool{
			"192.0.2.1:8080": false, "[2001:db8:ff::1]:8080": false, appIP + ":80": false,
			"192.0.2.1:8081": true, "[2001:db8:ff::1]:8081": true, webIP + ":80": false,
			"192.0.2.1:8082": false, loIP + ":80": false,
			"192.0.2.1:9000": false, "[2001:db8:ff::1]:9000": false,
			"192.0.2.1:22": true, "[2001:db8:ff::1]:22": true,
		})
		if !outboundWorks(t, e, o, "app") {
			t.Error("the blocked container cannot open an outbound connection")
		}
		if again, err := b.Apply(context.Background(), p, nil); err != nil || len(again.Written) != 0 {
			t.Errorf("second apply: wrote %v, err %v", again.Written, err)
		}
	})

	t.Run("container restart with a new IP stays blocked without re-applying", func(t *testing.T) {
		e.Docker(t, "stop", "-t", "0", "app")
		runHTTPD(t, e, "filler") // takes app's address
		e.Docker(t, "start", "app")
		newIP := containerIP(t, e, "app")
		if newIP == appIP {
			t.Fatalf("app kept its IP %s", appIP)
		}
		expectReach(t, o, "after container restart", map[string]bool{
			"192.0.2.1:8080": false, "[2001:db8:ff::1]:8080": false, newIP + ":80": false, "192.0.2.1:8081": true,
		})
		// A new container (filler, unpublished) changes nothing of the plan's
		// rules: default deny already covers anything it might publish.
		if d, err := b.Drift(context.Background(), p); err != nil || d.Drifted() {
			t.Errorf("drift after a container restart: %+v %v", d, err)
		}
	})

	t.Run("dockerd restart stays blocked without re-applying", func(t *testing.T) {
		start := time.Now()
		e.Stop(t)
		t.Logf("dockerd stopped in %v", time.Since(start).Round(time.Millisecond))
		e.Start(t)
		waitRunning(t, e, "app", "web", "echo")
		t.Logf("dockerd restarted, containers running, in %v", time.Since(start).Round(time.Millisecond))
		expectReach(t, o, "after dockerd restart", map[string]bool{
			"192.0.2.1:8080": false, "[2001:db8:ff::1]:8080": false, "192.0.2.1:8081": true, "192.0.2.1:22": true,
		})
		if d, err := b.Drift(context.Background(), p); err != nil || !d.Clean() {
			t.Errorf("drift after a dockerd restart: %+v %v", d, err)
		}
	})

	t.Run("iptables -F DOCKER-USER: drift reports it, apply restores it", func(t *testing.T) {
		e.NS.Run(t, strings.TrimSuffix(b.tools[save4], "-save"), "-F", "DOCKER-USER")
		d, err := b.Drift(context.Background(), p)
		if err != nil || !hasProblem(d, iptsave.IPv4, ProblemJumpMissing) {
			t.Fatalf("drift = %+v, %v; want the jump missing", d, err)
		}
		cur, _ := b.Read(context.Background())
		r := Net005Results(Net005Input{Plan: p, Rules: cur, Enforce: true})
		if len(r) == 0 || r[0].Status != check.Fail {
			t.Errorf("HD-NET-005 after the flush = %+v", r)
		}
		expectReach(t, o, "after the flush", map[string]bool{"192.0.2.1:8080": true})
		if _, err := b.Apply(context.Background(), p, cur); err != nil {
			t.Fatal(err)
		}
		expectReach(t, o, "after the repair", map[string]bool{"192.0.2.1:8080": false, "192.0.2.1:8081": true})
	})

	t.Run("foreign ACCEPT at DOCKER-USER 1: reported, left alone", func(t *testing.T) {
		ipt := strings.TrimSuffix(b.tools[save4], "-save")
		e.NS.Run(t, ipt, "-I", "DOCKER-USER", "1", "-j", "ACCEPT")
		cur, _ := b.Read(context.Background())
		r := Net005Results(Net005Input{Plan: p, Rules: cur, Enforce: true})
		if len(r) != 1 || r[0].Subject != subjShadowed || r[0].Status != check.Fail {
			t.Errorf("HD-NET-005 = %+v, want the shadowing reported", r)
		}
		res, err := b.Apply(context.Background(), p, cur)
		if err != nil || len(res.Written) != 0 {
			t.Errorf("apply fought the foreign rule: wrote %v, err %v", res.Written, err)
		}
		du, _ := chainRules(mustRead(t, b).V4, "filter", "DOCKER-USER")
		if len(du) == 0 || du[0] != "-A DOCKER-USER -j ACCEPT" {
			t.Errorf("the foreign rule was moved or removed: %q", du)
		}
		e.NS.Run(t, ipt, "-D", "DOCKER-USER", "-j", "ACCEPT")
	})

	t.Run("reset leaves Docker's rule set as it was", func(t *testing.T) {
		if _, err := b.Reset(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		expectReach(t, o, "after reset", map[string]bool{"192.0.2.1:8080": true, "192.0.2.1:22": true})
	})
}

func mustRead(t *testing.T, b *Backend) *Rules {
	t.Helper()
	r, err := b.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func waitRunning(t *testing.T, e *testenv.Engine, names ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range names {
		for {
			out, _ := e.DockerErr("inspect", "-f", "{{.State.Running}}", n)
			if out == "true" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not running after the restart", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// lineDiff shows the lines only in a or only in b.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
