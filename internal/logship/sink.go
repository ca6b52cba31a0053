package logship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

const (
	defaultQueue = 1024
	// batchRecords and batchBytes bound one write on a stream connection.
	batchRecords = 128
	batchBytes   = 64 << 10
	// maxUDP keeps a datagram within what RFC 5426 §3.2 says every receiver
	// should accept; maxStream is rsyslog's default maximum message size.
	maxUDP    = 2048
	maxStream = 8192
	// udpSettle: a UDP sender only learns of a dead receiver from ICMP errors
	// reported on a later write, so a UDP target counts as back only after this
	// long without an error (else it would flap "down/back" every other message).
	udpSettle = 30 * time.Second
	// stopGrace bounds Close when its context has no deadline.
	stopGrace = 5 * time.Second
)

var errPeerClosed = errors.New("receiver closed the connection")

// sink is one target: a bounded queue and the goroutine that drains it.
type sink struct {
	name  string
	opts  Options
	queue chan *record
	stopc chan struct{}
	done  chan struct{}
	once  sync.Once
	// deadline (unix nanoseconds) for delivering what is queued at shutdown.
	deadline atomic.Int64
	closed   atomic.Bool

	// syslog targets
	dial     func(ctx context.Context) (*link, error)
	encode   func(r *record, b []byte) []byte
	settle   time.Duration
	notices  *sink // where "down" and "back" are said: the stderr sink
	fallback *sink // the stderr sink when stderr is not a target itself, else nil

	// the stderr target
	w      io.Writer
	format func(r *record) ([]byte, error)

	sent, dropped, failed, reconnects atomic.Uint64
	up                                atomic.Bool

	// goroutine-local
	downSince    time.Time
	lastErr      time.Time
	announced    bool // a "down" notice was given for the current outage
	failedAtDown uint64
	buf          []byte
	ends         []int
}

func newSink(name string, size int, opts Options) *sink {
	if size <= 0 {
		size = defaultQueue
	}
	k := &sink{
		name:  name,
		opts:  opts,
		queue: make(chan *record, size),
		stopc: make(chan struct{}),
		done:  make(chan struct{}),
	}
	k.up.Store(true)
	return k
}

// enqueue never blocks: a full queue drops the record and counts it.
func (k *sink) enqueue(r *record) {
	if k.closed.Load() {
		k.dropped.Add(1)
		return
	}
	select {
	case k.queue <- r:
	default:
		k.dropped.Add(1)
	}
}

func (k *sink) stats() Stats {
	return Stats{
		Target:     k.name,
		Sent:       k.sent.Load(),
		Dropped:    k.dropped.Load(),
		Failed:     k.failed.Load(),
		Reconnects: k.reconnects.Load(),
		Queued:     len(k.queue),
		Up:         k.up.Load(),
	}
}

func (k *sink) stop(ctx context.Context) {
	k.once.Do(func() {
		d, ok := ctx.Deadline()
		if !ok {
			d = time.Now().Add(stopGrace)
		}
		k.deadline.Store(d.UnixNano())
		k.closed.Store(true)
		close(k.stopc)
	})
}

func (k *sink) wait(ctx context.Context) error {
	select {
	case <-k.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("log target %s: still delivering at shutdown: %w", k.name, ctx.Err())
	}
}

func (k *sink) stopping() bool {
	select {
	case <-k.stopc:
		return true
	default:
		return false
	}
}

func (k *sink) stopDeadline() time.Time { return time.Unix(0, k.deadline.Load()) }

// notice says something about the target itself on stderr (the journal).
func (k *sink) notice(level logrus.Level, format string, args ...any) {
	if k.notices == nil {
		return
	}
	k.notices.enqueue(&record{time: time.Now(), level: level, msg: fmt.Sprintf(format, args...), internal: true})
}

// --- the stderr target ---

// stderrTime stamps stderr lines to the millisecond: the agent reacts to an
// event within tens of them, and its log should show it.
const stderrTime = "2006-01-02T15:04:05.000Z07:00"

