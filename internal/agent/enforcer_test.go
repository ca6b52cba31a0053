package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/procnet"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// fakeSource is Docker as the enforcer reads it, counting every call.
type fakeSource struct {
	mu         sync.Mutex
	running    map[string]containers.Container
	networks   []containers.Network
	calls      []string
	collectErr error
	inspectErr map[string]error
}

func (s *fakeSource) Collect(ctx context.Context) *containers.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "collect")
	if s.collectErr != nil {
		return &containers.Snapshot{Err: s.collectErr}
	}
	snap := &containers.Snapshot{Networks: slices.Clone(s.networks), Engine: containers.EngineInfo{Version: "20.10.24"}}
	for id, c := range s.running {
		if err := s.inspectErr[id]; err != nil {
			snap.Failed = append(snap.Failed, containers.InspectFailure{ID: id, Err: err})
			continue
		}
		snap.Containers = append(snap.Containers, c)
	}
	return snap
}

func (s *fakeSource) Inspect(ctx context.Context, id string) (containers.Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "inspect "+shortID(id))
	if err := s.inspectErr[id]; err != nil {
		return containers.Container{}, err
	}
	c, ok := s.running[id]
	if !ok {
		return containers.Container{}, fmt.Errorf("inspect %s: %w", shortID(id), containers.ErrGone)
	}
	return c, nil
}

func (s *fakeSource) Networks(ctx context.Context) ([]containers.Network, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "networks")
	return slices.Clone(s.networks), nil
}

func (s *fakeSource) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *fakeSource) run(c containers.Container) {
	s.mu.Lock()
	s.running[c.ID] = c
	s.mu.Unlock()
}

func (s *fakeSource) stop(id string) {
	s.mu.Lock()
	delete(s.running, id)
	s.mu.Unlock()
}

// fakeBackend records the plans written; applyErr fails the next Apply.
type fakeBackend struct {
	applied  []*firewall.Plan
	applyErr error
	drift    firewall.DriftReport
	resets   int
}

func (b *fakeBackend) Apply(ctx context.Context, plan *firewall.Plan, cur *firewall.Rules) (*firewall.ApplyResult, error) {
	if err := b.applyErr; err != nil {
		b.applyErr = nil
		return nil, err
	}
	b.applied = append(b.applied, plan)
	res := &firewall.ApplyResult{Changes: &firewall.Changes{V4: plan.V4.RestoreText(), V6: plan.V6.RestoreText()}}
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		if res.Changes.Batch(f) != "" {
			res.Written = append(res.Written, f)
		}
	}
	return res, nil
}

func (b *fakeBackend) Drift(ctx context.Context, plan *firewall.Plan) (firewall.DriftReport, error) {
	d := b.drift
	b.drift = firewall.DriftReport{}
	return d, nil
}

func (b *fakeBackend) Reset(ctx context.Context, dryRun bool) (*firewall.ResetResult, error) {
	b.resets++
	return &firewall.ResetResult{}, nil
}

var bridgeNet = containers.Network{ID: "net-bridge", Name: "bridge", Driver: "bridge", Bridge: "docker0"}

func ctr(n int, name string, hostPort uint16) containers.Container {
	id := fmt.Sprintf("%012x", n) + strings.Repeat("0", 52)
	c := containers.Container{ID: id, Name: name, Image: "busybox", Running: true, NetworkMode: "bridge",
		Endpoints: []containers.Endpoint{{Network: "bridge", NetworkID: bridgeNet.ID}}}
	if hostPort != 0 {
		c.Ports = []containers.PortBinding{{HostPort: hostPort, ContainerPort: 80, Proto: "tcp"}}
	}
	return c
}

func enforcerPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte("firewall:\n  mode: enforce\n  default: allow\n  internal:\n    - container: \"*\"\n      ports: [\"8080/tcp\", \"8081/tcp\", \"8083/tcp\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestEnforcer(src *fakeSource, be *fakeBackend) (*Enforcer, *int) {
	detects := 0
	e := &Enforcer{
		src:        src,
		interfaces: func() ([]firewall.Interface, error) { return []firewall.Interface{{Name: "lo", Loopback: true}}, nil },
		listeners:  func() ([]procnet.Socket, error) { return nil, nil },
		lock:       make(chan struct{}, 1),
		running:    map[string]containers.Container{},
		waiting:    map[string]containers.Container{},
	}
	e.detect = func(ctx context.Context) (rulesBackend, error) {
		detects++
		return be, nil
	}
	return e, &detects
}

