package containers

import (
	"context"
	"fmt"
	"time"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/policy"
)

// Checks runs every HD-DMN check on the daemon and every HD-CTR check on each
// running container of the snapshot. It only reads the snapshot (and, for the
// socket and sensitive-path checks, stats paths below opts.Root).
//
// When the daemon could not be used, each container check yields one result
// for "all containers" with the reason (skip when there is no Docker here at
// all, error otherwise); containers whose inspect failed get an error result
// per check; with no running container each check is skipped, visibly.
func Checks(snap *Snapshot, opts Options) []check.Result {
	opts = opts.withDefaults()
	out := daemonChecks(snap, opts)
	all := check.Subject{Kind: check.KindContainer, Name: "all containers"}
	switch {
	case snap.Err != nil:
		for _, d := range containerDefs {
			if noDaemon(snap) {
				out = append(out, d.Skip(all, noDaemonReason(snap)))
			} else {
				out = append(out, d.Err(all, "containers could not be listed: "+snap.Err.Error()))
			}
		}
		return out
	case len(snap.Containers) == 0 && len(snap.Failed) == 0:
		for _, d := range containerDefs {
			out = append(out, d.Skip(all, fmt.Sprintf("no running containers on %s", snap.Host)))
		}
		return out
	}
	env := newCtrEnv(snap, opts)
	for i := range snap.Containers {
		out = append(out, containerChecks(&snap.Containers[i], env)...)
	}
	for _, f := range snap.Failed {
		subj := check.Subject{Kind: check.KindContainer, ID: shortID(f.ID)}
		for _, d := range containerDefs {
			out = append(out, d.Err(subj, "inspect failed: "+f.Err.Error()))
		}
	}
	return out
}

// Facts is the JSON-friendly summary of a scan for the report's host.docker.
type Facts struct {
	Host             string   `json:"host"`
	Reachable        bool     `json:"reachable"`
	Error            string   `json:"error,omitempty"`
	Version          string   `json:"version,omitempty"`
	APIVersion       string   `json:"api_version,omitempty"`        // negotiated with the daemon
	ServerAPIVersion string   `json:"server_api_version,omitempty"` // the daemon's highest
	SecurityOptions  []string `json:"security_options,omitempty"`
	Rootless         bool     `json:"rootless,omitempty"`
	Userns           bool     `json:"userns_remap,omitempty"`
	FirewallBackend  string   `json:"firewall_backend,omitempty"`
	Containers       int      `json:"containers"` // running containers inspected
	Listed           int      `json:"containers_listed"`
	InspectFailed    int      `json:"inspect_failed,omitempty"`
	Networks         int      `json:"networks"`
	DaemonPID        int      `json:"daemon_pid,omitempty"`
	DaemonConfig     string   `json:"daemon_config,omitempty"`
	DaemonNote       string   `json:"daemon_note,omitempty"` // why dockerd was not found on the host
	TookMS           float64  `json:"took_ms"`

	// PolicyInfo is Snapshot.PolicyInfo, for policy.Apply on the results:
	// container subject ID -> name, image, labels. Not part of the report.
	PolicyInfo map[string]policy.ContainerInfo `json:"-"`
}

// Facts summarises the snapshot.
func (s *Snapshot) Facts() Facts {
	f := Facts{
		Host: s.Host, Reachable: s.Err == nil,
		Version: s.Engine.Version, APIVersion: s.Engine.ClientAPI, ServerAPIVersion: s.Engine.APIVersion,
		SecurityOptions: s.Engine.SecurityOptions, Rootless: s.Engine.Rootless, Userns: s.Engine.Userns,
		FirewallBackend: s.Engine.FirewallBackend,
		Containers:      len(s.Containers), Listed: s.Listed, InspectFailed: len(s.Failed), Networks: len(s.Networks),
		DaemonPID: s.Daemon.PID, DaemonConfig: s.Daemon.ConfigFile,
		TookMS:     float64(s.Took.Microseconds()) / 1000,
		PolicyInfo: s.PolicyInfo(),
	}
	if s.Err != nil {
		f.Error = s.Err.Error()
	}
	if s.Daemon.FindErr != nil {
		f.DaemonNote = s.Daemon.FindErr.Error()
	}
	return f
}

// Scan connects to opts.Host and collects one snapshot (the agent and the
// firewall want the snapshot itself: ports, endpoints, networks). A malformed
// host is the snapshot's Err; Scan never hangs: every API call has
// opts.Timeout.
func Scan(ctx context.Context, opts Options) *Snapshot {
	opts = opts.withDefaults()
	c, err := Connect(opts)
	if err != nil {
		return &Snapshot{Host: opts.Host, Err: err, At: time.Now(), Daemon: ReadDaemon(opts.Root, opts.Host),
			CapLast: readCapLastCap(opts.Root)}
	}
	defer c.Close()
	return Collect(ctx, c, opts)
}

// Audit is Scan then Checks: the one call for callers that want it all. Pass
// Facts.PolicyInfo to policy.Apply so container exemptions match.
func Audit(ctx context.Context, opts Options) (Facts, []check.Result) {
	snap := Scan(ctx, opts)
	return snap.Facts(), Checks(snap, opts)
}
