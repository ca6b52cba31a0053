package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/logship"
	"github.com/hardend/hardend/internal/metrics"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/sdnotify"
	"github.com/sirupsen/logrus"
)

// Run runs the agent until ctx ends or SIGTERM/SIGINT arrives, and returns nil
// after a clean stop. It returns an error only when it cannot start: the
// policy, a log target or the metrics address is unusable, or a dependency is
// missing. Once running, nothing makes it exit: Docker going away is a
// degraded state, a bad policy on SIGHUP is logged and the old one kept.
func Run(ctx context.Context, cfg Config) error {
	a, err := newAgent(cfg)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

type agent struct {
	cfg    Config
	timing Timing
	log    *logrus.Logger
	notify Notifier
	fw     Firewall

	pol       atomic.Pointer[policy.Policy]
	polLoaded time.Time
	shipper   atomic.Pointer[logship.Shipper]

	metrics       *metrics.Metrics
	metricsCancel context.CancelFunc
	metricsDone   chan struct{}

	auditWork *work
	fwWork    *work         // reconcile now: the containers events named, or all (coalesced)
	fwReset   chan struct{} // remove hardend's rules (mode switched to report)
	states    chan dockerState
	scans     chan scanResult
	fwResults chan fwResult
	dockerUp  atomic.Bool
	auditBusy atomic.Int64 // unix nanos since a worker started its current job; 0 idle
	fwBusy    atomic.Int64

	// main loop only
	findings      *findings
	dockerKnown   bool
	dockerSince   time.Time // when Docker went down (or came up)
	dockerErr     error
	trustedDocker bool // a scan with Docker readable has been applied
	ready         bool
	lastScan      time.Time
	fwState       string // "", "ok", "error: ...", "drift repaired ..."
	fwErrStreak   string
	status        string
	stuckSaid     bool
}

type scanResult struct {
	kind string // "full" or "event"
	at   time.Time
	took time.Duration
	scan Scan
	err  error
}

type fwResult struct {
	op      string // "reconcile", "drift", "restore", "reset"
	at      time.Time
	took    time.Duration
	rec     Reconciled
	drift   DriftReport
	err     error
	skipped string // why nothing was done
}

func newAgent(cfg Config) (*agent, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LoadPolicy == nil {
		cfg.LoadPolicy = policy.Load
	}
	a := &agent{
		cfg:       cfg,
		timing:    cfg.Timing.withDefaults(),
		log:       logrus.New(),
		fw:        cfg.Firewall,
		metrics:   metrics.New(cfg.Version),
		auditWork: newWork(),
		fwWork:    newWork(),
		fwReset:   make(chan struct{}, 1),
		states:    make(chan dockerState, 16),
		scans:     make(chan scanResult, 1),
		fwResults: make(chan fwResult, 16),
		findings:  newFindings(),
	}
	pol, err := a.loadPolicy()
	if err != nil {
		return nil, err
	}
	sh, err := a.newShipper(pol.Log)
	if err != nil {
		return nil, err
	}
	a.installLogging(sh, pol.Log)
	a.pol.Store(pol)
	a.polLoaded = cfg.Now()
	a.metrics.SetLogStats(a.logStats)
	if err := a.startMetrics(pol.Metrics); err != nil {
		a.closeShipper(sh)
		return nil, err
	}
	if err := a.defaults(); err != nil {
		a.stopMetrics()
		a.closeShipper(sh)
		return nil, err
	}
	a.notify = cfg.Notifier
	if a.notify == nil {
		n, err := sdnotify.FromEnv(cfg.Getenv)
		if err != nil {
			a.log.WithError(err).Warn("systemd notifications disabled")
		}
		a.notify = n
	}
	return a, nil
}

// defaults fills in the real Docker client, auditor and firewall for those
// the caller left nil; they share one client.
func (a *agent) defaults() error {
	var client *containers.Client
	connect := func() (*containers.Client, error) {
		if client != nil {
			return client, nil
		}
		c, err := containers.Connect(containers.Options{Host: a.cfg.DockerHost, Root: a.cfg.Root, Timeout: a.cfg.DockerTimeout})
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		client = c
		return c, nil
	}
	if a.cfg.Docker == nil {
		c, err := connect()
		if err != nil {
			return err
		}
		a.cfg.Docker = c
	}
	if a.cfg.Auditor == nil {
		c, err := connect()
		if err != nil {
			return err
		}
		a.cfg.Auditor = NewAuditor(c, AuditorOptions{Root: a.cfg.Root, DockerHost: a.cfg.DockerHost,
			Timeout: a.cfg.DockerTimeout, Version: a.cfg.Version, IPTables: a.cfg.IPTables})
	}
	if a.fw == nil {
		c, err := connect()
		if err != nil {
			return err
		}
		fw := NewEnforcer(c, FirewallOptions{Root: a.cfg.Root, Timeout: a.cfg.DockerTimeout, IPTables: a.cfg.IPTables})
		if fp := a.cfg.Getenv(FailpointEnv); fp != "" {
			if err := fw.SetFailpoint(fp, a.cfg.Stderr); err != nil {
				return fmt.Errorf("agent: %s: %w", FailpointEnv, err)
			}
		}
		a.fw = fw
	}
	return nil
}

func (a *agent) loadPolicy() (*policy.Policy, error) {
	if a.cfg.PolicyFile == "" {
		return policy.Default(), nil
	}
	return a.cfg.LoadPolicy(a.cfg.PolicyFile)
}

func (a *agent) newShipper(l policy.Log) (*logship.Shipper, error) {
	opts := logship.Options{
		AppName: "hardend",
		Stderr:  a.cfg.Stderr,
		Dial:    a.cfg.LogDial,
	}
	if a.cfg.Stderr == os.Stderr {
		opts.Journal = logship.StderrIsJournal(a.cfg.Getenv, os.Stderr)
	}
	for _, t := range l.Targets {
		opts.Targets = append(opts.Targets, logship.Target{
			Type: t.Type, Address: t.Address, Facility: t.Facility, Format: t.Format,
			CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName,
			QueueSize: t.Queue,
		})
	}
	sh, err := logship.New(opts)
	if err != nil {
		return nil, fmt.Errorf("agent: log targets: %w", err)
	}
	return sh, nil
}

var logLevels = map[string]logrus.Level{
	"error": logrus.ErrorLevel, "warn": logrus.WarnLevel, "info": logrus.InfoLevel, "debug": logrus.DebugLevel,
}

// installLogging makes sh (and the test hook) the logger's outputs.
func (a *agent) installLogging(sh *logship.Shipper, l policy.Log) {
	hooks := []logrus.Hook{sh}
	if a.cfg.LogHook != nil {
		hooks = append(hooks, a.cfg.LogHook)
	}
	logship.Install(a.log, hooks...)
	if lvl, ok := logLevels[l.Level]; ok {
		a.log.SetLevel(lvl)
	}
	a.shipper.Store(sh)
}

func (a *agent) closeShipper(sh *logship.Shipper) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sh.Close(ctx)
}

