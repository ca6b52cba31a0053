package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/containers"
	"github.com/hardend/hardend/internal/firewall"
	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/kernel"
	"github.com/hardend/hardend/internal/policy"
	"github.com/hardend/hardend/internal/procnet"
	"github.com/hardend/hardend/internal/report"
	"github.com/hardend/hardend/internal/virt"
)

// Options say what to audit and how.
type Options struct {
	// Root is the host root /proc, /sys and /etc are read below: "/" or, in a
	// container, the host's filesystem mounted at e.g. /host.
	Root string
	// DockerHost is DOCKER_HOST ("" = unix:///var/run/docker.sock).
	DockerHost string
	// Timeout is the deadline of every Docker API call.
	Timeout time.Duration
	// Policy is the policy in force (required).
	Policy *policy.Policy
	// Enforce says hardend's firewall rules are expected to be in place: policy
	// firewall.mode enforce, or --remediate. It decides whether HD-NET-005 judges.
	Enforce bool
	// Firewall configures the iptables programs; its Variant is decided by the
	// scan (whichever variant holds Docker's chains). Zero value: this host's.
	Firewall firewall.Config
	// SkipFirewall leaves the rule set unread (e.g. hardend in a container
	// without the host's network namespace); the HD-NET checks then say so.
	SkipFirewall bool
	// Version is hardend's version, for the report.
	Version string
	// Docker, when set, is used instead of connecting anew (the agent keeps one
	// client).
	Docker *containers.Client
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
}

// Scan is one audit: the report and everything it was made from, so that the
// remediation and the agent act on exactly what was reported.
type Scan struct {
	Report    *report.Report
	Detection virt.Detection
	Docker    *containers.Snapshot
	// Firewall is the network side: nil when it was not read (SkipFirewall).
	Firewall *FirewallState
	Took     time.Duration
}

// FirewallState is what one scan read of the rules and what it made of them.
type FirewallState struct {
	Detection *firewall.Detection // which variant holds Docker's chains
	Backend   *firewall.Backend   // pinned to that variant; nil when none could be chosen
	Rules     *firewall.Rules     // the one read of this scan; nil on error
	ReadErr   error
	Input     firewall.Input // what the exposure analysis saw
	Exposure  *firewall.Exposure
	Plan      *firewall.Plan // what policy makes of this host; nil when PlanErr
	PlanErr   error
}

// PlanInput is what firewall.NewPlan needs, from the scan's input.
func (f *FirewallState) PlanInput() firewall.PlanInput {
	return firewall.PlanInput{Workloads: f.Input.Workloads, Interfaces: f.Input.Interfaces,
		Firewall: f.Input.Policy, Docker: f.Input.Docker}
}

// Run audits the host once. It never fails as a whole: what could not be read
// becomes skip or error results with the reason.
func Run(ctx context.Context, opts Options) *Scan {
	start := time.Now()
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if opts.Root == "" {
		opts.Root = "/"
	}
	scan := &Scan{}
	var wg sync.WaitGroup

	// Docker: the slowest source; everything that needs it waits below.
	wg.Add(1)
	go func() {
		defer wg.Done()
		scan.Docker = collectDocker(ctx, opts)
	}()
	// The rule set: one read per family, in parallel with Docker.
	var rules firewallRead
	if !opts.SkipFirewall {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rules = readFirewall(ctx, opts.Firewall)
		}()
	}
	scan.Detection = virt.Detect(virt.Source{Root: opts.Root})
	results := virt.Checks(scan.Detection, opts.Root)
	listeners, listenersErr := procnet.Listeners(opts.Root, listenerPid(opts.Root))
	wg.Wait()

	snap := scan.Docker
	publishing := kernel.Unknown
	if snap.Err == nil {
		publishing = kernel.No
		for _, c := range snap.Containers {
			if len(c.Ports) > 0 {
				publishing = kernel.Yes
				break
			}
		}
	}
	kfacts, kres := kernel.Audit(opts.Root, kernel.Options{Publishing: publishing})
	results = append(results, kres...)
	results = append(results, containers.Checks(snap, containerOptions(opts))...)

	if !opts.SkipFirewall {
		fw, fres := auditFirewall(rules, snap, listeners, listenersErr, opts)
		scan.Firewall = fw
		results = append(results, fres...)
	} else {
		for _, d := range firewall.Definitions {
			results = append(results, d.Skip(check.Host, "the rule set was not read (--root without the host's network namespace)"))
		}
	}

	opts.Policy.Apply(results, snap.PolicyInfo(), now())
	scan.Took = time.Since(start)
	scan.Report = &report.Report{
		Tool:    report.Tool{Name: "hardend", Version: opts.Version},
		Host:    hostFacts(opts, scan, kfacts),
		Results: results,
	}
	scan.Report.Summary.DurationMS = float64(scan.Took.Microseconds()) / 1000
	scan.Report.Summarize(opts.Policy.FailOn)
	return scan
}

