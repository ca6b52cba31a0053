package containers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// Options say which Docker host to audit and how.
type Options struct {
	Host        string        // DOCKER_HOST value; "" = unix:///var/run/docker.sock
	Root        string        // host root for /proc, /etc/docker and the socket's stat ("/" or "/host")
	Timeout     time.Duration // deadline for every API call; 0 = DefaultTimeout
	Concurrency int           // inspect concurrency bound; 0 = DefaultConcurrency
}

// Defaults for Options.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultConcurrency = 16
)

func (o Options) withDefaults() Options {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return o
}

// dockerAPI is the part of the Engine API client hardend uses; tests fake it.
type dockerAPI interface {
	Ping(ctx context.Context, o client.PingOptions) (client.PingResult, error)
	Info(ctx context.Context, o client.InfoOptions) (client.SystemInfoResult, error)
	ServerVersion(ctx context.Context, o client.ServerVersionOptions) (client.ServerVersionResult, error)
	ContainerList(ctx context.Context, o client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, o client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	NetworkList(ctx context.Context, o client.NetworkListOptions) (client.NetworkListResult, error)
	Events(ctx context.Context, o client.EventsListOptions) client.EventsResult
	ClientVersion() string
	Close() error
}

// Client talks to one Docker Engine API. Every call runs under the Options'
// deadline; none spawns a process.
type Client struct {
	api  dockerAPI
	opts Options
	tls  bool // the client speaks TLS (DOCKER_CERT_PATH)
}

// Connect builds a client for opts.Host. It does not contact the daemon (the
// first call negotiates the API version); it fails only on a malformed host.
// TLS settings come from DOCKER_CERT_PATH / DOCKER_TLS_VERIFY, as for the
// docker CLI.
func Connect(opts Options) (*Client, error) {
	opts = opts.withDefaults()
	// A transport that keeps as many idle connections as inspects run at once:
	// the default keeps 2 and would reconnect for nearly every inspect.
	tr := &http.Transport{
		MaxIdleConns:        opts.Concurrency + 4,
		MaxIdleConnsPerHost: opts.Concurrency + 4,
		IdleConnTimeout:     30 * time.Second,
	}
	// The scheme is explicit: the client otherwise guesses https from a TLS
	// config that net/http may have filled in for HTTP/2 on the transport.
	scheme := "http"
	if os.Getenv(client.EnvOverrideCertPath) != "" || strings.HasPrefix(opts.Host, "https://") {
		scheme = "https"
	}
	api, err := client.New(
		client.WithHTTPClient(&http.Client{Transport: tr, CheckRedirect: client.CheckRedirect}),
		client.WithTLSClientConfigFromEnv(),
		client.WithHost(normalizeHost(opts.Host)),
		client.WithScheme(scheme),
		client.WithAPIVersionNegotiation(),
		client.WithUserAgent("hardend"),
	)
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", opts.Host, err)
	}
	return &Client{api: api, opts: opts, tls: scheme == "https"}, nil
}

// Close releases idle connections.
func (c *Client) Close() error { return c.api.Close() }

// Host is the Docker host this client talks to.
func (c *Client) Host() string { return normalizeHost(c.opts.Host) }

func (c *Client) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.Timeout)
}

// Ping checks the daemon answers and negotiates the API version.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	_, err := c.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	return c.wrap("ping", ctx, err)
}

// EngineInfo is what the daemon says about itself (GET /info and /version).
type EngineInfo struct {
	Version       string // engine version, e.g. "20.10.24+dfsg1"
	APIVersion    string // the daemon's highest API version
	MinAPIVersion string
	ClientAPI     string // the version this client negotiated
	OS, Arch      string
	KernelVersion string

	SecurityOptions []string // raw: "name=seccomp,profile=default", "name=userns", ...
	Seccomp         bool
	SeccompProfile  string
	AppArmor        bool
	SELinux         bool
	Userns          bool // userns-remap active
	Rootless        bool
	LiveRestore     bool
	// FirewallBackend is /info's FirewallBackend.Driver ("iptables",
	// "nftables", "iptables+firewalld"); "" when the API does not report it
	// (before API 1.48).
	FirewallBackend string
	FirewallInfo    [][2]string
	CgroupVersion   string
	DefaultRuntime  string
	Containers      int
	Running         int
	Warnings        []string
}

// Info calls GET /info and GET /version concurrently.
func (c *Client) Info(ctx context.Context) (EngineInfo, error) {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	var (
		wg         sync.WaitGroup
		info       client.SystemInfoResult
		ver        client.ServerVersionResult
		errI, errV error
	)
	wg.Add(2)
	go func() { defer wg.Done(); info, errI = c.api.Info(ctx, client.InfoOptions{}) }()
	go func() { defer wg.Done(); ver, errV = c.api.ServerVersion(ctx, client.ServerVersionOptions{}) }()
	wg.Wait()
	if errI != nil {
		return EngineInfo{}, c.wrap("GET /info", ctx, errI)
	}
	e := engineInfoFrom(info.Info)
	if errV == nil {
		e.Version, e.APIVersion, e.MinAPIVersion = ver.Version, ver.APIVersion, ver.MinAPIVersion
		e.OS, e.Arch = ver.Os, ver.Arch
	}
	e.ClientAPI = c.api.ClientVersion()
	return e, nil
}

