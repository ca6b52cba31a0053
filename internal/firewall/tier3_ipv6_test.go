//go:build linux

package firewall

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/testenv"
)

// TestTier3IPv6Daemon: dockerd with IPv6 networking and ip6tables (20.10 needs
// --experimental for --ip6tables and makes no ip6tables DOCKER-USER: hardend's
// IPv6 jump goes into FORWARD), policy default allow with app's port 80
// internal. IPv6 to a published port is now DNAT'd (FORWARD path), and the
// container subnet fd00:dead::/64 can be routed to directly.
func TestTier3IPv6Daemon(t *testing.T) {
	t.Parallel() // its own engine and namespaces; the two engines start side by side
	e := testenv.StartEngine(t, testenv.EngineOptions{Args: []string{"--experimental", "--ipv6", "--ip6tables", "--fixed-cidr-v6", "fd00:dead::/64"}})
	o := e.Outsider(t)
	o.RouteVia(t, "172.16.0.0/12")
	o.RouteVia(t, "fd00:dead::/64")
	serveHost(t, e.NS)
	runHTTPD(t, e, "app", "8080:80") // internal by policy (its container port 80)
	runHTTPD(t, e, "web", "8081:80") // unlisted: stays open under default allow
	fw := policy.Firewall{Mode: "enforce", Default: "allow", Internal: []policy.PortRule{portRule("app", "80/tcp")}}
	dk := Docker{IPTables: true, IP6Tables: true, IPv6: true, UserlandProxy: true}
	b := engineBackend(t, e)
	app6, web6 := containerIP6(t, e, "app"), containerIP6(t, e, "web")
	app4, web4 := containerIP(t, e, "app"), containerIP(t, e, "web")
	if app6 == "" || web6 == "" {
		t.Fatalf("containers have no IPv6 address: app %q web %q", app6, web6)
	}
	direct := func(ip string) string { return net.JoinHostPort(ip, "80") }
	expectReach(t, o, "before", map[string]bool{
		"192.0.2.1:8080": true, "[2001:db8:ff::1]:8080": true, direct(app6): true, direct(app4): true,
		"192.0.2.1:8081": true, "[2001:db8:ff::1]:8081": true, direct(web6): true,
		"192.0.2.1:22": true, "[2001:db8:ff::1]:22": true,
	})
	in := engineFacts(t, e, fw, dk)
	p := mustPlan(t, in)
	cur := mustRead(t, b)
	if cur.V6.HasChain("filter", "DOCKER-USER") {
		t.Log("this Docker makes an ip6tables DOCKER-USER: the IPv6 jump goes there")
	}
	res, err := b.Apply(context.Background(), p, cur)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Logf("IPv6 batch:\n%s", res.Changes.V6)
	want := map[string]bool{
		"192.0.2.1:8080": false, "[2001:db8:ff::1]:8080": false, direct(app6): false, direct(app4): false,
		"192.0.2.1:8081": true, "[2001:db8:ff::1]:8081": true, direct(web6): false, direct(web4): false,
		"192.0.2.1:22": true, "[2001:db8:ff::1]:22": true,
	}
	expectReach(t, o, "after apply", want)
	if !outboundWorks(t, e, o, "app") {
		t.Error("the blocked container cannot open an outbound connection")
	}

	t.Run("dockerd restart", func(t *testing.T) {
		e.Restart(t)
		waitRunning(t, e, "app", "web")
		d, err := b.Drift(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		// dockerd 20.10 inserts its ip6tables FORWARD rules at the top again
		// at every start, above hardend's IPv6 jump: drift says so (no
		// shadowing is reported: these are Docker's own rules) and Apply moves
		// the jump back up.
		t.Logf("drift after the restart: %+v", d)
		if len(d.Shadows) != 0 {
			t.Errorf("Docker's own rules reported as shadowing: %+v", d.Shadows)
		}
		if d.Drifted() && !hasProblem(d, iptsave.IPv6, ProblemJumpBelowDocker) {
			t.Errorf("drift = %+v", d.Problems)
		}
		converge(t, b, p)
		app6, web6 = containerIP6(t, e, "app"), containerIP6(t, e, "web")
		want[direct(app6)], want[direct(web6)] = false, false
		expectReach(t, o, "after dockerd restart", want)
	})

	t.Run("flush of the IPv6 FORWARD chain: drift, repair", func(t *testing.T) {
		ip6 := strings.TrimSuffix(b.tools[save6], "-save")
		e.NS.Run(t, ip6, "-D", "FORWARD", "-m", "comment", "--comment", commentJump, "-j", ChainForward)
		d, err := b.Drift(context.Background(), p)
		if err != nil || !hasProblem(d, iptsave.IPv6, ProblemJumpMissing) {
			t.Fatalf("drift = %+v, %v", d, err)
		}
		expectReach(t, o, "IPv6 jump gone", map[string]bool{"[2001:db8:ff::1]:8080": true})
		if _, err := b.Apply(context.Background(), p, nil); err != nil {
			t.Fatal(err)
		}
		expectReach(t, o, "repaired", map[string]bool{"[2001:db8:ff::1]:8080": false, "[2001:db8:ff::1]:8081": true})
	})
}

// converge does what the agent's drift loop does: check, repair, check again,
// until the rules hold still (dockerd may still be arranging its own rules
// right after a start).
func converge(t *testing.T, b *Backend, p *Plan) {
	t.Helper()
	var d DriftReport
	for i := 0; i < 20; i++ {
		var err error
		if d, err = b.Drift(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if d.Clean() {
			return
		}
		if d.Drifted() {
			res, err := b.Apply(context.Background(), p, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("repair batch:\n%s", res.Changes.V6)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("not converged: %+v", d)
}