func containerOptions(opts Options) containers.Options {
	return containers.Options{Host: opts.DockerHost, Root: opts.Root, Timeout: opts.Timeout}
}

func collectDocker(ctx context.Context, opts Options) *containers.Snapshot {
	if opts.Docker != nil {
		return containers.Collect(ctx, opts.Docker, containerOptions(opts))
	}
	return containers.Scan(ctx, containerOptions(opts))
}

// firewallRead is the raw outcome of reading the rule set.
type firewallRead struct {
	detection *firewall.Detection
	backend   *firewall.Backend
	rules     *firewall.Rules
	err       error
}

func readFirewall(ctx context.Context, cfg firewall.Config) firewallRead {
	var r firewallRead
	r.detection = firewall.Detect(ctx, cfg)
	if r.detection.Err != nil {
		r.err = r.detection.Err
		return r
	}
	cfg.Variant = r.detection.Variant
	b, err := firewall.NewBackend(cfg)
	if err != nil {
		r.err = err
		return r
	}
	r.backend = b
	r.rules, r.err = b.ReadDetected(ctx, r.detection)
	return r
}

func auditFirewall(rd firewallRead, snap *containers.Snapshot, listeners []procnet.Socket, listenersErr error, opts Options) (*FirewallState, []check.Result) {
	fw := &FirewallState{Detection: rd.detection, Backend: rd.backend, Rules: rd.rules, ReadErr: rd.err}
	ifaces, ifErr := HostInterfaces()
	in := firewall.Input{
		Docker:     DockerFirewall(snap),
		Workloads:  Workloads(snap),
		Interfaces: ifaces,
		Policy:     opts.Policy.Firewall,
	}
	if listenersErr == nil {
		in.Listeners = ownedListeners(opts.Root, listeners, in.Workloads)
	}
	if rd.rules != nil {
		in.Rules = *rd.rules
	} else if rd.err != nil {
		in.ReadErr = map[iptsave.Family]error{iptsave.IPv4: rd.err, iptsave.IPv6: rd.err}
	}
	in.RouteLocalnet = routeLocalnet(opts.Root, ifaces)
	fw.Input = in
	var results []check.Result
	var backend *firewall.BackendDecision
	if rd.detection != nil {
		d := firewall.DecideBackend(rd.detection.Legacy, rd.detection.NFT, iptablesAlternative(opts.Root))
		backend = &d
	}
	noDockerChains := rd.detection != nil && errors.Is(rd.detection.Err, firewall.ErrNoDockerChains)
	switch {
	case snap.Err != nil:
		// Without a daemon there are no ports to judge; the rules themselves
		// still are, if Docker left its chains (a stopped daemon keeps them).
		reason := "no Docker daemon: " + snap.Err.Error()
		for _, d := range []check.Definition{firewall.Net001, firewall.Net002, firewall.Net006, firewall.Net007} {
			results = append(results, d.Skip(check.Host, reason))
		}
		switch {
		case noDockerChains || rd.rules == nil:
			why := reason + "; and no Docker chains in either iptables variant"
			if rd.err != nil && !noDockerChains {
				why = reason + "; the rule set could not be read: " + rd.err.Error()
			}
			for _, d := range []check.Definition{firewall.Net003, firewall.Net004, firewall.Net005} {
				results = append(results, d.Skip(check.Host, why))
			}
			return fw, results
		default:
			results = append(results, firewall.Net003Results(in)...)
			if backend != nil {
				results = append(results, firewall.Net004Result(in, backend))
			}
		}
	case rd.rules == nil || ifErr != nil:
		reason := "the rule set could not be read"
		if rd.err != nil {
			reason += ": " + rd.err.Error()
		}
		if ifErr != nil {
			reason = "the host's interfaces could not be listed: " + ifErr.Error()
		}
		for _, d := range []check.Definition{firewall.Net001, firewall.Net002, firewall.Net003, firewall.Net006, firewall.Net007} {
			results = append(results, d.Err(check.Host, reason))
		}
		if backend != nil {
			results = append(results, firewall.Net004Result(in, backend))
		}
	default:
		var res []check.Result
		res, fw.Exposure = firewall.Audit(firewall.AuditInput{Input: in, Backend: backend})
		results = append(results, res...)
	}
	if snap.Err == nil {
		fw.Plan, fw.PlanErr = firewall.NewPlan(fw.PlanInput())
	} else {
		fw.PlanErr = fmt.Errorf("no Docker daemon to plan for: %w", snap.Err)
	}
	results = append(results, firewall.Net005Results(firewall.Net005Input{
		Plan: fw.Plan, PlanErr: fw.PlanErr, Rules: rd.rules, ReadErr: rd.err, Enforce: opts.Enforce})...)
	return fw, results
}

