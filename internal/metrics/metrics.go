package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FindingKey labels the findings gauge.
type FindingKey struct{ Check, Severity string }

// LogTarget is one log target's counters (from logship.Stats).
type LogTarget struct {
	Target                string
	Sent, Dropped, Failed uint64
	Up                    bool
}

// Metrics holds the agent's state for the exposition. All methods are safe for
// concurrent use; the zero value is not: use New.
type Metrics struct {
	mu               sync.Mutex
	version          string
	findings         map[FindingKey]int
	lastScan         time.Time
	lastScanDuration time.Duration
	scans            map[string]uint64
	scanErrors       uint64
	reconciles       uint64
	reconcileErrors  uint64
	driftRepairs     uint64
	dockerUp         bool
	logStats         func() []LogTarget
}

// New returns empty metrics for this hardend version.
func New(version string) *Metrics {
	return &Metrics{version: version, findings: map[FindingKey]int{}, scans: map[string]uint64{}}
}

// SetFindings replaces the current findings counts. A check and severity that
// had findings and has none now stays in the exposition as 0, so its series
// does not just vanish.
func (m *Metrics) SetFindings(counts map[FindingKey]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.findings {
		m.findings[k] = 0
	}
	maps.Copy(m.findings, counts)
}

// ScanDone records an audit: kind is "full" or "event"; a failed scan counts as
// an error and leaves the last-scan time alone.
func (m *Metrics) ScanDone(kind string, at time.Time, took time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scans[kind]++
	if err != nil {
		m.scanErrors++
		return
	}
	m.lastScan, m.lastScanDuration = at, took
}

// ReconcileDone records a firewall reconcile.
func (m *Metrics) ReconcileDone(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reconciles++
	if err != nil {
		m.reconcileErrors++
	}
}

// DriftRepaired counts a drift of hardend's rules that was detected (and
// repaired by the reconcile that follows).
func (m *Metrics) DriftRepaired() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.driftRepairs++
}

// SetDockerUp records whether the Docker API answers.
func (m *Metrics) SetDockerUp(up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dockerUp = up
}

// SetLogStats sets where log target counters come from; it is called at every
// scrape.
func (m *Metrics) SetLogStats(f func() []LogTarget) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logStats = f
}

// WriteTo writes the exposition.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	m.mu.Lock()
	logStats := m.logStats
	family(&b, "hardend_build_info", "gauge", "hardend's version; always 1.")
	sample(&b, "hardend_build_info", 1, "version", m.version)

	family(&b, "hardend_findings", "gauge", "Failed checks now (exempted failures not counted), by check ID and severity.")
	keys := slices.SortedFunc(maps.Keys(m.findings), func(a, b FindingKey) int {
		if c := strings.Compare(a.Check, b.Check); c != 0 {
			return c
		}
		return strings.Compare(a.Severity, b.Severity)
	})
	for _, k := range keys {
		sample(&b, "hardend_findings", float64(m.findings[k]), "check", k.Check, "severity", k.Severity)
	}

	family(&b, "hardend_last_scan_timestamp_seconds", "gauge", "When the last successful audit finished (Unix time); 0 before the first.")
	sample(&b, "hardend_last_scan_timestamp_seconds", unixSeconds(m.lastScan))
	family(&b, "hardend_last_scan_duration_seconds", "gauge", "How long the last successful audit took.")
	sample(&b, "hardend_last_scan_duration_seconds", m.lastScanDuration.Seconds())
	family(&b, "hardend_scans_total", "counter", "Audits run, by kind: full (start, timer, Docker's return) or event.")
	for _, kind := range slices.Sorted(maps.Keys(m.scans)) {
		sample(&b, "hardend_scans_total", float64(m.scans[kind]), "kind", kind)
	}
	family(&b, "hardend_scan_errors_total", "counter", "Audits that failed as a whole.")
	sample(&b, "hardend_scan_errors_total", float64(m.scanErrors))

	family(&b, "hardend_reconciles_total", "counter", "Firewall reconciles run (enforce mode).")
	sample(&b, "hardend_reconciles_total", float64(m.reconciles))
	family(&b, "hardend_reconcile_errors_total", "counter", "Firewall reconciles that failed.")
	sample(&b, "hardend_reconcile_errors_total", float64(m.reconcileErrors))
	family(&b, "hardend_firewall_drift_total", "counter", "Drifts of hardend's own rules detected (flush, reload, dockerd restart).")
	sample(&b, "hardend_firewall_drift_total", float64(m.driftRepairs))

	family(&b, "hardend_docker_up", "gauge", "1 when the Docker API answers, 0 while hardend is degraded.")
	sample(&b, "hardend_docker_up", boolFloat(m.dockerUp))
	m.mu.Unlock()

	if logStats != nil {
		stats := logStats()
		family(&b, "hardend_log_messages_sent_total", "counter", "Log records delivered, by target.")
		for _, s := range stats {
			sample(&b, "hardend_log_messages_sent_total", float64(s.Sent), "target", s.Target)
		}
		family(&b, "hardend_log_messages_dropped_total", "counter",
			"Log records a target did not get, by target and reason: queue_full (dropped at once) or undelivered (write failed, shutdown, or sent to the stderr fallback).")
		for _, s := range stats {
			sample(&b, "hardend_log_messages_dropped_total", float64(s.Dropped), "target", s.Target, "reason", "queue_full")
			sample(&b, "hardend_log_messages_dropped_total", float64(s.Failed), "target", s.Target, "reason", "undelivered")
		}
		family(&b, "hardend_log_target_up", "gauge", "1 unless the log target is known to be unreachable.")
		for _, s := range stats {
			sample(&b, "hardend_log_target_up", boolFloat(s.Up), "target", s.Target)
		}
	}
	return b.WriteTo(w)
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func boolFloat(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

func family(b *bytes.Buffer, name, typ, help string) {
	b.WriteString("# HELP ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(helpEscaper.Replace(help))
	b.WriteString("\n# TYPE ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(typ)
	b.WriteByte('\n')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// sample writes `name{k="v",...} value`; labels are name/value pairs.
func sample(b *bytes.Buffer, name string, v float64, labels ...string) {
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(labelEscaper.Replace(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	b.WriteByte('\n')
}

// ServeHTTP serves the exposition at /metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.WriteTo(w)
}

// ErrNotLoopback refuses an address other hosts could scrape.
var ErrNotLoopback = errors.New("not a loopback address")

// CheckAddress accepts host:port on a loopback address (127.0.0.0/8, ::1,
// "localhost"); any other address only with allowRemote. An empty host means
// every interface, which is not loopback.
func CheckAddress(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("metrics address %q: want host:port: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("metrics address %q: bad port", addr)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("metrics address %q: %w (findings would be readable from other hosts; set metrics.allow_remote: true to mean it)", addr, ErrNotLoopback)
	}
	return nil
}

// Listen checks addr with CheckAddress and listens on it.
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	if err := CheckAddress(addr, allowRemote); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves the exposition on ln until ctx ends.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           m,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
		<-errc
		return nil
	}
}
