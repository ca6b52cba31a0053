package agent

import (
	"context"
	"io"
	"net"
	"os"
	"time"

	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/policy"
	"github.com/sirupsen/logrus"
)

// Config is what Run needs. cmd/hardend sets the first group and the
// dependencies; the rest exists for tests and has production defaults.
type Config struct {
	// PolicyFile is the policy to load (root-owned, as for --check); "" means
	// the embedded default. SIGHUP reloads it.
	PolicyFile string
	// Root is the host root the checks read (/ or /host); DockerHost the
	// DOCKER_HOST value. Both go to the default Docker client.
	Root       string
	DockerHost string
	// DockerTimeout is the deadline of every Docker API call (0 =
	// containers.DefaultTimeout).
	DockerTimeout time.Duration
	// Version is reported in logs and metrics.
	Version string

	// Docker, Auditor and Firewall default to the real ones, sharing one
	// containers.Client for DockerHost: the Docker client itself, an Auditor
	// running internal/audit (NewAuditor) and a Firewall over
	// internal/firewall (NewEnforcer). Tests pass fakes.
	Docker   Docker
	Auditor  Auditor
	Firewall Firewall
	// IPTables configures the iptables programs the default Auditor and
	// Firewall run (its Variant is ignored: detected); the zero value is this
	// host's. Tests set Netns.
	IPTables firewall.Config

	// Notifier defaults to sd_notify on $NOTIFY_SOCKET.
	Notifier Notifier
	// Getenv defaults to os.Getenv (NOTIFY_SOCKET, WATCHDOG_USEC,
	// JOURNAL_STREAM).
	Getenv func(string) string
	// Signals defaults to SIGHUP, SIGTERM and SIGINT of this process.
	Signals <-chan os.Signal
	// Stderr defaults to os.Stderr: the journal under systemd.
	Stderr io.Writer
	// LogHook, if set, sees every log record besides the policy's targets; it
	// must not block (tests capture records with it).
	LogHook logrus.Hook
	// LogDial opens syslog connections (tests dial inside a namespace).
	LogDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// LoadPolicy defaults to policy.Load.
	LoadPolicy func(file string) (*policy.Policy, error)
	// Now defaults to time.Now.
	Now func() time.Time
	// Timing defaults to DefaultTiming.
	Timing Timing
}

// Timing holds the agent's internal delays, which policy does not expose.
type Timing struct {
	// Debounce is how long an audit waits after the first event of a burst,
	// so the burst becomes one audit. Firewall reconciles never wait.
	Debounce time.Duration
	// EventOverlap is how far before the last seen event a new subscription
	// replays from; replays are recognized and dropped.
	EventOverlap time.Duration
	// HealthPing is how often Docker is pinged while the event stream is
	// quiet, so a frozen daemon (SIGSTOP, a hung API) is noticed within
	// HealthPing+PingTimeout; PingTimeout bounds each ping.
	HealthPing, PingTimeout time.Duration
	// StopTimeout bounds the wait for running work at shutdown.
	StopTimeout time.Duration
	// StuckAfter: a worker busy longer than this stops the watchdog pings,
	// so systemd restarts a hung agent (at least twice the watchdog timeout).
	StuckAfter time.Duration
}

// DefaultTiming is the production timing.
var DefaultTiming = Timing{
	Debounce:     100 * time.Millisecond,
	EventOverlap: 5 * time.Second,
	HealthPing:   5 * time.Second,
	PingTimeout:  3 * time.Second,
	StopTimeout:  10 * time.Second,
	StuckAfter:   2 * time.Minute,
}

func (t Timing) withDefaults() Timing {
	d := DefaultTiming
	if t.Debounce > 0 {
		d.Debounce = t.Debounce
	}
	if t.EventOverlap > 0 {
		d.EventOverlap = t.EventOverlap
	}
	if t.HealthPing > 0 {
		d.HealthPing = t.HealthPing
	}
	if t.PingTimeout > 0 {
		d.PingTimeout = t.PingTimeout
	}
	if t.StopTimeout > 0 {
		d.StopTimeout = t.StopTimeout
	}
	if t.StuckAfter > 0 {
		d.StuckAfter = t.StuckAfter
	}
	return d
}

// AuditFunc adapts a function to Auditor.
type AuditFunc func(ctx context.Context, pol *policy.Policy, changed []string) (Scan, error)

// Audit calls f.
func (f AuditFunc) Audit(ctx context.Context, pol *policy.Policy, changed []string) (Scan, error) {
	return f(ctx, pol, changed)
}
