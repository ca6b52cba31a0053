package agent

import (
	"context"
	"time"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/sdnotify"
)

// Docker is what the agent needs of the Engine API; *containers.Client has it.
type Docker interface {
	// Ping checks the daemon answers, under a deadline.
	Ping(ctx context.Context) error
	// Events streams the events that can change exposure, replaying those at
	// or after since (the daemon keeps its recent ones). The error channel
	// gets one error when the stream ends (ctx.Err() on cancellation). The
	// subscription may become live after Events returns: the agent always
	// passes a since from before its own list, so nothing falls in between.
	Events(ctx context.Context, since time.Time) (<-chan containers.Event, <-chan error)
}

// Auditor runs hardend's checks once (internal/audit, the same run as
// --check).
type Auditor interface {
	// Audit returns the complete current results. changed lists the containers
	// (full IDs) that events said changed since the previous call, so an
	// auditor may reuse earlier results for the others; nil asks for a full
	// re-read of everything. The agent applies the policy's severities and
	// exemptions to the results itself (Scan.Containers feeds the selectors).
	Audit(ctx context.Context, pol *policy.Policy, changed []string) (Scan, error)
}

// Scan is one audit's outcome.
type Scan struct {
	Results []check.Result
	// Containers maps container subject IDs to what policy selectors match on.
	Containers map[string]policy.ContainerInfo
	// DockerErr is set when Docker could not be read during the scan (down,
	// frozen, gone mid-scan): results of the daemon, containers and network
	// areas are then not trusted, and the agent keeps its earlier state for
	// them instead of "clearing" every container finding.
	DockerErr error
}

// Firewall is what the agent needs of hardend's firewall remediation
// (internal/firewall behind an adapter that gathers the workloads from
// Docker). Every method is idempotent; the agent never calls two at once.
type Firewall interface {
	// Reconcile brings hardend's own chains in line with the policy and the
	// containers running now, adopting rules a previous run left, and reports
	// what it changed. changed lists the containers (full IDs) that events
	// said changed since the previous call, so the adapter re-reads only
	// those; nil asks for a full re-read of every container (at start, after
	// a reconnect, on the resync timer). An empty, non-nil changed re-plans
	// from what the adapter already knows (a policy reload, a retry).
	Reconcile(ctx context.Context, pol *policy.Policy, changed []string) (Reconciled, error)
	// Drift is the cheap check (hardend's chain, its jump and its position,
	// no Docker call) run every drift interval.
	Drift(ctx context.Context) (DriftReport, error)
	// Restore re-applies the last plan Reconcile applied without asking
	// Docker: the repair of a drift while Docker is unavailable.
	Restore(ctx context.Context) error
	// Reset removes every rule hardend added, and nothing else.
	Reset(ctx context.Context) error
}

// Reconciled says what a reconcile did.
type Reconciled struct {
	Changed int    // rules added or removed; 0 when everything was in place
	Summary string // one line for the log, e.g. "+2 -0 rules: 8080/tcp of db dropped"
	// Read and Write split the time it took: reading Docker, and planning
	// plus writing and verifying the rules.
	Read, Write time.Duration
}

// DriftReport is the outcome of a drift check.
type DriftReport struct {
	Drifted bool
	Reason  string // what is missing or out of place, e.g. "jump from DOCKER-USER missing"
}

// Notifier is the service manager's side (systemd); *sdnotify.Notifier has it.
type Notifier interface {
	Ready(status string) error
	Status(status string) error
	Watchdog() error
	Reloading() error
	Stopping() error
}

// The real implementations fit these interfaces as they are.
var (
	_ Docker   = (*containers.Client)(nil)
	_ Notifier = (*sdnotify.Notifier)(nil)
)