func (a *agent) logStats() []metrics.LogTarget {
	sh := a.shipper.Load()
	if sh == nil {
		return nil
	}
	var out []metrics.LogTarget
	for _, s := range sh.Stats() {
		out = append(out, metrics.LogTarget{Target: s.Target, Sent: s.Sent, Dropped: s.Dropped, Failed: s.Failed, Up: s.Up})
	}
	return out
}

func (a *agent) startMetrics(m policy.Metrics) error {
	if m.Listen == "" {
		return nil
	}
	ln, err := metrics.Listen(m.Listen, m.AllowRemote)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	a.metricsCancel, a.metricsDone = cancel, done
	go func() {
		defer close(done)
		if err := a.metrics.Serve(ctx, ln); err != nil {
			a.log.WithError(err).Error("metrics endpoint stopped")
		}
	}()
	a.log.WithField("listen", ln.Addr().String()).Info("metrics endpoint listening")
	return nil
}

func (a *agent) stopMetrics() {
	if a.metricsCancel == nil {
		return
	}
	a.metricsCancel()
	<-a.metricsDone
	a.metricsCancel, a.metricsDone = nil, nil
}

func (a *agent) enforcing() bool { return a.pol.Load().Firewall.Mode == "enforce" }

func (a *agent) run(ctx context.Context) error {
	sigs := a.cfg.Signals
	if sigs == nil {
		c := make(chan os.Signal, 4)
		signal.Notify(c, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(c)
		sigs = c
	}
	pol := a.pol.Load()
	a.log.WithFields(logrus.Fields{"version": a.cfg.Version, "mode": pol.Firewall.Mode, "policy": a.policyName()}).Info("hardend agent starting")
	if pol.Firewall.Mode == "enforce" && a.fw == nil {
		a.log.Error("firewall.mode is enforce but no firewall backend is available: nothing will be enforced")
	}

	wctx, stopWorkers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	f := &follower{
		docker:  a.cfg.Docker,
		states:  a.states,
		onEvent: a.onEvent,
		backoff: func() (time.Duration, time.Duration) {
			p := a.pol.Load()
			return p.Agent.DockerBackoffMin, p.Agent.DockerBackoffMax
		},
		overlap:    a.timing.EventOverlap,
		health:     a.timing.HealthPing,
		pingTimout: a.timing.PingTimeout,
		now:        a.cfg.Now,
	}
	wg.Add(2)
	go func() { defer wg.Done(); f.run(wctx) }()
	go func() { defer wg.Done(); a.auditLoop(wctx) }()
	if a.fw != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.firewallLoop(wctx) }()
	}

	resync := time.NewTicker(pol.Agent.ResyncInterval)
	defer resync.Stop()
	var summaryC <-chan time.Time
	var summary *time.Ticker
	if pol.Agent.SummaryInterval > 0 {
		summary = time.NewTicker(pol.Agent.SummaryInterval)
		summaryC = summary.C
	}
	defer func() {
		if summary != nil {
			summary.Stop()
		}
	}()
	var watchdogC <-chan time.Time
	if wd, err := sdnotify.WatchdogInterval(a.cfg.Getenv, os.Getpid()); err == nil {
		t := time.NewTicker(wd / 2)
		defer t.Stop()
		watchdogC = t.C
		a.log.WithField("interval", wd.String()).Debug("systemd watchdog enabled")
	} else if !errors.Is(err, sdnotify.ErrNoWatchdog) {
		a.log.WithError(err).Warn("systemd watchdog ignored")
	}
	a.setStatus()

	for {
		select {
		case <-ctx.Done():
			return a.stop("context ended", stopWorkers, &wg)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				old := a.pol.Load()
				a.reload()
				if p := a.pol.Load(); p != old {
					resync.Reset(p.Agent.ResyncInterval)
					if summary != nil {
						summary.Stop()
						summary, summaryC = nil, nil
					}
					if p.Agent.SummaryInterval > 0 {
						summary = time.NewTicker(p.Agent.SummaryInterval)
						summaryC = summary.C
					}
				}
				continue
			}
			return a.stop("signal "+sig.String(), stopWorkers, &wg)
		case st := <-a.states:
			a.onDockerState(st)
		case res := <-a.scans:
			a.onScan(res)
		case res := <-a.fwResults:
			a.onFirewall(res)
		case <-resync.C:
			// While Docker is unavailable the audit still refreshes the host's
			// own checks; onScan keeps the Docker-backed findings as they were,
			// and the reconcile skips.
			a.log.Debug("periodic full resync")
			a.auditWork.add("", true)
			a.kickReconcile("", true)
		case <-summaryC:
			a.logSummary()
		case <-watchdogC:
			a.watchdog()
		}
	}
}