// blockedPorts lists the container ports the last applied plan blocks.
func (b *fakeBackend) blocked() []string {
	if len(b.applied) == 0 {
		return nil
	}
	var out []string
	for _, bl := range b.applied[len(b.applied)-1].Blocks {
		if bl.Family.String() == "ipv4" {
			out = append(out, fmt.Sprintf("%s %d", bl.Container, bl.Port))
		}
	}
	return out
}

// The event path: one inspect of the container the event names — never a
// re-read of every container — and a write only when the plan changes.
func TestEnforcerEventPathInspectsOnlyTheNamedContainer(t *testing.T) {
	ctx := context.Background()
	pol := enforcerPolicy(t)
	src := &fakeSource{running: map[string]containers.Container{}, networks: []containers.Network{bridgeNet}}
	for i := range 50 {
		src.run(ctr(i+1, fmt.Sprintf("idle%d", i), 0))
	}
	db := ctr(100, "db", 8080)
	src.run(db)
	be := &fakeBackend{}
	e, _ := newTestEnforcer(src, be)

	if _, err := e.Reconcile(ctx, pol, nil); err != nil {
		t.Fatal(err)
	}
	if got := src.take(); !slices.Equal(got, []string{"collect"}) {
		t.Errorf("first reconcile read %v, want one full collect", got)
	}
	if diff := cmp.Diff([]string{"000000000064 8080"}, be.blocked()); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}

	// A new container publishing an internal port: one inspect, one write.
	web := ctr(200, "web", 8081)
	src.run(web)
	rec, err := e.Reconcile(ctx, pol, []string{web.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := src.take(); !slices.Equal(got, []string{"inspect 0000000000c8"}) {
		t.Errorf("event reconcile read %v, want only the named container", got)
	}
	if len(be.applied) != 2 || rec.Changed == 0 || !strings.Contains(rec.Summary, "blocks +2 -0") {
		t.Errorf("applied %d plans, reconcile %+v", len(be.applied), rec)
	}
	if diff := cmp.Diff([]string{"000000000064 8080", "0000000000c8 8081"}, be.blocked()); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}

	// An event that changes nothing the firewall cares about writes nothing.
	rec, err = e.Reconcile(ctx, pol, []string{ctr(1, "", 0).ID})
	if err != nil || rec.Changed != 0 || len(be.applied) != 2 {
		t.Errorf("no-op event: %+v %v, %d plans applied", rec, err, len(be.applied))
	}
	src.take()

	// The container dies, then is removed: dropped from the cache either way.
	src.stop(web.ID)
	if _, err := e.Reconcile(ctx, pol, []string{web.ID}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"000000000064 8080"}, be.blocked()); diff != "" {
		t.Errorf("blocks after the container went (-want +got):\n%s", diff)
	}
	if got := src.take(); !slices.Equal(got, []string{"inspect 0000000000c8"}) {
		t.Errorf("reads: %v", got)
	}

	// The resync timer re-reads everything and re-applies to verify.
	if _, err := e.Reconcile(ctx, pol, nil); err != nil {
		t.Fatal(err)
	}
	if got := src.take(); !slices.Equal(got, []string{"collect"}) || len(be.applied) != 4 {
		t.Errorf("resync read %v and applied %d plans", got, len(be.applied))
	}
}