func engineInfoFrom(in system.Info) EngineInfo {
	e := EngineInfo{
		Version:         in.ServerVersion,
		OS:              in.OSType,
		Arch:            in.Architecture,
		KernelVersion:   in.KernelVersion,
		SecurityOptions: slices.Clone(in.SecurityOptions),
		LiveRestore:     in.LiveRestoreEnabled,
		CgroupVersion:   in.CgroupVersion,
		DefaultRuntime:  in.DefaultRuntime,
		Containers:      in.Containers,
		Running:         in.ContainersRunning,
		Warnings:        slices.Clone(in.Warnings),
	}
	for _, opt := range in.SecurityOptions {
		kv := parseSecurityOption(opt)
		switch kv["name"] {
		case "seccomp":
			e.Seccomp, e.SeccompProfile = true, kv["profile"]
		case "apparmor":
			e.AppArmor = true
		case "selinux":
			e.SELinux = true
		case "userns":
			e.Userns = true
		case "rootless":
			e.Rootless = true
		}
	}
	if in.FirewallBackend != nil {
		e.FirewallBackend = in.FirewallBackend.Driver
		e.FirewallInfo = in.FirewallBackend.Info
	}
	return e
}

// parseSecurityOption splits "name=seccomp,profile=default".
func parseSecurityOption(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(part, "=")
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// List returns the IDs of the running containers (one list call).
func (c *Client) List(ctx context.Context) ([]string, error) {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	res, err := c.api.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return nil, c.wrap("list containers", ctx, err)
	}
	ids := make([]string, 0, len(res.Items))
	for _, s := range res.Items {
		ids = append(ids, s.ID)
	}
	return ids, nil
}

// ErrGone marks a container that disappeared between the list and its
// inspect: not an error of the audit, the container simply no longer runs.
var ErrGone = errors.New("container no longer exists")

// Inspect inspects one container.
func (c *Client) Inspect(ctx context.Context, id string) (Container, error) {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		if isNotFound(err) {
			return Container{}, fmt.Errorf("inspect %s: %w", shortID(id), ErrGone)
		}
		return Container{}, c.wrap("inspect container "+shortID(id), ctx, err)
	}
	return containerFrom(&res.Container), nil
}

// Networks lists the daemon's networks (one call).
func (c *Client) Networks(ctx context.Context) ([]Network, error) {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	res, err := c.api.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, c.wrap("list networks", ctx, err)
	}
	out := make([]Network, 0, len(res.Items))
	for i := range res.Items {
		out = append(out, networkFrom(&res.Items[i].Network))
	}
	return out, nil
}

// Event is one Docker event that can change exposure.
type Event struct {
	Time   time.Time // nanosecond precision
	Type   string    // "container", "network", "daemon"
	Action string    // "create", "start", "die", "destroy", "update", "rename", "connect", "disconnect", "reload"
	ID     string    // the actor: container ID, network ID or daemon ID
	// Attributes are the actor's: for network connect/disconnect the container
	// is Attributes["container"]; for containers "name", "image" and labels.
	Attributes map[string]string
}

// eventFilter is what the agent re-audits on. "rename" is there because policy
// selectors match container names.
var eventFilter = func() client.Filters {
	return make(client.Filters).
		Add("type", "container", "network", "daemon").
		Add("event", "create", "start", "die", "destroy", "update", "rename", "connect", "disconnect", "reload")
}

// Events subscribes to the events that can change exposure, from since (the
// zero time: from now). The subscription itself must answer within the
// deadline (a frozen daemon does not hang the caller); the stream then lasts
// until ctx ends or the daemon goes away. The error channel receives exactly
// one error (ctx.Err() on cancellation) and is then closed, as is the event
// channel.
func (c *Client) Events(ctx context.Context, since time.Time) (<-chan Event, <-chan error) {
	out := make(chan Event)
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	opts := client.EventsListOptions{Filters: eventFilter()}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	subscribed := make(chan client.EventsResult, 1)
	go func() { subscribed <- c.api.Events(ctx, opts) }()
	go func() {
		defer cancel()
		defer close(out)
		defer close(errc)
		var res client.EventsResult
		timer := time.NewTimer(c.opts.Timeout)
		defer timer.Stop()
		select {
		case res = <-subscribed:
		case <-timer.C:
			cancel()
			<-subscribed
			errc <- c.wrap("subscribe to events", ctx, context.DeadlineExceeded)
			return
		case <-ctx.Done():
			<-subscribed
			errc <- ctx.Err()
			return
		}
		for {
			select {
			case m, ok := <-res.Messages:
				if !ok {
					errc <- errors.New("event stream closed")
					return
				}
				ev := Event{Type: string(m.Type), Action: string(m.Action), ID: m.Actor.ID, Attributes: m.Actor.Attributes}
				switch {
				case m.TimeNano != 0:
					ev.Time = time.Unix(0, m.TimeNano)
				case m.Time != 0:
					ev.Time = time.Unix(m.Time, 0)
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					errc <- ctx.Err()
					return
				}
			case err := <-res.Err:
				if err == nil {
					err = errors.New("event stream closed")
				}
				if ctx.Err() != nil {
					err = ctx.Err()
				} else {
					err = c.wrap("event stream", ctx, err)
				}
				errc <- err
				return
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	return out, errc
}

func isNotFound(err error) bool {
	var nf interface{ NotFound() }
	return errors.As(err, &nf) || strings.Contains(err.Error(), "No such container")
}