func (a *agent) policyName() string {
	if a.cfg.PolicyFile == "" {
		return "embedded default"
	}
	return a.cfg.PolicyFile
}

// onEvent runs on the follower's goroutine for each new relevant event: it
// asks for a reconcile at once (enforce mode) and an audit of what the event
// touched. It never blocks.
func (a *agent) onEvent(ev containers.Event, id string, full bool) {
	a.log.WithFields(logrus.Fields{"type": ev.Type, "action": ev.Action, "actor": shortID(ev.ID)}).Debug("docker event")
	a.kickReconcile(id, full)
	a.auditWork.add(id, full)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// kickReconcile asks the firewall worker for a reconcile of what id names
// (full: of everything). It never blocks; requests coalesce.
func (a *agent) kickReconcile(id string, full bool) {
	if a.fw == nil || !a.enforcing() {
		return
	}
	a.fwWork.add(id, full)
}

// --- workers ---

func (a *agent) auditLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.auditWork.kick:
		}
		if !sleep(ctx, a.timing.Debounce) {
			return
		}
		ids, full := a.auditWork.take()
		kind := "event"
		var hint []string
		if full {
			kind = "full"
		} else {
			hint = ids
			if hint == nil {
				hint = []string{}
			}
		}
		pol := a.pol.Load()
		start := a.cfg.Now()
		a.auditBusy.Store(start.UnixNano())
		scan, err := a.cfg.Auditor.Audit(ctx, pol, hint)
		a.auditBusy.Store(0)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			pol.Apply(scan.Results, scan.Containers, a.cfg.Now())
		}
		res := scanResult{kind: kind, at: a.cfg.Now(), took: a.cfg.Now().Sub(start), scan: scan, err: err}
		select {
		case a.scans <- res:
		case <-ctx.Done():
			return
		}
	}
}