// Faults: a failed inspect makes the next reconcile a full read; a container
// whose inspect fails in a full read keeps its rules; a drift forces a write of
// an unchanged plan; the variant is detected again after Docker's chains went.
func TestEnforcerFaults(t *testing.T) {
	ctx := context.Background()
	pol := enforcerPolicy(t)
	src := &fakeSource{running: map[string]containers.Container{}, networks: []containers.Network{bridgeNet}, inspectErr: map[string]error{}}
	db := ctr(1, "db", 8080)
	src.run(db)
	be := &fakeBackend{}
	e, detects := newTestEnforcer(src, be)
	if _, err := e.Reconcile(ctx, pol, nil); err != nil {
		t.Fatal(err)
	}

	t.Run("inspect fails", func(t *testing.T) {
		src.take()
		web := ctr(2, "web", 8081)
		src.run(web)
		src.inspectErr[web.ID] = errors.New("context deadline exceeded")
		if _, err := e.Reconcile(ctx, pol, []string{web.ID}); err == nil {
			t.Fatal("want the inspect error")
		}
		delete(src.inspectErr, web.ID)
		if _, err := e.Reconcile(ctx, pol, []string{}); err != nil {
			t.Fatal(err)
		}
		if got := src.take(); !slices.Equal(got, []string{"inspect 000000000002", "collect"}) {
			t.Errorf("reads: %v, want a full read on the retry", got)
		}
		if diff := cmp.Diff([]string{"000000000001 8080", "000000000002 8081"}, be.blocked()); diff != "" {
			t.Errorf("blocks (-want +got):\n%s", diff)
		}
	})

	t.Run("inspect fails in a full read", func(t *testing.T) {
		src.inspectErr[db.ID] = errors.New("context deadline exceeded")
		_, err := e.Reconcile(ctx, pol, nil)
		if err == nil || !strings.Contains(err.Error(), "earlier rules kept") {
			t.Fatalf("want a partial-read error, got %v", err)
		}
		if diff := cmp.Diff([]string{"000000000001 8080", "000000000002 8081"}, be.blocked()); diff != "" {
			t.Errorf("a container that could not be inspected lost its rule (-want +got):\n%s", diff)
		}
		delete(src.inspectErr, db.ID)
		src.take()
		if _, err := e.Reconcile(ctx, pol, []string{}); err != nil {
			t.Fatal(err)
		}
		if got := src.take(); !slices.Equal(got, []string{"collect"}) {
			t.Errorf("reads: %v, want a full read on the retry", got)
		}
	})

	t.Run("drift forces a write", func(t *testing.T) {
		n := len(be.applied)
		be.drift = firewall.DriftReport{Problems: []firewall.Problem{{Kind: firewall.ProblemJumpMissing, Chain: firewall.ChainForward}}}
		d, err := e.Drift(ctx)
		if err != nil || !d.Drifted || !strings.Contains(d.Reason, "jump-missing") {
			t.Fatalf("drift: %+v %v", d, err)
		}
		if _, err := e.Reconcile(ctx, pol, []string{}); err != nil {
			t.Fatal(err)
		}
		if len(be.applied) != n+1 {
			t.Errorf("the unchanged plan was not written again after a drift")
		}
		if err := e.Restore(ctx); err != nil || len(be.applied) != n+2 || !samePlan(be.applied[n+1], e.lastPlan) {
			t.Errorf("restore: %v", err)
		}
	})

	t.Run("docker's chains gone", func(t *testing.T) {
		before := *detects
		be.applyErr = fmt.Errorf("apply: %w", firewall.ErrNoDockerUser)
		if _, err := e.Reconcile(ctx, pol, nil); !errors.Is(err, firewall.ErrNoDockerUser) {
			t.Fatalf("want ErrNoDockerUser, got %v", err)
		}
		// The plan did not change, but it is not known to be in place: the
		// retry writes.
		if _, err := e.Reconcile(ctx, pol, []string{}); err != nil {
			t.Fatal(err)
		}
		if *detects != before+1 {
			t.Errorf("variant detected %d times after the failure, want once", *detects-before)
		}
	})

	t.Run("docker down", func(t *testing.T) {
		src.collectErr = errors.New("connection refused")
		defer func() { src.collectErr = nil }()
		n := len(be.applied)
		if _, err := e.Reconcile(ctx, pol, nil); err == nil {
			t.Fatal("want an error")
		}
		if len(be.applied) != n {
			t.Error("wrote rules without knowing the containers")
		}
	})
}

// A container attached to a network the cache does not know refreshes the
// network list, so its bridge gets its rules.
func TestEnforcerLearnsNewNetworks(t *testing.T) {
	ctx := context.Background()
	pol := enforcerPolicy(t)
	src := &fakeSource{running: map[string]containers.Container{}, networks: []containers.Network{bridgeNet}}
	be := &fakeBackend{}
	e, _ := newTestEnforcer(src, be)
	if _, err := e.Reconcile(ctx, pol, nil); err != nil {
		t.Fatal(err)
	}
	src.networks = append(src.networks, containers.Network{ID: "net-app", Name: "app", Driver: "bridge", Bridge: "br-0123456789ab"})
	c := ctr(7, "app", 8080)
	c.NetworkMode = "app"
	c.Endpoints = []containers.Endpoint{{Network: "app", NetworkID: "net-app"}}
	src.run(c)
	src.take()
	if _, err := e.Reconcile(ctx, pol, []string{c.ID}); err != nil {
		t.Fatal(err)
	}
	if got := src.take(); !slices.Equal(got, []string{"inspect 000000000007", "networks"}) {
		t.Errorf("reads: %v", got)
	}
	last := be.applied[len(be.applied)-1]
	if !slices.Contains(last.V4.Bridges, "br-0123456789ab") {
		t.Errorf("plan bridges %v lack the new network's", last.V4.Bridges)
	}
}

