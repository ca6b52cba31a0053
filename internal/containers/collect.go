package containers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hardend/hardend/internal/policy"
)

// Snapshot is one scan of a Docker daemon: what the API said and what the host
// says about the daemon.
type Snapshot struct {
	Host string
	// Err is set when the daemon could not be used at all (ping, info or the
	// container list failed); it explains why (an *APIError).
	Err error

	Engine      EngineInfo
	Networks    []Network
	NetworksErr error
	// Containers are the running containers, inspected, sorted by name.
	Containers []Container
	// Failed are containers that were listed but whose inspect failed (the
	// daemon stopped mid-scan, a deadline); each gets error results.
	Failed []InspectFailure
	Listed int // running containers the list returned
	Gone   int // listed, then gone before their inspect (not an error)

	Daemon DaemonFacts
	// PlainTCP is true when hardend itself reached the API over TCP without
	// TLS: proof that the daemon serves it unauthenticated.
	PlainTCP bool
	// CapLast is the kernel's cap_last_cap: what "all capabilities" means.
	CapLast int
	At      time.Time
	Took    time.Duration
}

// InspectFailure is a container whose inspect failed.
type InspectFailure struct {
	ID  string
	Err error
}

// Collect scans the daemon: ping (API version negotiation), then info,
// version, one container list and one network list concurrently, then one
// inspect per running container with at most opts.Concurrency in flight, and
// the host's /proc view of each container's init process. Every call has its
// deadline; when the daemon stops answering mid-scan the remaining inspects
// are abandoned and recorded as failed, so a scan never takes much longer than
// one deadline past the last answer. The host side (ReadDaemon) is read in
// parallel.
func Collect(ctx context.Context, c *Client, opts Options) *Snapshot {
	opts = opts.withDefaults()
	start := time.Now()
	snap := &Snapshot{Host: c.Host(), At: start, CapLast: readCapLastCap(opts.Root)}
	daemonDone := make(chan struct{})
	go func() {
		defer close(daemonDone)
		snap.Daemon = ReadDaemon(opts.Root, c.Host())
	}()
	defer func() {
		<-daemonDone
		snap.Took = time.Since(start)
	}()

	if err := c.Ping(ctx); err != nil {
		snap.Err = err
		return snap
	}
	snap.PlainTCP = strings.HasPrefix(snap.Host, "tcp://") && !c.tls
	// GET /info is the slowest call (tens of ms on a busy daemon): the list and
	// the inspects do not wait for it.
	var (
		wg      sync.WaitGroup
		infoErr error
	)
	wg.Add(2)
	go func() { defer wg.Done(); snap.Engine, infoErr = c.Info(ctx) }()
	go func() { defer wg.Done(); snap.Networks, snap.NetworksErr = c.Networks(ctx) }()
	ids, listErr := c.List(ctx)
	if listErr == nil {
		snap.Listed = len(ids)
		snap.Containers, snap.Failed, snap.Gone = inspectAll(ctx, c, opts, ids)
	}
	wg.Wait()
	switch {
	case listErr != nil:
		snap.Err = listErr
	case infoErr != nil:
		snap.Err = infoErr
	}
	return snap
}

// inspectAll inspects ids with bounded concurrency.
func inspectAll(ctx context.Context, c *Client, opts Options, ids []string) ([]Container, []InspectFailure, int) {
	ctx, abandon := context.WithCancelCause(ctx)
	defer abandon(nil)
	type result struct {
		c    Container
		err  error
		gone bool
	}
	results := make([]result, len(ids))
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for i, id := range ids {
		if ctx.Err() != nil {
			results[i].err = notInspected(ctx)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if ctx.Err() != nil {
				results[i].err = notInspected(ctx)
				return
			}
			ctr, err := c.Inspect(ctx, id)
			switch {
			case errors.Is(err, ErrGone):
				results[i].gone = true
			case err != nil:
				if ctx.Err() != nil && !daemonDown(err) {
					err = notInspected(ctx)
				}
				results[i].err = err
				if daemonDown(err) {
					abandon(err)
				}
			case !ctr.Running:
				results[i].gone = true // stopped between list and inspect
			default:
				ctr.Proc, ctr.ProcErr = readProcFacts(opts.Root, ctr.Pid, ctr.ID)
				results[i].c = ctr
			}
		}()
	}
	wg.Wait()
	var (
		out    []Container
		failed []InspectFailure
		gone   int
	)
	for i, r := range results {
		switch {
		case r.gone:
			gone++
		case r.err != nil:
			failed = append(failed, InspectFailure{ID: ids[i], Err: r.err})
		default:
			out = append(out, r.c)
		}
	}
	slices.SortFunc(out, func(a, b Container) int {
		if n := strings.Compare(a.Name, b.Name); n != 0 {
			return n
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, failed, gone
}

// notInspected explains a container abandoned because the daemon stopped
// answering (or the caller gave up).
func notInspected(ctx context.Context) error {
	return fmt.Errorf("not inspected, the scan was abandoned: %w", context.Cause(ctx))
}

// daemonDown reports whether an error means the daemon as a whole stopped
// answering (rather than one container failing).
func daemonDown(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Reason {
	case ReasonTimeout, ReasonRefused, ReasonNoSocket, ReasonNotSocket, ReasonPermission, ReasonClosed, ReasonTLS:
		return true
	}
	return false
}

// PolicyInfo returns what policy selectors match on, keyed by the subject ID
// container results carry (the 12-character short ID).
func (s *Snapshot) PolicyInfo() map[string]policy.ContainerInfo {
	out := make(map[string]policy.ContainerInfo, len(s.Containers))
	for i := range s.Containers {
		c := &s.Containers[i]
		out[c.ShortID()] = policy.ContainerInfo{Name: c.Name, Image: c.Image, Labels: c.Labels}
	}
	return out
}

// Container returns the container with this full or short ID, or nil.
func (s *Snapshot) Container(id string) *Container {
	for i := range s.Containers {
		if s.Containers[i].ID == id || s.Containers[i].ShortID() == id {
			return &s.Containers[i]
		}
	}
	return nil
}