func (a *agent) firewallLoop(ctx context.Context) {
	drift := time.NewTimer(a.pol.Load().Agent.DriftInterval)
	defer drift.Stop()
	// A failed reconcile is retried with backoff (the adapter then re-reads
	// what it could not read), so a transient failure — an inspect timing
	// out, the xtables lock held, Docker's chains not there yet at boot —
	// does not wait for the next event or the resync timer.
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var backoff time.Duration
	afterReconcile := func(err error) {
		if err == nil || errors.Is(err, ErrPermanent) {
			backoff = 0
			retry.Stop()
			return
		}
		p := a.pol.Load().Agent
		backoff = min(max(2*backoff, p.DockerBackoffMin), p.DockerBackoffMax)
		retry.Reset(backoff)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.fwReset:
			a.fwOp(ctx, "reset", func() fwResult { return fwResult{err: a.fw.Reset(ctx)} })
		case <-a.fwWork.kick:
			afterReconcile(a.reconcile(ctx))
		case <-retry.C:
			a.fwWork.add("", false)
		case <-drift.C:
			if err, reconciled := a.driftCheck(ctx); reconciled {
				afterReconcile(err)
			}
			drift.Reset(a.pol.Load().Agent.DriftInterval)
		}
	}
}

// reconcile runs one reconcile of what the events asked for; it returns the
// reconcile's error (nil when it succeeded or was skipped).
func (a *agent) reconcile(ctx context.Context) error {
	ids, full := a.fwWork.take()
	pol := a.pol.Load()
	if pol.Firewall.Mode != "enforce" {
		return nil
	}
	if !a.dockerUp.Load() {
		// What the events named is not lost: Docker's return brings a full
		// reconcile.
		a.send(ctx, fwResult{op: "reconcile", at: a.cfg.Now(), skipped: "Docker unavailable: rules kept as they are"})
		return nil
	}
	var hint []string
	if !full {
		hint = ids
		if hint == nil {
			hint = []string{}
		}
	}
	var err error
	a.fwOp(ctx, "reconcile", func() fwResult {
		var rec Reconciled
		rec, err = a.fw.Reconcile(ctx, pol, hint)
		return fwResult{rec: rec, err: err}
	})
	return err
}

// driftCheck runs the cheap drift check and repairs what it finds: with a
// reconcile while Docker answers (reconciled is then true and err its
// outcome), else by restoring the last plan.
func (a *agent) driftCheck(ctx context.Context) (err error, reconciled bool) {
	if !a.enforcing() {
		return nil, false
	}
	var rep DriftReport
	a.fwOp(ctx, "drift", func() fwResult {
		var err error
		rep, err = a.fw.Drift(ctx)
		return fwResult{drift: rep, err: err}
	})
	if !rep.Drifted {
		return nil, false
	}
	if a.dockerUp.Load() {
		// Whatever events are pending ride along; the adapter knows the
		// rules drifted and writes even when its plan is unchanged.
		return a.reconcile(ctx), true
	}
	a.fwOp(ctx, "restore", func() fwResult { return fwResult{err: a.fw.Restore(ctx)} })
	return nil, false
}

func (a *agent) fwOp(ctx context.Context, op string, f func() fwResult) {
	start := a.cfg.Now()
	a.fwBusy.Store(start.UnixNano())
	res := f()
	a.fwBusy.Store(0)
	if ctx.Err() != nil {
		return
	}
	res.op, res.at = op, a.cfg.Now()
	res.took = res.at.Sub(start)
	a.send(ctx, res)
}

func (a *agent) send(ctx context.Context, res fwResult) {
	select {
	case a.fwResults <- res:
	case <-ctx.Done():
	}
}

// --- main-loop handlers ---