func newStderrSink(t Target, opts Options) *sink {
	k := newSink("stderr", t.QueueSize, opts)
	k.w = opts.Stderr
	dummy := logrus.New()
	dummy.Out = io.Discard
	var f logrus.Formatter = &logrus.TextFormatter{
		DisableColors:    true,
		FullTimestamp:    true,
		TimestampFormat:  stderrTime,
		DisableTimestamp: opts.Journal, // the journal stamps every line itself
		QuoteEmptyFields: true,
	}
	if t.Format == FormatJSON {
		f = &logrus.JSONFormatter{TimestampFormat: stderrTime}
	}
	k.format = func(r *record) ([]byte, error) {
		b, err := f.Format(r.entry(dummy))
		if err != nil || !opts.Journal {
			return b, err
		}
		// sd-daemon(3): "<N>" at the start of a line sets its journal priority.
		prefix := "<" + strconv.Itoa(int(syslogSeverity(r.level))) + ">"
		return append([]byte(prefix), b...), nil
	}
	return k
}

func (k *sink) runStderr() {
	defer close(k.done)
	for {
		select {
		case r := <-k.queue:
			k.writeStderr(r)
		case <-k.stopc:
			for time.Now().Before(k.stopDeadline()) {
				select {
				case r := <-k.queue:
					k.writeStderr(r)
				default:
					return
				}
			}
			k.failed.Add(uint64(len(k.queue)))
			return
		}
	}
}

func (k *sink) writeStderr(r *record) {
	b, err := k.format(r)
	if err == nil {
		_, err = k.w.Write(b)
	}
	if err != nil {
		k.failed.Add(1)
		return
	}
	k.sent.Add(1)
}

// --- syslog targets ---

func (k *sink) run() {
	if k.w != nil {
		k.runStderr()
		return
	}
	defer close(k.done)
	var l *link
	var pending []*record
	backoff := k.opts.BackoffMin
	connected := false
	// streak counts failures since the last delivery: the first is retried at
	// once (a receiver that restarted is back), the next ones back off, so a
	// receiver that accepts and drops every connection is not hammered.
	streak := 0
	backOff := func() {
		if streak > 0 {
			pending = k.sleep(backoff, pending)
			backoff = min(2*backoff, k.opts.BackoffMax)
		}
		streak++
	}
	for {
		if k.stopping() {
			k.flush(l, pending)
			return
		}
		if l == nil {
			ctx, cancel := context.WithTimeout(context.Background(), k.opts.DialTimeout)
			var err error
			l, err = k.dial(ctx)
			cancel()
			if err != nil {
				k.fail(err)
				pending = k.sleep(backoff, pending)
				backoff = min(2*backoff, k.opts.BackoffMax)
				continue
			}
			if connected {
				k.reconnects.Add(1)
			}
			connected = true
		}
		if len(pending) == 0 {
			select {
			case r := <-k.queue:
				pending = append(pending, r)
			case <-k.stopc:
				continue
			}
		}
		pending = k.fill(pending)
		if l.stream && !l.alive() {
			l.Close()
			l = nil
			k.fail(errPeerClosed)
			backOff()
			continue
		}
		n, err := k.write(l, pending, time.Now().Add(k.opts.WriteTimeout))
		pending = advance(pending, n)
		if err != nil {
			l.Close()
			l = nil
			k.fail(err)
			backOff()
			continue
		}
		backoff, streak = k.opts.BackoffMin, 0
		k.ok()
	}
}

// fill adds what is already queued to pending, up to one batch.
func (k *sink) fill(pending []*record) []*record {
	for len(pending) < batchRecords {
		select {
		case r := <-k.queue:
			pending = append(pending, r)
		default:
			return pending
		}
	}
	return pending
}

func advance(pending []*record, n int) []*record {
	clear(pending[:n])
	return pending[n:]
}

// fail records an error; the first one of an outage is said once on stderr.
func (k *sink) fail(err error) {
	now := time.Now()
	k.lastErr = now
	if !k.up.Load() {
		return
	}
	k.up.Store(false)
	k.downSince = now
	k.failedAtDown = k.failed.Load() + k.dropped.Load()
	k.announced = true
	where := "they stay queued (up to the queue size) until it is back; they are in the journal meanwhile"
	if k.fallback != nil {
		where = "they go to stderr (the journal) until it is back"
	}
	k.notice(logrus.WarnLevel, "log target %s unavailable: %v; %s", k.name, err, where)
}

