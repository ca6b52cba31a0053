package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hardend/hardend/internal/audit"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/procnet"
)

// FailpointEnv names the environment variable of the agent's crash-test
// failpoint. TEST ONLY: production never sets it. With the value
// "between-families" the firewall, after writing an IPv4 batch and before the
// IPv6 one, prints FailpointReached to stderr and blocks until the process is
// killed, so a test can SIGKILL hardend between two writes (FAULTS 14) and
// assert that the next start converges without duplicating a rule.
const FailpointEnv = "HARDEND_TEST_FAILPOINT"

// FailpointReached is the line printed when the failpoint is hit.
const FailpointReached = "hardend: test failpoint between-families reached; blocking until killed"

// FirewallOptions configure NewEnforcer.
type FirewallOptions struct {
	// Root is the host root the full re-read finds dockerd's flags below
	// (userland-proxy, ip6tables: they shape the plan).
	Root string
	// Timeout is the deadline of every Docker API call.
	Timeout time.Duration
	// IPTables configures the iptables programs; Variant is ignored: the
	// variant holding Docker's chains is detected.
	IPTables firewall.Config
}

// workloadSource is what the enforcer reads from Docker.
type workloadSource interface {
	// Collect is the full re-read: engine, networks, every running container
	// and dockerd's flags.
	Collect(ctx context.Context) *containers.Snapshot
	// Inspect reads one container (containers.ErrGone when it no longer exists).
	Inspect(ctx context.Context, id string) (containers.Container, error)
	// Networks lists the daemon's networks.
	Networks(ctx context.Context) ([]containers.Network, error)
}

// rulesBackend is what the enforcer needs of *firewall.Backend.
type rulesBackend interface {
	Apply(ctx context.Context, plan *firewall.Plan, current *firewall.Rules) (*firewall.ApplyResult, error)
	Drift(ctx context.Context, plan *firewall.Plan) (firewall.DriftReport, error)
	Reset(ctx context.Context, dryRun bool) (*firewall.ResetResult, error)
}

type clientSource struct {
	c    *containers.Client
	opts containers.Options
}

func (s clientSource) Collect(ctx context.Context) *containers.Snapshot {
	return containers.Collect(ctx, s.c, s.opts)
}

func (s clientSource) Inspect(ctx context.Context, id string) (containers.Container, error) {
	return s.c.Inspect(ctx, id)
}

func (s clientSource) Networks(ctx context.Context) ([]containers.Network, error) {
	return s.c.Networks(ctx)
}

// ErrPermanent marks a reconcile error that retrying cannot fix (Docker's
// nftables backend, where hardend writes no rules): the agent does not retry
// it, the next event or the resync timer tries again.
var ErrPermanent = errors.New("not retried")

type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// Enforcer is the real Firewall: internal/firewall's plan and backend, fed by
// a cache of the running containers so that an event costs one inspect of the
// container it names, not a re-read of every container. The cache is filled
// by a full read (list + inspect of each) at start, after every reconnect to
// Docker and on the resync timer; an event's container is inspected and kept
// while it runs, dropped when it stops or is removed. A reconcile then plans
// from the cache and, when the plan differs from the one last verified in the
// kernel (or drift was seen), applies it: one iptables-save per family, one
// iptables-restore batch per family that differs, one read-back.
//
// With `default: allow`, a container that is created or restarting — about to
// start — already has the fixed host ports it asked for dropped (those policy
// blocks), from its create or die event: the DROP is in the kernel before
// Docker's DNAT exists and before docker-proxy listens, so a new container
// has no exposure window. Inspect waits for dockerd's lock on a container
// being started, so a start that begins before that inspect gets its rules
// when it ends, still before the start event. The IPv4 forward rule matches
// DNAT'd connections only and cannot touch a host service; the IPv6 INPUT
// rule (docker-proxy's path) can, so it is pre-written only while nothing in
// hardend's network namespace listens on that port over IPv6. Only ports no
// running container publishes, and only until the container runs or goes.
//
// The variant of iptables holding Docker's chains is detected on first use and
// again after a failure that says it may have changed or was not there yet
// (Docker not started at boot).
//
// Its methods are called by one goroutine at a time (the agent's firewall
// worker); a lock that gives up with the context keeps the shutdown's Reset
// from overlapping a reconcile that is still running.
type Enforcer struct {
	src        workloadSource
	listeners  func() ([]procnet.Socket, error) // TCP listeners of hardend's network namespace
	detect     func(ctx context.Context) (rulesBackend, error)
	reset      func(ctx context.Context) error // Reset when no variant can be detected
	interfaces func() ([]firewall.Interface, error)
	hooks      firewall.Hooks
	lock       chan struct{}

	backend  rulesBackend
	loaded   bool // a full read succeeded
	needFull bool // the cache may be incomplete: the next reconcile reads everything
	engine   containers.EngineInfo
	daemon   containers.DaemonFacts
	networks []containers.Network
	running  map[string]containers.Container // by full ID
	waiting  map[string]containers.Container // created or restarting, by full ID; Ports = what they asked for

	lastPlan *firewall.Plan // the plan last written or verified in the kernel
	inPlace  bool           // lastPlan is in the kernel as far as the enforcer knows
}