func (a *agent) onDockerState(st dockerState) {
	wasKnown, wasUp := a.dockerKnown, a.dockerUp.Load()
	a.dockerKnown = true
	a.dockerUp.Store(st.up)
	a.metrics.SetDockerUp(st.up)
	switch {
	case st.up && !wasKnown:
		a.dockerSince, a.dockerErr = st.at, nil
		a.log.WithField("since", st.since.Format(time.RFC3339Nano)).Info("Docker available; subscribed to events, first audit")
	case st.up && !wasUp:
		a.log.WithField("down_for", st.at.Sub(a.dockerSince).Round(time.Millisecond).String()).
			Info("Docker available again; resubscribed to events, full resync")
		a.dockerSince, a.dockerErr = st.at, nil
	case st.up:
		a.log.WithError(st.err).WithField("since", st.since.Format(time.RFC3339Nano)).
			Warn("Docker event stream ended; resubscribed with overlap, full resync")
	case !wasKnown:
		a.dockerSince, a.dockerErr = st.at, st.err
		a.log.WithError(st.err).Warn("Docker unavailable at start: waiting for it (daemon and container checks undecided; firewall rules left as they are)")
	case wasUp:
		a.dockerSince, a.dockerErr = st.at, st.err
		a.log.WithError(st.err).Warn("Docker unavailable: degraded (findings stale, firewall rules kept as they are); retrying with backoff")
	}
	// Up (first, again, or a new stream): everything is re-read. Down at start:
	// the first audit still runs, so the host's own checks are reported.
	if st.up || !wasKnown {
		a.auditWork.add("", true)
	}
	if st.up {
		a.kickReconcile("", true)
	}
	a.setStatus()
}

func (a *agent) onScan(res scanResult) {
	a.metrics.ScanDone(res.kind, res.at, res.took, res.err)
	if res.err != nil {
		a.log.WithError(res.err).Error("audit failed; findings unchanged")
		if !a.ready {
			a.becomeReady()
		}
		return
	}
	trusted := func(string) bool { return true }
	if res.scan.DockerErr != nil {
		if a.trustedDocker {
			// Keep what Docker-backed checks said last; only the host's own
			// areas are current.
			trusted = func(area string) bool { return area == "virt" || area == "kernel" }
		}
		a.log.WithError(res.scan.DockerErr).Debug("audit could not read Docker")
	} else {
		a.trustedDocker = true
	}
	a.lastScan = res.at
	for _, c := range a.findings.update(res.scan.Results, res.at, trusted) {
		a.logChange(c)
	}
	fk := map[metrics.FindingKey]int{}
	for _, f := range a.findings.active {
		if f.result.Status == check.Fail {
			fk[metrics.FindingKey{Check: f.result.ID, Severity: f.result.Severity.String()}]++
		}
	}
	a.metrics.SetFindings(fk)
	a.log.WithFields(logrus.Fields{"kind": res.kind, "took": res.took.Round(time.Millisecond).String(), "results": len(res.scan.Results)}).Debug("audit done")
	if !a.ready {
		a.becomeReady()
		return
	}
	a.setStatus()
}

func (a *agent) becomeReady() {
	a.ready = true
	st := a.statusLine()
	if err := a.notify.Ready(st); err != nil {
		a.log.WithError(err).Warn("sd_notify READY failed")
	}
	a.status = st
	a.log.WithField(logship.FieldMsgID, "ready").Info("first audit done: " + a.findings.counts().String())
}