// ok records a delivery; a target that has been error-free for its settle time
// is back, and that is said once.
func (k *sink) ok() {
	if k.up.Load() || time.Since(k.lastErr) < k.settle {
		return
	}
	k.up.Store(true)
	if k.announced {
		k.announced = false
		lost := k.failed.Load() + k.dropped.Load() - k.failedAtDown
		k.notice(logrus.InfoLevel, "log target %s is back after %s; %d records were not delivered to it meanwhile",
			k.name, time.Since(k.downSince).Round(time.Millisecond), lost)
	}
}

// sleep waits out a backoff. With a stderr fallback, what is pending and what
// arrives meanwhile goes to stderr; otherwise it stays queued for the next
// connection and the queue's bound drops the excess.
func (k *sink) sleep(d time.Duration, pending []*record) []*record {
	var q <-chan *record
	if k.fallback != nil {
		for _, r := range pending {
			k.toFallback(r)
		}
		pending = advance(pending, len(pending))
		q = k.queue
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return pending
		case <-k.stopc:
			return pending
		case r := <-q:
			k.toFallback(r)
		}
	}
}

func (k *sink) toFallback(r *record) {
	k.failed.Add(1)
	if !r.internal {
		k.fallback.enqueue(r)
	}
}

// flush delivers what is left at shutdown, until the stop deadline.
func (k *sink) flush(l *link, pending []*record) {
	defer func() {
		if l != nil {
			l.Close()
		}
	}()
	deadline := k.stopDeadline()
	for {
		pending = k.fill(pending)
		if len(pending) == 0 {
			return
		}
		if !time.Now().Before(deadline) {
			k.failed.Add(uint64(len(pending) + len(k.queue)))
			return
		}
		if l == nil {
			ctx, cancel := context.WithDeadline(context.Background(), earliest(deadline, time.Now().Add(k.opts.DialTimeout)))
			var err error
			l, err = k.dial(ctx)
			cancel()
			if err != nil {
				k.failed.Add(uint64(len(pending) + len(k.queue)))
				return
			}
		}
		n, err := k.write(l, pending, earliest(deadline, time.Now().Add(k.opts.WriteTimeout)))
		pending = advance(pending, n)
		if err != nil {
			k.failed.Add(uint64(len(pending) + len(k.queue)))
			return
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// write sends pending records and returns how many were delivered whole: on a
// stream, records wholly inside the bytes the kernel took count as sent, and
// the rest are retried on the next connection (a receiver may see a duplicate,
// never a gap); a datagram is all or nothing.
func (k *sink) write(l *link, pending []*record, deadline time.Time) (int, error) {
	if err := l.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	if !l.stream {
		for i, r := range pending {
			k.buf = k.encode(r, k.buf[:0])
			if _, err := l.Write(k.buf); err != nil {
				return i, err
			}
			k.sent.Add(1)
		}
		return len(pending), nil
	}
	k.buf, k.ends = k.buf[:0], k.ends[:0]
	for _, r := range pending {
		if len(k.buf) >= batchBytes {
			break
		}
		start := len(k.buf)
		if l.octets {
			// RFC 6587 §3.4.1 octet counting: "LEN SP MSG". Encode after a
			// reserved gap, then write the length in front.
			k.buf = append(k.buf, "          "...)
			k.buf = k.encode(r, k.buf)
			msgLen := len(k.buf) - start - 10
			head := strconv.AppendInt(nil, int64(msgLen), 10)
			head = append(head, ' ')
			off := start + 10 - len(head)
			copy(k.buf[off:], head)
			k.buf = append(k.buf[:start], k.buf[off:]...)
		} else {
			k.buf = k.encode(r, k.buf)
			k.buf = append(k.buf, '\n')
		}
		k.ends = append(k.ends, len(k.buf))
	}
	n, err := l.Write(k.buf)
	whole := 0
	for whole < len(k.ends) && k.ends[whole] <= n {
		whole++
	}
	k.sent.Add(uint64(whole))
	if err == nil && whole < len(k.ends) {
		err = io.ErrShortWrite
	}
	return whole, err
}