// NewEnforcer returns the Firewall over internal/firewall, reading Docker
// through client.
func NewEnforcer(client *containers.Client, opts FirewallOptions) *Enforcer {
	e := &Enforcer{
		src:        clientSource{c: client, opts: containers.Options{Host: client.Host(), Root: opts.Root, Timeout: opts.Timeout}},
		interfaces: audit.HostInterfaces,
		// The namespace hardend writes its rules in is its own: its own /proc
		// entry describes it, whatever host root the checks read.
		listeners: func() ([]procnet.Socket, error) { return procnet.Listeners("/", os.Getpid()) },
		lock:      make(chan struct{}, 1),
		running:   map[string]containers.Container{},
		waiting:   map[string]containers.Container{},
	}
	cfg := opts.IPTables
	e.detect = func(ctx context.Context) (rulesBackend, error) {
		det := firewall.Detect(ctx, cfg)
		if det.Err != nil {
			return nil, fmt.Errorf("find the iptables variant holding Docker's chains: %w", det.Err)
		}
		c := cfg
		c.Variant = det.Variant
		b, err := firewall.NewBackend(c)
		if err != nil {
			return nil, err
		}
		b.Hooks = e.hooks
		return b, nil
	}
	e.reset = func(ctx context.Context) error {
		// No variant holds Docker's chains (Docker gone): remove hardend's
		// chains from whichever variant has them; Reset touches nothing else.
		var errs []error
		for _, v := range []firewall.Variant{firewall.VariantNFT, firewall.VariantLegacy} {
			c := cfg
			c.Variant = v
			b, err := firewall.NewBackend(c)
			if errors.Is(err, firewall.ErrMissingBinary) {
				continue
			}
			if err == nil {
				_, err = b.Reset(ctx, false)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return e
}

// SetFailpoint arms the test-only failpoint named by FailpointEnv; see there.
// It must be called before the first reconcile.
func (e *Enforcer) SetFailpoint(name string, w io.Writer) error {
	if name != "between-families" {
		return fmt.Errorf("unknown failpoint %q (the only one is between-families)", name)
	}
	e.hooks.BetweenFamilies = func() {
		fmt.Fprintln(w, FailpointReached)
		select {}
	}
	return nil
}

func (e *Enforcer) acquire(ctx context.Context) error {
	select {
	case e.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("firewall busy: %w", ctx.Err())
	}
}

func (e *Enforcer) release() { <-e.lock }

// Reconcile implements Firewall.
func (e *Enforcer) Reconcile(ctx context.Context, pol *policy.Policy, changed []string) (Reconciled, error) {
	if err := e.acquire(ctx); err != nil {
		return Reconciled{}, err
	}
	defer e.release()
	full := changed == nil || !e.loaded || e.needFull
	start := time.Now()
	var partial error
	if full {
		var err error
		if partial, err = e.readAll(ctx); err != nil {
			return Reconciled{}, err
		}
	} else if err := e.readChanged(ctx, changed); err != nil {
		return Reconciled{}, err
	}
	read := time.Since(start)
	plan, err := e.plan(pol)
	if err != nil {
		return Reconciled{}, err
	}
	if !full && e.inPlace && samePlan(plan, e.lastPlan) {
		return Reconciled{Read: read}, nil
	}
	rec, err := e.apply(ctx, plan)
	rec.Read, rec.Write = read, time.Since(start)-read
	if err == nil && partial != nil {
		// The rules of every container read are in place; the others keep
		// their earlier rules and are read again on the retry.
		err = partial
	}
	return rec, err
}

// readAll refills the cache from a full read. A container whose inspect
// failed keeps what the cache knew of it (its rules stay), and the next
// reconcile reads everything again; partial says so.
func (e *Enforcer) readAll(ctx context.Context) (partial, err error) {
	snap := e.src.Collect(ctx)
	if snap.Err != nil {
		return nil, fmt.Errorf("read Docker's containers: %w", snap.Err)
	}
	running := make(map[string]containers.Container, len(snap.Containers))
	for _, c := range snap.Containers {
		running[c.ID] = c
	}
	var failed []string
	for _, f := range snap.Failed {
		if old, ok := e.running[f.ID]; ok {
			running[f.ID] = old
		}
		failed = append(failed, f.Err.Error())
	}
	e.engine, e.daemon, e.running = snap.Engine, snap.Daemon, running
	// The list names running containers only: one still waiting to start is
	// seen again at its start event.
	clear(e.waiting)
	if snap.NetworksErr == nil || !e.loaded {
		e.networks = snap.Networks
	}
	e.loaded = true
	e.needFull = len(failed) > 0 || snap.NetworksErr != nil
	switch {
	case len(failed) > 0:
		partial = fmt.Errorf("%d running containers could not be inspected (their earlier rules kept): %s", len(failed), strings.Join(failed[:min(3, len(failed))], "; "))
	case snap.NetworksErr != nil:
		partial = fmt.Errorf("Docker's networks could not be listed (the earlier list kept): %w", snap.NetworksErr)
	}
	return partial, nil
}

// readChanged inspects the containers events named: running ones are kept,
// stopped or removed ones dropped. A network the cache does not know yet (a
// container attached to a new one) refreshes the network list: its bridge
// shapes the plan.
func (e *Enforcer) readChanged(ctx context.Context, ids []string) error {
	refreshNets := false
	for _, id := range ids {
		c, err := e.src.Inspect(ctx, id)
		switch {
		case errors.Is(err, containers.ErrGone):
			delete(e.running, id)
			delete(e.waiting, id)
		case err != nil:
			e.needFull = true
			return fmt.Errorf("read container %s: %w", shortID(id), err)
		case !c.Running:
			delete(e.running, id)
			if w, ok := aboutToStart(c, e.ipv6Free); ok {
				e.waiting[c.ID] = w
			} else {
				delete(e.waiting, id)
			}
		default:
			delete(e.waiting, c.ID)
			e.running[c.ID] = c
			for _, ep := range c.Endpoints {
				if !slices.ContainsFunc(e.networks, func(n containers.Network) bool { return n.ID == ep.NetworkID }) {
					refreshNets = true
				}
			}
		}
	}
	if refreshNets {
		nets, err := e.src.Networks(ctx)
		if err != nil {
			e.needFull = true
			return fmt.Errorf("list Docker's networks: %w", err)
		}
		e.networks = nets
	}
	return nil
}

// plan renders the policy over the cached containers.
func (e *Enforcer) plan(pol *policy.Policy) (*firewall.Plan, error) {
	ifaces, err := e.interfaces()
	if err != nil {
		return nil, err
	}
	list := make([]containers.Container, 0, len(e.running)+len(e.waiting))
	published := map[string]bool{}
	for _, c := range e.running {
		list = append(list, c)
		for _, p := range c.Ports {
			published[fmt.Sprintf("%d/%s", p.HostPort, p.Proto)] = true
		}
	}
	// Under `default: deny` every DNAT'd connection is dropped already.
	if pol.Firewall.Default != "deny" {
		for _, c := range e.waiting {
			c.Ports = slices.DeleteFunc(slices.Clone(c.Ports), func(p containers.PortBinding) bool {
				return published[fmt.Sprintf("%d/%s", p.HostPort, p.Proto)]
			})
			if len(c.Ports) > 0 {
				list = append(list, c)
			}
		}
	}
	slices.SortFunc(list, func(a, b containers.Container) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	snap := &containers.Snapshot{Engine: e.engine, Daemon: e.daemon, Networks: e.networks, Containers: list}
	return firewall.NewPlan(firewall.PlanInput{
		Workloads: audit.Workloads(snap), Interfaces: ifaces, Firewall: pol.Firewall, Docker: audit.DockerFirewall(snap),
	})
}

// ipv6Free returns whether no TCP socket listens on port over IPv6 in
// hardend's network namespace; unknown counts as taken.
func (e *Enforcer) ipv6Free() func(port uint16, proto string) bool {
	var taken map[uint16]bool
	var err error
	return func(port uint16, proto string) bool {
		if proto != "tcp" {
			return false // only TCP listeners are read
		}
		if taken == nil && err == nil {
			var socks []procnet.Socket
			socks, err = e.listeners()
			taken = map[uint16]bool{}
			for _, s := range socks {
				if s.Local.Addr().Is6() && !s.Local.Addr().Is4In6() {
					taken[s.Local.Port()] = true
				}
			}
		}
		return err == nil && !taken[port]
	}
}

// aboutToStart returns the view of a container that is created or restarting
// with the fixed host ports it asked for (HostConfig.PortBindings), and
// whether there is any. A binding on every address covers IPv6 only when
// v6Free says nothing listens there (see Enforcer); ports Docker picks at
// start (-p 80, -P) are not known before it.
func aboutToStart(c containers.Container, v6Free func() func(uint16, string) bool) (containers.Container, bool) {
	in := c.Inspect
	if in == nil || in.State == nil || in.HostConfig == nil {
		return c, false
	}
	switch in.State.Status {
	case "created", "restarting":
	default:
		return c, false
	}
	if c.HostNetwork() || c.NetworkMode == "none" || strings.HasPrefix(c.NetworkMode, "container:") {
		return c, false
	}
	free := v6Free()
	var ports []containers.PortBinding
	for port, bindings := range in.HostConfig.PortBindings {
		proto := string(port.Proto())
		if proto == "" {
			proto = "tcp"
		}
		for _, b := range bindings {
			ip := b.HostIP.Unmap()
			if ip.IsValid() && (ip.IsLoopback() || (ip.Is6() && !ip.IsUnspecified())) {
				continue
			}
			lo, hi, ok := hostPorts(b.HostPort)
			if !ok {
				continue
			}
			for p := int(lo); p <= int(hi); p++ {
				// "" = every address (both families), "0.0.0.0" = IPv4 only,
				// "::" = IPv6 only: what the plan reads from HostIP.
				hostIP := ""
				switch {
				case ip.IsValid() && ip.Is4():
					hostIP = ip.String()
				case !free(uint16(p), proto) && !ip.IsValid():
					hostIP = "0.0.0.0"
				case !free(uint16(p), proto):
					continue // "::" taken by a host service
				case ip.IsValid():
					hostIP = "::"
				}
				ports = append(ports, containers.PortBinding{HostIP: hostIP, HostPort: uint16(p), ContainerPort: port.Num(), Proto: proto})
			}
		}
	}
	if len(ports) == 0 {
		return c, false
	}
	c.Ports = ports
	return c, true
}

// hostPorts reads "8080" or "8000-8010"; "" (Docker picks one) is not known.
func hostPorts(s string) (lo, hi uint16, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	l, err := strconv.ParseUint(a, 10, 16)
	if err != nil || l == 0 {
		return 0, 0, false
	}
	if !isRange {
		return uint16(l), uint16(l), true
	}
	h, err := strconv.ParseUint(b, 10, 16)
	if err != nil || h < l {
		return 0, 0, false
	}
	return uint16(l), uint16(h), true
}

func (e *Enforcer) ensureBackend(ctx context.Context) (rulesBackend, error) {
	if e.backend == nil {
		b, err := e.detect(ctx)
		if err != nil {
			return nil, err
		}
		e.backend = b
	}
	return e.backend, nil
}

// apply writes plan, remembering it as the one in place when the kernel holds
// it afterwards.
func (e *Enforcer) apply(ctx context.Context, plan *firewall.Plan) (Reconciled, error) {
	if plan.Refusal != nil {
		e.inPlace = false
		return Reconciled{}, &permanentError{err: plan.Refusal}
	}
	b, err := e.ensureBackend(ctx)
	if err != nil {
		return Reconciled{}, err
	}
	prev := e.lastPlan
	res, err := b.Apply(ctx, plan, nil)
	rec := summarizeApply(prev, plan, res)
	switch {
	case err == nil:
		e.lastPlan, e.inPlace = plan, true
	case errors.Is(err, firewall.ErrInert):
		// Written and verified, but DOCKER-USER sees no traffic (FAULTS 2):
		// every reconcile re-checks, and the error stays visible.
		e.lastPlan, e.inPlace = plan, false
	default:
		e.inPlace = false
		if errors.Is(err, firewall.ErrNoDockerUser) || errors.Is(err, firewall.ErrWrongVariant) || errors.Is(err, firewall.ErrBothVariants) {
			e.backend = nil // detect again: Docker's chains are elsewhere or not there yet
		}
	}
	return rec, err
}

// summarizeApply says what a write changed: rule lines written per family, and
// the blocks that appeared or went compared with the previous plan.
func summarizeApply(prev, plan *firewall.Plan, res *firewall.ApplyResult) Reconciled {
	if res == nil || res.Changes == nil || len(res.Written) == 0 {
		return Reconciled{}
	}
	lines := 0
	var fams []string
	for _, f := range res.Written {
		fams = append(fams, f.String())
		for _, l := range strings.Split(res.Changes.Batch(f), "\n") {
			if strings.HasPrefix(l, "-") {
				lines++
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %d rule lines written", strings.Join(fams, "+"), lines)
	var old []firewall.Block
	if prev != nil {
		old = prev.Blocks
	}
	added, removed := blockDiff(old, plan.Blocks)
	if len(added)+len(removed) > 0 {
		fmt.Fprintf(&sb, "; blocks +%d -%d", len(added), len(removed))
		for i, b := range added {
			if i == 3 {
				fmt.Fprintf(&sb, " …")
				break
			}
			sb.WriteString(", +" + b)
		}
		for i, b := range removed {
			if i == 3 {
				fmt.Fprintf(&sb, " …")
				break
			}
			sb.WriteString(", -" + b)
		}
	}
	if res.ConntrackDeleted > 0 {
		fmt.Fprintf(&sb, "; %d established connections cut", res.ConntrackDeleted)
	}
	return Reconciled{Changed: max(lines, 1), Summary: sb.String()}
}

func blockDiff(old, cur []firewall.Block) (added, removed []string) {
	in := func(bs []firewall.Block) map[string]bool {
		m := make(map[string]bool, len(bs))
		for _, b := range bs {
			m[b.String()] = true
		}
		return m
	}
	o, c := in(old), in(cur)
	for k := range c {
		if !o[k] {
			added = append(added, k)
		}
	}
	for k := range o {
		if !c[k] {
			removed = append(removed, k)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// samePlan reports whether two plans put the same rules in the kernel.
func samePlan(a, b *firewall.Plan) bool {
	if a == nil || b == nil {
		return false
	}
	for _, f := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
		fa, fb := a.Family(f), b.Family(f)
		if (fa == nil) != (fb == nil) {
			return false
		}
		if fa == nil {
			continue
		}
		if !slices.EqualFunc(fa.Chains, fb.Chains, func(x, y firewall.ChainPlan) bool {
			return x.Name == y.Name && slices.Equal(x.Hooks, y.Hooks) && slices.Equal(x.Rules, y.Rules)
		}) {
			return false
		}
	}
	return true
}

// Drift implements Firewall: hardend's chains and jumps against the plan last
// written, from one iptables-save per family; no Docker call.
func (e *Enforcer) Drift(ctx context.Context) (DriftReport, error) {
	if err := e.acquire(ctx); err != nil {
		return DriftReport{}, err
	}
	defer e.release()
	if e.lastPlan == nil || e.backend == nil {
		return DriftReport{}, nil
	}
	d, err := e.backend.Drift(ctx, e.lastPlan)
	if err != nil {
		return DriftReport{}, err
	}
	if !d.Drifted() {
		return DriftReport{}, nil
	}
	e.inPlace = false
	reasons := make([]string, 0, 3)
	for i, p := range d.Problems {
		if i == 3 {
			reasons = append(reasons, fmt.Sprintf("and %d more", len(d.Problems)-3))
			break
		}
		reasons = append(reasons, p.String())
	}
	return DriftReport{Drifted: true, Reason: strings.Join(reasons, "; ")}, nil
}

// Restore implements Firewall: the last plan written, applied again without
// asking Docker.
func (e *Enforcer) Restore(ctx context.Context) error {
	if err := e.acquire(ctx); err != nil {
		return err
	}
	defer e.release()
	if e.lastPlan == nil {
		return nil
	}
	_, err := e.apply(ctx, e.lastPlan)
	return err
}

// Reset implements Firewall.
func (e *Enforcer) Reset(ctx context.Context) error {
	if err := e.acquire(ctx); err != nil {
		return err
	}
	defer e.release()
	e.lastPlan, e.inPlace = nil, false
	b, err := e.ensureBackend(ctx)
	if err != nil {
		if e.reset == nil {
			return err
		}
		return e.reset(ctx)
	}
	_, err = b.Reset(ctx, false)
	return err
}