func (a *agent) logChange(c change) {
	r := c.result
	fields := logrus.Fields{
		logship.FieldCheck: r.ID,
		"severity":         r.Severity.String(),
		"status":           string(r.Status),
		"kind":             r.Subject.Kind,
	}
	subject := r.Subject.Name
	if subject == "" {
		subject = r.Subject.ID
	}
	switch r.Subject.Kind {
	case check.KindContainer:
		fields["container"] = r.Subject.Name
		fields["container_id"] = r.Subject.ID
	case check.KindPort:
		// A port subject is named "<container> <addr:port/proto> (<family>)"
		// and identified "<short ID>/<binding>/...": the container gets its
		// own field, as for container findings, so collectors filter on it.
		fields["port"] = r.Subject.Name
		if name, port, ok := strings.Cut(r.Subject.Name, " "); ok && name != "" {
			fields["container"], fields["port"] = name, port
		}
		if r.Subject.ID != "" {
			fields["subject_id"] = r.Subject.ID
			if id, _, ok := strings.Cut(r.Subject.ID, "/"); ok {
				fields["container_id"] = id
			}
		}
	default:
		if subject != "" {
			fields["subject"] = subject
		}
	}
	what := r.Title
	if subject != "" {
		what += ": " + subject
	}
	e := a.log.WithFields(fields)
	switch c.kind {
	case appeared:
		if r.Status == check.Error {
			e.WithField(logship.FieldMsgID, "undecided").Warn("check undecided: " + what + " — " + r.Evidence)
			return
		}
		if r.Remediation != "" {
			e = e.WithField("remediation", r.Remediation)
		}
		e = e.WithField(logship.FieldMsgID, "finding")
		msg := "finding: " + what + " — " + r.Evidence
		switch {
		case r.Severity >= check.Critical:
			e.Error(msg)
		case r.Severity >= check.High:
			e.Warn(msg)
		default:
			e.Info(msg)
		}
	case changed:
		e.WithFields(logrus.Fields{logship.FieldMsgID: "changed", "was": string(c.prev)}).
			Warn(fmt.Sprintf("finding now %s: %s — %s", r.Status, what, r.Evidence))
	case cleared:
		e.WithFields(logrus.Fields{logship.FieldMsgID: "cleared", "lasted": c.lasted.Round(time.Second).String()}).
			Info(fmt.Sprintf("cleared after %s (%s): %s", c.lasted.Round(time.Second), c.reason, what))
	}
}

func (a *agent) onFirewall(res fwResult) {
	e := a.log.WithField(logship.FieldMsgID, "firewall")
	switch {
	case res.skipped != "":
		e.Debug("firewall " + res.op + " skipped: " + res.skipped)
		return
	case res.op == "drift" && res.err == nil && res.drift.Drifted:
		a.metrics.DriftRepaired()
		e.WithField("reason", res.drift.Reason).Warn("firewall drift: hardend's rules were changed behind its back; repairing")
		a.fwState = "drift repaired at " + res.at.Format(time.TimeOnly)
	case res.op == "drift" && res.err == nil:
		return
	case res.err != nil:
		if res.op == "reconcile" || res.op == "restore" {
			a.metrics.ReconcileDone(res.err)
		}
		if msg := res.err.Error(); msg != a.fwErrStreak {
			a.fwErrStreak = msg
			e.WithError(res.err).Error("firewall " + res.op + " failed")
		}
		a.fwState = "error: " + res.err.Error()
	default:
		if res.op == "reconcile" || res.op == "restore" {
			a.metrics.ReconcileDone(nil)
		}
		if a.fwErrStreak != "" {
			a.fwErrStreak = ""
			e.Info("firewall " + res.op + " succeeded again")
		}
		switch {
		case res.op == "reset":
			e.Info("firewall: hardend's rules removed")
			a.fwState = ""
		case res.op == "restore":
			e.Info("firewall: last plan re-applied while Docker is unavailable")
			a.fwState = "restored at " + res.at.Format(time.TimeOnly)
		case res.rec.Changed > 0:
			e.WithFields(logrus.Fields{"changed": res.rec.Changed, "took": res.took.Round(time.Millisecond).String(),
				"read": res.rec.Read.Round(time.Millisecond).String(), "write": res.rec.Write.Round(time.Millisecond).String()}).
				Info("firewall reconciled: " + res.rec.Summary)
			a.fwState = "ok"
			// The exposure checks (HD-NET-*) of an audit that read the rules
			// before this write would report what was just closed: audit
			// again (coalesced with a pending event audit).
			a.auditWork.add("", false)
		default:
			a.fwState = "ok"
		}
	}
	a.setStatus()
}