// Docker's nftables backend: hardend writes nothing and the agent does not
// retry (ErrPermanent).
func TestEnforcerRefusalIsPermanent(t *testing.T) {
	src := &fakeSource{running: map[string]containers.Container{}}
	be := &fakeBackend{}
	e, _ := newTestEnforcer(src, be)
	e.src = &nftSource{src}
	_, err := e.Reconcile(context.Background(), enforcerPolicy(t), nil)
	if !errors.Is(err, ErrPermanent) || !errors.Is(err, firewall.ErrNftablesBackend) || len(be.applied) != 0 {
		t.Fatalf("got %v, %d plans applied", err, len(be.applied))
	}
}

type nftSource struct{ *fakeSource }

func (s *nftSource) Collect(ctx context.Context) *containers.Snapshot {
	snap := s.fakeSource.Collect(ctx)
	snap.Engine.FirewallBackend = "nftables"
	return snap
}

// The failpoint is test-only and has exactly one name.
func TestFailpoint(t *testing.T) {
	var e Enforcer
	if err := e.SetFailpoint("somewhere", nil); err == nil {
		t.Error("unknown failpoint accepted")
	}
	var sb strings.Builder
	if err := e.SetFailpoint("between-families", &sb); err != nil || e.hooks.BetweenFamilies == nil {
		t.Fatalf("between-families: %v", err)
	}
}

// Reset with no variant detectable (Docker gone) still removes hardend's
// chains, through the fallback.
func TestEnforcerResetWithoutDocker(t *testing.T) {
	e := &Enforcer{lock: make(chan struct{}, 1)}
	e.detect = func(context.Context) (rulesBackend, error) { return nil, firewall.ErrNoDockerChains }
	fallback := 0
	e.reset = func(context.Context) error { fallback++; return nil }
	if err := e.Reset(context.Background()); err != nil || fallback != 1 {
		t.Fatalf("reset: %v, fallback ran %d times", err, fallback)
	}
}

// created is a container as inspect shows it between create and start:
// nothing published yet, the requested bindings in HostConfig.
func created(n int, name, status string, bindings network.PortMap) containers.Container {
	c := ctr(n, name, 0)
	c.Running = false
	c.Inspect = &container.InspectResponse{
		State:      &container.State{Status: container.ContainerState(status)},
		HostConfig: &container.HostConfig{PortBindings: bindings},
	}
	return c
}

func bind(ip, port string) []network.PortBinding {
	b := network.PortBinding{HostPort: port}
	if ip != "" {
		b.HostIP = netip.MustParseAddr(ip)
	}
	return []network.PortBinding{b}
}

