package logship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
)

// Target types.
const (
	TypeStderr = "stderr"
	TypeLocal  = "local"
	TypeUDP    = "udp"
	TypeTCP    = "tcp"
	TypeTLS    = "tls"
)

// Formats.
const (
	FormatText    = "text"    // stderr: logrus text, one line per record
	FormatJSON    = "json"    // stderr: one JSON object per line
	FormatRFC5424 = "rfc5424" // syslog targets: RFC 5424 with structured data
	FormatRFC3164 = "rfc3164" // syslog targets: BSD syslog, structured data in MSG
)

// DefaultLocalSocket is the local syslog socket.
const DefaultLocalSocket = "/dev/log"

// Target is one place records go. The zero value of every optional field means
// its default.
type Target struct {
	Type     string // stderr | local | udp | tcp | tls
	Address  string // host:port for udp/tcp/tls; a socket path for local (default /dev/log)
	Facility string // syslog facility name; default daemon
	// Format: text (default) or json for stderr; rfc5424 (default for udp, tcp,
	// tls) or rfc3164 (default for local) for syslog targets.
	Format string
	// TLS: CAFile is a PEM bundle to verify the server with (default: the system
	// roots); ServerName is the name to verify (default: the host of Address);
	// CertFile and KeyFile are an optional client certificate.
	CAFile, CertFile, KeyFile, ServerName string
	// QueueSize bounds the records waiting for this target (default 1024).
	QueueSize int
}

// Options configure a Shipper.
type Options struct {
	Targets []Target
	// AppName is the RFC 5424 APP-NAME (default "hardend"); Hostname the
	// HOSTNAME (default os.Hostname); ProcID the PROCID (default the pid).
	AppName, Hostname, ProcID string
	// Stderr is where the stderr target and the fallback write (default
	// os.Stderr).
	Stderr io.Writer
	// Journal prefixes stderr lines with "<N>" priorities, which journald turns
	// into the entry's priority (sd-daemon(3)). Use StderrIsJournal to decide.
	Journal bool
	// Dial opens network and socket connections (default net.Dialer). Tests
	// use it to dial from inside a network namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTimeout, WriteTimeout bound each connection attempt and each write
	// (default 5 s each); BackoffMin and BackoffMax bound the wait between
	// reconnection attempts (default 250 ms and 30 s).
	DialTimeout, WriteTimeout time.Duration
	BackoffMin, BackoffMax    time.Duration
}

// Stats are one target's counters since the Shipper started.
type Stats struct {
	Target string // "tcp://127.0.0.1:514", "local:///dev/log", "stderr"
	// Sent counts records delivered (written to the socket or stderr).
	Sent uint64
	// Dropped counts records lost because the target's queue was full.
	Dropped uint64
	// Failed counts records taken from the queue but not delivered: a write
	// error, or shutdown before delivery. Records handed to the stderr fallback
	// while the target was down count here too (they are in the journal).
	Failed uint64
	// Reconnects counts connections opened after the first.
	Reconnects uint64
	// Queued is the number of records waiting now.
	Queued int
	// Up is false while the target is known to be unreachable.
	Up bool
}

// Shipper is a logrus hook fanning records out to its targets. It never blocks
// the logging goroutine.
type Shipper struct {
	sinks  []*sink
	stderr *sink // the stderr target, or the fallback-only stderr writer
	ownErr bool  // stderr is not a configured target, only the fallback
}