// HostInterfaces lists the interfaces of the network namespace hardend runs in,
// with their addresses: the external interfaces and the host's own addresses of
// the exposure analysis and the firewall plan.
func HostInterfaces() ([]firewall.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]firewall.Interface, 0, len(ifs))
	for _, i := range ifs {
		fi := firewall.Interface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Loopback: i.Flags&net.FlagLoopback != 0}
		addrs, err := i.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", i.Name, err)
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if addr, ok := netip.AddrFromSlice(ipn.IP); ok {
					ones, _ := ipn.Mask.Size()
					fi.Addrs = append(fi.Addrs, netip.PrefixFrom(addr.Unmap(), ones))
				}
			}
		}
		out = append(out, fi)
	}
	return out, nil
}

// iptablesAlternative is where the system's `iptables` command points
// (Debian's alternatives: iptables-nft or iptables-legacy), "" when unknown.
func iptablesAlternative(root string) string {
	target, err := os.Readlink(filepath.Join(root, "etc/alternatives/iptables"))
	if err != nil {
		return ""
	}
	return filepath.Base(target)
}

func hostFacts(opts Options, scan *Scan, k kernel.Facts) map[string]any {
	det := scan.Detection
	host := map[string]any{
		"root":           opts.Root,
		"virtualization": det.Default(),
		"virt": map[string]any{
			"vm": det.VM, "container": det.Container, "evidence": det.Evidence,
		},
		"kernel_release": k.Release,
		"kernel":         k,
		"docker":         scan.Docker.Facts(),
	}
	if h, err := os.Hostname(); err == nil {
		host["hostname"] = h
	}
	if fw := scan.Firewall; fw != nil {
		f := map[string]any{}
		if fw.Detection != nil {
			f["variant"] = string(fw.Detection.Variant)
			if fw.Detection.Err != nil {
				f["error"] = fw.Detection.Err.Error()
			}
		}
		if fw.ReadErr != nil {
			f["read_error"] = fw.ReadErr.Error()
		}
		if fw.Exposure != nil {
			f["exposure"] = exposureSummary(fw.Exposure)
		}
		host["firewall"] = f
	}
	return host
}

// exposureSummary counts published ports (per address family) by verdict, and
// names the external interfaces they were evaluated from.
func exposureSummary(x *firewall.Exposure) map[string]any {
	verdicts := map[string]int{}
	for _, pe := range x.Ports {
		verdicts[string(pe.Verdict)]++
	}
	return map[string]any{"external_interfaces": x.External, "ports_by_verdict": verdicts}
}

// listenerPid is a process in the network namespace whose rules are read: on the
// live host hardend's own (it reads the rules of the namespace it runs in, which
// under nsenter or a network namespace is not PID 1's), below another root the
// host's init.
func listenerPid(root string) int {
	if filepath.Clean(root) == "/" {
		return os.Getpid()
	}
	return 1
}

// ownedListeners attributes the namespace's listening sockets to the
// host-network containers whose processes hold them (HD-NET-006); the rest are
// the host's own or docker-proxy's.
func ownedListeners(root string, socks []procnet.Socket, workloads []firewall.Workload) []firewall.Listener {
	out := firewall.ListenersFromSockets(socks, nil, "")
	for _, w := range workloads {
		if w.NetworkMode != "host" || w.Pid <= 0 {
			continue
		}
		owned, err := procnet.SocketInodes(root, w.Pid)
		if err != nil {
			continue
		}
		for i, l := range firewall.ListenersFromSockets(socks, owned, w.ID) {
			if l.ContainerID != "" {
				out[i].ContainerID = l.ContainerID
			}
		}
	}
	return out
}

// routeLocalnet reports whether the kernel routes 127.0.0.0/8 arriving on an
// external interface (net.ipv4.conf.{all,IFACE}.route_localnet): then a
// 127.0.0.1-published port is reachable from a neighbour on the link.
func routeLocalnet(root string, ifaces []firewall.Interface) bool {
	names := []string{"all"}
	for _, i := range ifaces {
		if !i.Loopback {
			names = append(names, i.Name)
		}
	}
	for _, n := range names {
		if strings.Contains(n, "/") || n == "." || n == ".." {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, "proc/sys/net/ipv4/conf", n, "route_localnet"))
		if err == nil && strings.TrimSpace(string(b)) == "1" && n != "docker0" && !strings.HasPrefix(n, "br-") {
			return true
		}
	}
	return false
}