// A container's fixed ports that policy blocks are dropped from its create
// event on, before Docker's DNAT and docker-proxy exist; IPv6 (docker-proxy's
// INPUT path, which host services share) only while no host service listens
// on the port over IPv6.
func TestEnforcerBlocksBeforeStart(t *testing.T) {
	ctx := context.Background()
	pol := enforcerPolicy(t)
	p80, p81, p82 := network.MustParsePort("80/tcp"), network.MustParsePort("81/tcp"), network.MustParsePort("82/tcp")
	listen6 := func(port uint16) []procnet.Socket {
		return []procnet.Socket{{Local: netip.AddrPortFrom(netip.IPv6Unspecified(), port), State: procnet.StateListen}}
	}
	tests := []struct {
		name         string
		c            containers.Container
		running      []containers.Container
		listeners    []procnet.Socket
		listenErr    error
		policy       *policy.Policy
		want4, want6 []string
	}{
		{name: "created", c: created(1, "db", "created", network.PortMap{p80: bind("", "8080")}),
			want4: []string{"000000000001 8080"}, want6: []string{"000000000001 8080"}},
		{name: "restarting, IPv4 only", c: created(1, "db", "restarting", network.PortMap{p80: bind("0.0.0.0", "8080")}),
			want4: []string{"000000000001 8080"}},
		{name: "range, loopback and IPv6 bindings", c: created(1, "db", "created", network.PortMap{
			p80: bind("", "8080-8081"), p81: bind("127.0.0.1", "8082"), p82: bind("::", "8083")}),
			want4: []string{"000000000001 8080", "000000000001 8081"},
			want6: []string{"000000000001 8080", "000000000001 8081", "000000000001 8083"}},
		{name: "a host service listens over IPv6", c: created(1, "db", "created", network.PortMap{p80: bind("", "8080"), p81: bind("::", "8081")}),
			listeners: append(listen6(8080), listen6(8081)...), want4: []string{"000000000001 8080"}},
		{name: "listeners unreadable", c: created(1, "db", "created", network.PortMap{p80: bind("", "8080")}),
			listenErr: errors.New("permission denied"), want4: []string{"000000000001 8080"}},
		{name: "port Docker picks", c: created(1, "db", "created", network.PortMap{p80: bind("", "")})},
		{name: "exited", c: created(1, "db", "exited", network.PortMap{p80: bind("", "8080")})},
		{name: "port a running container publishes", c: created(1, "db", "created", network.PortMap{p80: bind("", "8080")}),
			running: []containers.Container{ctr(2, "web", 8080)}},
		{name: "default deny", c: created(1, "db", "created", network.PortMap{p80: bind("", "8080")}),
			policy: mustPolicy(t, "firewall:\n  mode: enforce\n  default: deny\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{running: map[string]containers.Container{}, networks: []containers.Network{bridgeNet}}
			for _, r := range tt.running {
				src.run(r)
			}
			be := &fakeBackend{}
			e, _ := newTestEnforcer(src, be)
			e.listeners = func() ([]procnet.Socket, error) { return tt.listeners, tt.listenErr }
			p := pol
			if tt.policy != nil {
				p = tt.policy
			}
			if _, err := e.Reconcile(ctx, p, nil); err != nil {
				t.Fatal(err)
			}
			src.run(tt.c) // the fake's inspect returns it as it is
			if _, err := e.Reconcile(ctx, p, []string{tt.c.ID}); err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, b := range be.applied[len(be.applied)-1].Blocks {
				if b.Container == tt.c.ShortID() {
					got[b.Family.String()] = append(got[b.Family.String()], fmt.Sprintf("%s %d", b.Container, b.Port))
				}
			}
			if diff := cmp.Diff(tt.want4, got["ipv4"]); diff != "" {
				t.Errorf("IPv4 blocks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want6, got["ipv6"]); diff != "" {
				t.Errorf("IPv6 blocks (-want +got):\n%s", diff)
			}
		})
	}
}

func mustPolicy(t *testing.T, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// From created to running the rules stay as they are (the same text); a
// removed container's rules go.
func TestEnforcerCreatedThenRunningThenGone(t *testing.T) {
	ctx := context.Background()
	pol := enforcerPolicy(t)
	src := &fakeSource{running: map[string]containers.Container{}, networks: []containers.Network{bridgeNet}}
	be := &fakeBackend{}
	e, _ := newTestEnforcer(src, be)
	if _, err := e.Reconcile(ctx, pol, nil); err != nil {
		t.Fatal(err)
	}
	c := created(9, "db", "created", network.PortMap{network.MustParsePort("80/tcp"): bind("", "8080")})
	src.run(c)
	if _, err := e.Reconcile(ctx, pol, []string{c.ID}); err != nil {
		t.Fatal(err)
	}
	before := be.applied[len(be.applied)-1].V4.RestoreText() + be.applied[len(be.applied)-1].V6.RestoreText()
	running := ctr(9, "db", 8080)
	src.run(running)
	if _, err := e.Reconcile(ctx, pol, []string{c.ID}); err != nil {
		t.Fatal(err)
	}
	if after := be.applied[len(be.applied)-1].V4.RestoreText() + be.applied[len(be.applied)-1].V6.RestoreText(); after != before {
		t.Errorf("the IPv4 rules changed when the container started:\n%s\nvs\n%s", before, after)
	}
	src.stop(c.ID)
	if _, err := e.Reconcile(ctx, pol, []string{c.ID}); err != nil {
		t.Fatal(err)
	}
	if got := be.blocked(); len(got) != 0 {
		t.Errorf("blocks left after the container went: %v", got)
	}
}