// New validates the targets and starts one goroutine per target. The caller
// must Close it.
func New(opts Options) (*Shipper, error) {
	if opts.AppName == "" {
		opts.AppName = "hardend"
	}
	if opts.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			opts.Hostname = h
		}
	}
	if opts.ProcID == "" {
		opts.ProcID = strconv.Itoa(os.Getpid())
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 5 * time.Second
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 250 * time.Millisecond
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = max(30*time.Second, opts.BackoffMin)
	}

	s := &Shipper{}
	var errs []error
	var specs []Target
	for i, t := range opts.Targets {
		if err := t.validate(); err != nil {
			errs = append(errs, fmt.Errorf("log target %d: %w", i, err))
			continue
		}
		if t.Type == TypeStderr {
			if s.stderr != nil {
				errs = append(errs, fmt.Errorf("log target %d: stderr listed twice", i))
				continue
			}
			s.stderr = newStderrSink(t, opts)
			continue
		}
		specs = append(specs, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if s.stderr == nil {
		s.stderr = newStderrSink(Target{Type: TypeStderr}, opts)
		s.ownErr = true
	}
	for _, t := range specs {
		k, err := newSyslogSink(t, opts, s.stderr, s.ownErr)
		if err != nil {
			return nil, err
		}
		s.sinks = append(s.sinks, k)
	}
	if !s.ownErr {
		s.sinks = append([]*sink{s.stderr}, s.sinks...)
	}
	go s.stderr.run()
	for _, k := range s.sinks {
		if k != s.stderr {
			go k.run()
		}
	}
	return s, nil
}

func (t Target) validate() error {
	switch t.Type {
	case TypeStderr:
		switch t.Format {
		case "", FormatText, FormatJSON:
		default:
			return fmt.Errorf("stderr: format %q: want text or json", t.Format)
		}
	case TypeLocal, TypeUDP, TypeTCP, TypeTLS:
		switch t.Format {
		case "", FormatRFC5424, FormatRFC3164:
		default:
			return fmt.Errorf("%s: format %q: want rfc5424 or rfc3164", t.Type, t.Format)
		}
		if _, err := ParseFacility(t.Facility); err != nil {
			return fmt.Errorf("%s: %w", t.Type, err)
		}
		if t.Type == TypeLocal {
			break
		}
		if _, _, err := net.SplitHostPort(t.Address); err != nil {
			return fmt.Errorf("%s: address %q: want host:port: %w", t.Type, t.Address, err)
		}
	default:
		return fmt.Errorf("type %q: want stderr, local, udp, tcp or tls", t.Type)
	}
	if t.Type != TypeTLS && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "") {
		return fmt.Errorf("%s: ca_file, cert_file, key_file and server_name only apply to tls", t.Type)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fmt.Errorf("tls: cert_file and key_file go together")
	}
	if t.QueueSize < 0 {
		return fmt.Errorf("%s: queue size %d is negative", t.Type, t.QueueSize)
	}
	return nil
}

// Levels makes the Shipper a hook for every level; the logger's own level
// decides what reaches it.
func (s *Shipper) Levels() []logrus.Level { return logrus.AllLevels }

// Fire copies the entry and offers it to every target's queue without waiting.
func (s *Shipper) Fire(e *logrus.Entry) error {
	r := newRecord(e)
	for _, k := range s.sinks {
		k.enqueue(r)
	}
	return nil
}

// NewLogger returns a logger whose only output is this Shipper, at level Info.
func (s *Shipper) NewLogger() *logrus.Logger {
	l := logrus.New()
	Install(l, s)
	return l
}

// Install makes hooks (normally one Shipper) the only output of l, replacing
// its hooks: the logger's own writer is discarded without formatting, so a log
// call costs the caller a copy of the entry and a queue offer per target. A
// running agent calls it again to switch to a new Shipper after a reload.
func Install(l *logrus.Logger, hooks ...logrus.Hook) {
	l.SetOutput(io.Discard)
	l.SetFormatter(discardFormatter{})
	lh := make(logrus.LevelHooks)
	for _, h := range hooks {
		lh.Add(h)
	}
	l.ReplaceHooks(lh)
}

// discardFormatter skips formatting for the logger's own (discarded) output: the
// sinks format in their goroutines, off the caller's path.
type discardFormatter struct{}

func (discardFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

// Stats returns every configured target's counters, in configuration order
// (stderr first when configured).
func (s *Shipper) Stats() []Stats {
	out := make([]Stats, 0, len(s.sinks))
	for _, k := range s.sinks {
		out = append(out, k.stats())
	}
	return out
}

// Close stops accepting records and delivers what is queued until ctx ends;
// then it closes every connection. Records still queued then count as failed.
func (s *Shipper) Close(ctx context.Context) error {
	for _, k := range s.sinks {
		if k != s.stderr {
			k.stop(ctx)
		}
	}
	var err error
	for _, k := range s.sinks {
		if k != s.stderr {
			err = errors.Join(err, k.wait(ctx))
		}
	}
	// stderr last: syslog targets may still have handed it fallback records.
	s.stderr.stop(ctx)
	return errors.Join(err, s.stderr.wait(ctx))
}
