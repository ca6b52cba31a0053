package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/policy"
	"github.com/sirupsen/logrus"
)

// calls is a shared, ordered record of what the fakes were asked, so tests can
// assert on ordering across them ("subscribe" before "audit").
type calls struct {
	mu  sync.Mutex
	log []string
}

func (c *calls) add(s string) {
	c.mu.Lock()
	c.log = append(c.log, s)
	c.mu.Unlock()
}

func (c *calls) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func (c *calls) count(prefix string) int {
	n := 0
	for _, s := range c.all() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// fakeDocker keeps every event it ever emitted, replays those at or after a
// subscription's since (as dockerd does), and streams new ones live.
type fakeDocker struct {
	calls   *calls
	mu      sync.Mutex
	history []containers.Event
	live    *fakeSub
	pingErr error
	sinces  []time.Time
}

type fakeSub struct {
	events chan containers.Event
	errc   chan error
	once   sync.Once
}

func (s *fakeSub) end(err error) {
	s.once.Do(func() { s.errc <- err })
}

func newFakeDocker(c *calls) *fakeDocker { return &fakeDocker{calls: c} }

func (d *fakeDocker) Ping(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls.add("ping")
	return d.pingErr
}

func (d *fakeDocker) Events(ctx context.Context, since time.Time) (<-chan containers.Event, <-chan error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls.add("subscribe")
	s := &fakeSub{events: make(chan containers.Event, 10000), errc: make(chan error, 1)}
	d.sinces = append(d.sinces, since)
	for _, ev := range d.history {
		if !ev.Time.Before(since) {
			s.events <- ev
		}
	}
	d.live = s
	go func() {
		<-ctx.Done()
		s.end(ctx.Err())
		d.mu.Lock()
		if d.live == s {
			d.live = nil
		}
		d.mu.Unlock()
	}()
	return s.events, s.errc
}

// emit makes an event happen now.
func (d *fakeDocker) emit(typ, action, id string, attrs map[string]string) containers.Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	ev := containers.Event{Time: time.Now(), Type: typ, Action: action, ID: id, Attributes: attrs}
	d.history = append(d.history, ev)
	if d.live != nil {
		d.live.events <- ev
	}
	return ev
}

// breakStream ends the live subscription, as a dockerd restart does.
func (d *fakeDocker) breakStream(err error) {
	d.mu.Lock()
	s := d.live
	d.live = nil
	d.mu.Unlock()
	if s != nil {
		s.end(err)
	}
}

func (d *fakeDocker) setPingErr(err error) {
	d.mu.Lock()
	d.pingErr = err
	d.mu.Unlock()
}

func (d *fakeDocker) subscriptions() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sinces)
}

// fakeAuditor returns the results its scenario function gives; gate, when
// set, holds every audit until the test sends on it.
type fakeAuditor struct {
	calls    *calls
	mu       sync.Mutex
	results  []check.Result
	dockerOK bool
	gate     chan struct{}
	hints    [][]string
}

func (f *fakeAuditor) set(results ...check.Result) {
	f.mu.Lock()
	f.results = slices.Clone(results)
	f.mu.Unlock()
}

func (f *fakeAuditor) setDockerOK(ok bool) {
	f.mu.Lock()
	f.dockerOK = ok
	f.mu.Unlock()
}

func (f *fakeAuditor) Audit(ctx context.Context, pol *policy.Policy, changed []string) (Scan, error) {
	f.calls.add(fmt.Sprintf("audit %v", changed))
	f.mu.Lock()
	f.hints = append(f.hints, changed)
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return Scan{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Scan{Results: slices.Clone(f.results)}
	if !f.dockerOK {
		s.DockerErr = errors.New("docker: connection refused")
	}
	return s, nil
}

func (f *fakeAuditor) allHints() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hints)
}

// fakeFirewall records operations; drift says what Drift reports next.
type fakeFirewall struct {
	calls  *calls
	mu     sync.Mutex
	drift  DriftReport
	recErr error
	block  chan struct{} // when set, Reconcile waits on it
	recAt  []time.Time
	hints  [][]string
}

func (f *fakeFirewall) allHints() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hints)
}

func (f *fakeFirewall) setErr(err error) {
	f.mu.Lock()
	f.recErr = err
	f.mu.Unlock()
}

func (f *fakeFirewall) Reconcile(ctx context.Context, pol *policy.Policy, changed []string) (Reconciled, error) {
	f.calls.add("reconcile")
	f.mu.Lock()
	f.recAt = append(f.recAt, time.Now())
	f.hints = append(f.hints, changed)
	block, err := f.block, f.recErr
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return Reconciled{}, ctx.Err()
		}
	}
	return Reconciled{Changed: 1, Summary: "+1 rule"}, err
}

func (f *fakeFirewall) Drift(ctx context.Context) (DriftReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.drift
	f.drift = DriftReport{} // repaired by what follows
	if d.Drifted {
		f.calls.add("drift")
	}
	return d, nil
}

func (f *fakeFirewall) setDrift(reason string) {
	f.mu.Lock()
	f.drift = DriftReport{Drifted: true, Reason: reason}
	f.mu.Unlock()
}

func (f *fakeFirewall) Restore(ctx context.Context) error {
	f.calls.add("restore")
	return nil
}

func (f *fakeFirewall) Reset(ctx context.Context) error {
	f.calls.add("reset")
	return nil
}

func (f *fakeFirewall) reconciles() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.recAt)
}

// fakeNotifier records notifications in order.
type fakeNotifier struct {
	mu   sync.Mutex
	msgs []string
}

func (n *fakeNotifier) add(s string) error {
	n.mu.Lock()
	n.msgs = append(n.msgs, s)
	n.mu.Unlock()
	return nil
}

func (n *fakeNotifier) Ready(status string) error  { return n.add("READY " + status) }
func (n *fakeNotifier) Status(status string) error { return n.add("STATUS " + status) }
func (n *fakeNotifier) Watchdog() error            { return n.add("WATCHDOG") }
func (n *fakeNotifier) Reloading() error           { return n.add("RELOADING") }
func (n *fakeNotifier) Stopping() error            { return n.add("STOPPING") }

func (n *fakeNotifier) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// captureHook keeps every log record (message and fields) for assertions.
type captureHook struct {
	mu      sync.Mutex
	entries []logged
}

type logged struct {
	level  logrus.Level
	msg    string
	fields logrus.Fields
}

func (h *captureHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *captureHook) Fire(e *logrus.Entry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := make(logrus.Fields, len(e.Data))
	for k, v := range e.Data {
		f[k] = v
	}
	h.entries = append(h.entries, logged{level: e.Level, msg: e.Message, fields: f})
	return nil
}

func (h *captureHook) all() []logged {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.entries)
}

// matching returns the records whose message contains s.
func (h *captureHook) matching(s string) []logged {
	var out []logged
	for _, e := range h.all() {
		if strings.Contains(e.msg, s) {
			out = append(out, e)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