// reload re-reads the policy on SIGHUP. Everything that can fail (the file,
// its log targets, its metrics address) is tried before anything is switched,
// so a bad policy changes nothing.
func (a *agent) reload() {
	if err := a.notify.Reloading(); err != nil {
		a.log.WithError(err).Debug("sd_notify RELOADING failed")
	}
	defer func() {
		if err := a.notify.Ready(a.statusLine()); err != nil {
			a.log.WithError(err).Debug("sd_notify READY failed")
		}
	}()
	old := a.pol.Load()
	pol, err := a.loadPolicy()
	if err != nil {
		a.log.WithError(err).WithField(logship.FieldMsgID, "reload").
			Error(fmt.Sprintf("policy reload rejected; keeping the policy loaded at %s", a.polLoaded.Format(time.RFC3339)))
		return
	}
	var newSh *logship.Shipper
	if !reflect.DeepEqual(pol.Log, old.Log) {
		newSh, err = a.newShipper(pol.Log)
		if err != nil {
			a.log.WithError(err).WithField(logship.FieldMsgID, "reload").Error("policy reload rejected; keeping the old policy")
			return
		}
	}
	if pol.Metrics != old.Metrics {
		if err := metrics.CheckAddress(pol.Metrics.Listen, pol.Metrics.AllowRemote); pol.Metrics.Listen != "" && err != nil {
			if newSh != nil {
				a.closeShipper(newSh)
			}
			a.log.WithError(err).WithField(logship.FieldMsgID, "reload").Error("policy reload rejected; keeping the old policy")
			return
		}
		a.stopMetrics()
		if err := a.startMetrics(pol.Metrics); err != nil {
			a.log.WithError(err).Error("metrics endpoint not restarted")
		}
	}
	if newSh != nil {
		oldSh := a.shipper.Load()
		a.installLogging(newSh, pol.Log)
		go a.closeShipper(oldSh)
	} else if lvl, ok := logLevels[pol.Log.Level]; ok {
		a.log.SetLevel(lvl)
	}
	a.pol.Store(pol)
	a.polLoaded = a.cfg.Now()
	a.log.WithFields(logrus.Fields{logship.FieldMsgID: "reload", "mode": pol.Firewall.Mode, "policy": a.policyName()}).Info("policy reloaded")
	switch {
	case old.Firewall.Mode == "enforce" && pol.Firewall.Mode != "enforce" && a.fw != nil:
		a.log.Warn("firewall.mode is no longer enforce: removing hardend's rules")
		select {
		case a.fwReset <- struct{}{}:
		default:
		}
	case pol.Firewall.Mode == "enforce" && a.fw == nil:
		a.log.Error("firewall.mode is enforce but no firewall backend is available: nothing will be enforced")
	}
	a.auditWork.add("", true)
	a.kickReconcile("", false)
}

func (a *agent) watchdog() {
	now := a.cfg.Now()
	for _, w := range []struct {
		name string
		busy *atomic.Int64
	}{{"audit", &a.auditBusy}, {"firewall", &a.fwBusy}} {
		if b := w.busy.Load(); b != 0 && now.Sub(time.Unix(0, b)) > a.timing.StuckAfter {
			if !a.stuckSaid {
				a.stuckSaid = true
				a.log.WithField("busy_for", now.Sub(time.Unix(0, b)).Round(time.Second).String()).
					Error("the " + w.name + " worker is stuck; no more watchdog pings, so systemd restarts hardend")
			}
			return
		}
	}
	a.stuckSaid = false
	if err := a.notify.Watchdog(); err != nil {
		a.log.WithError(err).Debug("sd_notify WATCHDOG failed")
	}
}

func (a *agent) stop(reason string, stopWorkers context.CancelFunc, wg *sync.WaitGroup) error {
	if err := a.notify.Stopping(); err != nil {
		a.log.WithError(err).Debug("sd_notify STOPPING failed")
	}
	a.log.WithField("reason", reason).Info("hardend agent stopping")
	stopWorkers()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(a.timing.StopTimeout):
		a.log.Warn("work still running at shutdown; leaving it")
	}
	pol := a.pol.Load()
	switch {
	case a.fw == nil:
	case pol.Agent.OnStop == "reset":
		ctx, cancel := context.WithTimeout(context.Background(), a.timing.StopTimeout)
		err := a.fw.Reset(ctx)
		cancel()
		if err != nil {
			a.log.WithError(err).Error("firewall reset at stop failed (agent.on_stop: reset)")
		} else {
			a.log.Info("firewall: hardend's rules removed (agent.on_stop: reset)")
		}
	case pol.Firewall.Mode == "enforce":
		a.log.Info("firewall rules left in place (agent.on_stop: keep)")
	}
	a.stopMetrics()
	a.log.Info("hardend agent stopped")
	a.closeShipper(a.shipper.Load())
	return nil
}
