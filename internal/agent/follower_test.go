package agent

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/containers"
)

// followerHarness runs a follower against the fake Docker and records what it
// hands on.
type followerHarness struct {
	docker *fakeDocker
	states chan dockerState
	mu     sync.Mutex
	got    []string // ids handed to onEvent, in order
	cancel context.CancelFunc
	done   chan struct{}
}

func runFollower(t *testing.T, overlap time.Duration) *followerHarness {
	t.Helper()
	h := &followerHarness{docker: newFakeDocker(&calls{}), states: make(chan dockerState, 100), done: make(chan struct{})}
	f := &follower{
		docker: h.docker, states: h.states,
		onEvent: func(ev containers.Event, id string, full bool) {
			h.mu.Lock()
			h.got = append(h.got, ev.Action+":"+id)
			h.mu.Unlock()
		},
		backoff:    func() (time.Duration, time.Duration) { return 5 * time.Millisecond, 20 * time.Millisecond },
		overlap:    overlap,
		health:     20 * time.Millisecond,
		pingTimout: 100 * time.Millisecond,
		now:        time.Now,
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { defer close(h.done); f.run(ctx) }()
	t.Cleanup(func() { cancel(); <-h.done })
	return h
}

func (h *followerHarness) handled() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

func (h *followerHarness) state(t *testing.T) dockerState {
	t.Helper()
	select {
	case s := <-h.states:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no docker state report")
		return dockerState{}
	}
}

// Events are handed on in order, each once: after the stream breaks, the new
// subscription replays from before the last event seen (the overlap), the
// replayed events already handled are dropped, and those that happened while
// no stream was open are handled — none lost, none twice.
func TestFollowerResumesWithOverlapWithoutLossOrDuplicates(t *testing.T) {
	h := runFollower(t, 2*time.Second)
	if s := h.state(t); !s.up {
		t.Fatalf("first state: %+v", s)
	}
	h.docker.emit("container", "create", "a", nil)
	h.docker.emit("container", "start", "a", nil)
	h.docker.emit("image", "pull", "busybox", nil) // not relevant: never handed on
	h.docker.emit("network", "connect", "net1", map[string]string{"container": "b"})
	eventually(t, "3 events", func() bool { return len(h.handled()) == 3 })
	last := time.Now()

	// dockerd restarts: the stream breaks and pings fail for a while.
	h.docker.setPingErr(errors.New("connection refused"))
	h.docker.breakStream(errors.New("unexpected EOF"))
	if s := h.state(t); s.up || s.err == nil {
		t.Fatalf("after the break: %+v, want down with the ping error", s)
	}
	// Meanwhile containers change: no stream is open to see it.
	h.docker.mu.Lock()
	for _, id := range []string{"c", "d"} {
		h.docker.history = append(h.docker.history, containers.Event{Time: time.Now(), Type: "container", Action: "start", ID: id})
	}
	h.docker.mu.Unlock()
	h.docker.setPingErr(nil)
	s := h.state(t)
	if !s.up || s.since.After(last) {
		t.Fatalf("back: %+v, want up with since before %v", s, last)
	}
	h.docker.emit("container", "die", "a", nil)
	eventually(t, "6 events", func() bool { return len(h.handled()) >= 6 })
	time.Sleep(30 * time.Millisecond)
	want := []string{"create:a", "start:a", "connect:b", "start:c", "start:d", "die:a"}
	if got := h.handled(); !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	if subs := h.docker.subscriptions(); len(subs) != 2 {
		t.Errorf("subscriptions: %v", subs)
	}
}

// A stream that ends while Docker still answers is resumed at once, without a
// degraded state in between.
func TestFollowerResubscribesAfterStreamEnd(t *testing.T) {
	h := runFollower(t, time.Second)
	h.state(t)
	h.docker.emit("container", "start", "a", nil)
	eventually(t, "event", func() bool { return len(h.handled()) == 1 })
	h.docker.breakStream(errors.New("http2: stream reset"))
	s := h.state(t)
	if !s.up || s.err == nil {
		t.Fatalf("want up again, with the stream's error: %+v", s)
	}
	h.docker.emit("container", "start", "b", nil)
	eventually(t, "second event", func() bool { return len(h.handled()) == 2 })
	if got := h.handled(); !slices.Equal(got, []string{"start:a", "start:b"}) {
		t.Errorf("handled %v", got)
	}
}

// A daemon that stops answering (SIGSTOP) while its stream stays open is
// noticed by the health pings.
func TestFollowerNoticesFrozenDaemon(t *testing.T) {
	h := runFollower(t, time.Second)
	h.state(t)
	h.docker.setPingErr(context.DeadlineExceeded)
	if s := h.state(t); s.up {
		t.Fatalf("want down: %+v", s)
	}
	h.docker.setPingErr(nil)
	if s := h.state(t); !s.up {
		t.Fatalf("want up: %+v", s)
	}
}

// A frozen daemon is reported down on the first failed health ping, not
// after another ping's timeout (a 10 s freeze must show as degraded).
func TestFollowerReportsFrozenOnFirstFailedPing(t *testing.T) {
	h := runFollower(t, time.Second)
	h.state(t)
	pings := func() int { return h.docker.calls.count("ping") }
	before := pings()
	h.docker.setPingErr(context.DeadlineExceeded)
	s := h.state(t)
	if s.up || !errors.Is(s.err, context.DeadlineExceeded) {
		t.Fatalf("want down with the ping's error: %+v", s)
	}
	if n := pings() - before; n != 1 {
		t.Errorf("%d pings before the down report, want 1", n)
	}
}
