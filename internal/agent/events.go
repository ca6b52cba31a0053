package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hardend/hardend/internal/containers"
)

// classify says what an event touches: the container to re-audit, or a full
// re-audit (the daemon reloaded its configuration). relevant is false for
// events that cannot change exposure or findings.
func classify(ev containers.Event) (id string, full, relevant bool) {
	switch ev.Type {
	case "container":
		switch ev.Action {
		case "create", "start", "restart", "die", "stop", "kill", "destroy", "update", "rename", "pause", "unpause":
			return ev.ID, false, ev.ID != ""
		}
	case "network":
		switch ev.Action {
		case "connect", "disconnect":
			id := ev.Attributes["container"]
			return id, id == "", true
		}
	case "daemon":
		if ev.Action == "reload" {
			return "", true, true
		}
	}
	return "", false, false
}

// work coalesces audit requests: a burst of events becomes one audit of the
// containers they touched. add never blocks.
type work struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	full bool
	kick chan struct{}
}

func newWork() *work { return &work{ids: map[string]struct{}{}, kick: make(chan struct{}, 1)} }

func (w *work) add(id string, full bool) {
	w.mu.Lock()
	if full {
		w.full = true
	} else if id != "" {
		w.ids[id] = struct{}{}
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// take returns what was asked since the last take: nil for a full audit.
func (w *work) take() (ids []string, full bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	full = w.full
	if !full {
		ids = make([]string, 0, len(w.ids))
		for id := range w.ids {
			ids = append(ids, id)
		}
	}
	w.ids, w.full = map[string]struct{}{}, false
	return ids, full
}

// dockerState is what the follower tells the main loop about Docker.
type dockerState struct {
	up    bool
	err   error     // down: why; up: why the previous stream ended (nil at first)
	since time.Time // up: the `since` the subscription replays from
	at    time.Time
}

// follower keeps one event subscription alive: ping, subscribe with an
// overlapping since, stream, health-ping meanwhile, and start over with backoff
// when anything fails. It reports every up and down to the main loop and hands
// each new relevant event to onEvent, which must not block.
type follower struct {
	docker     Docker
	states     chan<- dockerState
	onEvent    func(ev containers.Event, id string, full bool)
	backoff    func() (lo, hi time.Duration)
	overlap    time.Duration
	health     time.Duration
	pingTimout time.Duration
	now        func() time.Time

	lastSeen time.Time            // newest event time seen
	seen     map[string]time.Time // recent events by identity, to drop replays
}

var (
	errStreamClosed = errors.New("event stream closed")
	// errNotAnswering: a health ping failed while the stream was open (a
	// frozen or hung daemon).
	errNotAnswering = errors.New("docker stopped answering")
)

func (f *follower) run(ctx context.Context) {
	f.seen = map[string]time.Time{}
	lo, _ := f.backoff()
	wait := lo
	up := false
	first := true
	var ended error
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, f.pingTimout)
		err := f.docker.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if up || first {
				f.report(ctx, dockerState{up: false, err: err, at: f.now()})
			}
			up, first = false, false
			if !sleep(ctx, wait) {
				return
			}
			lo, hi := f.backoff()
			wait = min(max(2*wait, lo), hi)
			continue
		}
		start := f.now()
		since := start
		if !f.lastSeen.IsZero() && f.lastSeen.Before(since) {
			since = f.lastSeen
		}
		since = since.Add(-f.overlap)
		sctx, cancel := context.WithCancel(ctx)
		evc, errc := f.docker.Events(sctx, since)
		f.report(ctx, dockerState{up: true, err: ended, since: since, at: start})
		up, first = true, false
		wait, _ = f.backoff()
		ended = f.stream(sctx, evc, errc)
		cancel()
		// Events up to now were delivered: the next subscription replays from
		// here at the latest, even when none came.
		if f.lastSeen.Before(start) {
			f.lastSeen = start
		}
		if errors.Is(ended, errNotAnswering) && ctx.Err() == nil {
			// The ping that just failed says it all: degraded now, not after
			// another ping's timeout.
			f.report(ctx, dockerState{up: false, err: ended, at: f.now()})
			up = false
			if !sleep(ctx, wait) {
				return
			}
		}
	}
}

// report hands a state to the main loop, which always reads.
func (f *follower) report(ctx context.Context, s dockerState) {
	select {
	case f.states <- s:
	case <-ctx.Done():
	}
}

// stream reads events until the stream ends or Docker stops answering pings;
// the pings run beside the reading so the stream is always drained (dockerd
// drops events for a subscriber that does not keep up).
func (f *follower) stream(ctx context.Context, evc <-chan containers.Event, errc <-chan error) error {
	health := time.NewTicker(f.health)
	defer health.Stop()
	pinged := make(chan error, 1)
	pinging := false
	for {
		select {
		case ev, ok := <-evc:
			if !ok {
				select {
				case err := <-errc:
					if err != nil {
						return err
					}
				default:
				}
				return errStreamClosed
			}
			f.handle(ev)
		case err, ok := <-errc:
			if !ok || err == nil {
				err = errStreamClosed
			}
			return err
		case <-health.C:
			if pinging {
				continue
			}
			pinging = true
			go func() {
				pctx, cancel := context.WithTimeout(ctx, f.pingTimout)
				defer cancel()
				pinged <- f.docker.Ping(pctx)
			}()
		case err := <-pinged:
			pinging = false
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("%w: %w", errNotAnswering, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handle drops replayed events (the overlap of since) and hands on the rest.
func (f *follower) handle(ev containers.Event) {
	key := fmt.Sprintf("%d|%s|%s|%s", ev.Time.UnixNano(), ev.Type, ev.Action, ev.ID)
	if _, dup := f.seen[key]; dup {
		return
	}
	f.seen[key] = ev.Time
	if ev.Time.After(f.lastSeen) {
		f.lastSeen = ev.Time
		// Forget what no replay can bring back any more.
		horizon := f.lastSeen.Add(-3 * f.overlap)
		for k, t := range f.seen {
			if t.Before(horizon) {
				delete(f.seen, k)
			}
		}
	}
	if id, full, ok := classify(ev); ok {
		f.onEvent(ev, id, full)
	}
}

// sleep waits d unless ctx ends first; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
