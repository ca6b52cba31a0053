package agent

import (
	"context"
	"time"

	"github.com/hardend/hardend/internal/audit"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/policy"
)

// AuditorOptions configure NewAuditor.
type AuditorOptions struct {
	Root       string        // host root the checks read below ("/" or "/host")
	DockerHost string        // DOCKER_HOST, for the daemon checks' view of the socket
	Timeout    time.Duration // deadline of every Docker API call
	Version    string        // hardend's version, for the report
	IPTables   firewall.Config
}

// auditAdapter is the real Auditor: one internal/audit run, the same as
// `hardend --check`, on the agent's long-lived Docker client.
type auditAdapter struct {
	client *containers.Client
	opts   AuditorOptions
}

// NewAuditor returns the Auditor that runs internal/audit with client.
func NewAuditor(client *containers.Client, opts AuditorOptions) Auditor {
	return &auditAdapter{client: client, opts: opts}
}

// Audit runs every check once. internal/audit has no incremental mode, so the
// changed hint is not used: an event audit re-reads everything, which the
// debounce keeps to one per burst of events. The firewall's event path does
// not wait for it.
func (a *auditAdapter) Audit(ctx context.Context, pol *policy.Policy, _ []string) (Scan, error) {
	s := audit.Run(ctx, audit.Options{
		Root: a.opts.Root, DockerHost: a.opts.DockerHost, Timeout: a.opts.Timeout,
		Policy: pol, Enforce: pol.Firewall.Mode == "enforce",
		Firewall: a.opts.IPTables, Version: a.opts.Version, Docker: a.client,
	})
	if err := ctx.Err(); err != nil {
		return Scan{}, err
	}
	return Scan{Results: s.Report.Results, Containers: s.Docker.PolicyInfo(), DockerErr: s.Docker.Err}, nil
}
