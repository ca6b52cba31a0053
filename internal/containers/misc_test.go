package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

func TestEffectiveCaps(t *testing.T) {
	all := allCaps(40)
	tests := []struct {
		name       string
		add, drop  []string
		privileged bool
		want       CapSet
	}{
		{name: "defaults", want: dockerDefaultCaps},
		{name: "drop ALL add one", add: []string{"NET_BIND_SERVICE"}, drop: []string{"ALL"}, want: capSetOf("NET_BIND_SERVICE")},
		{name: "CAP_ prefix and case", add: []string{"cap_net_bind_service"}, drop: []string{"all"}, want: capSetOf("NET_BIND_SERVICE")},
		{name: "add SYS_ADMIN to defaults", add: []string{"CAP_SYS_ADMIN"}, want: dockerDefaultCaps | capSetOf("SYS_ADMIN")},
		{name: "drop some", drop: []string{"NET_RAW", "MKNOD"}, want: dockerDefaultCaps &^ capSetOf("NET_RAW", "MKNOD")},
		{name: "add ALL", add: []string{"ALL"}, want: all},
		{name: "add ALL minus one", add: []string{"ALL"}, drop: []string{"SYS_ADMIN"}, want: all &^ capSetOf("SYS_ADMIN")},
		{name: "drop ALL and add ALL", add: []string{"ALL"}, drop: []string{"ALL"}, want: all},
		{name: "privileged ignores drops", drop: []string{"ALL"}, privileged: true, want: all},
		{name: "every default dropped one by one", drop: dockerDefaultCaps.Names(), want: 0},
		{name: "unknown names ignored", add: []string{"NOT_A_CAP"}, want: dockerDefaultCaps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newCapRequest(tt.add, tt.drop, tt.privileged).effective(all)
			if got != tt.want {
				t.Errorf("effective = %s, want %s", got, tt.want)
			}
		})
	}
	if got := dockerDefaultCaps.Len(); got != 14 {
		t.Errorf("Docker's default set has %d capabilities, want 14", got)
	}
	if got := newCapRequest([]string{"bogus"}, nil, false).Unknown; len(got) != 1 {
		t.Errorf("Unknown = %v", got)
	}
	if s := CapSet(1<<63 | 1).Names(); s[0] != "CHOWN" || s[1] != "CAP_63" {
		t.Errorf("Names() = %v", s)
	}
}

func TestIsRootUser(t *testing.T) {
	for u, want := range map[string]bool{"": true, "root": true, "0": true, "0:0": true, "root:app": true, "0:1000": true,
		"1000": false, "1000:0": false, "app": false, "nobody:nogroup": false, " 0 ": true} {
		if got := isRootUser(u); got != want {
			t.Errorf("isRootUser(%q) = %v", u, got)
		}
	}
}

func TestSecurityOpt(t *testing.T) {
	opts := []string{"label=disable", "seccomp:unconfined", "no-new-privileges", "apparmor=docker-default", "no-new-privileges=false"}
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"seccomp", "unconfined", true}, {"apparmor", "docker-default", true}, {"no-new-privileges", "false", true}, {"label", "disable", true}, {"systempaths", "", false},
	}
	for _, tt := range tests {
		got, ok := securityOpt(opts, tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("securityOpt(%s) = %q, %v", tt.key, got, ok)
		}
	}
}

func TestResolveUnder(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"run", "usr/lib/modules", "srv/a/b"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.MkdirAll(filepath.Join(root, "var"), 0o755)
	links := map[string]string{"var/run": "/run", "lib": "usr/lib", "srv/up": "../run", "loop1": "/loop2", "loop2": "/loop1", "srv/abs": "/srv/a"}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "/var/run/docker.sock", want: "/run/docker.sock"},
		{in: "/var/run", want: "/run"},
		{in: "/lib/modules", want: "/usr/lib/modules"},
		{in: "/srv/up/x", want: "/run/x"},
		{in: "/srv/abs/b/../b", want: "/srv/a/b"},
		{in: "/nonexistent/deeper", want: "/nonexistent/deeper"},
		{in: "/../../etc", want: "/etc"},
		{in: "/", want: "/"},
		{in: "/loop1/x", wantErr: true},
		{in: "relative", wantErr: true},
	}
	for _, tt := range tests {
		got, err := resolveUnder(root, tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("resolveUnder(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestHosts(t *testing.T) {
	tests := []struct {
		in, norm, unix, addr string
	}{
		{in: "", norm: DefaultHost, unix: "/var/run/docker.sock"},
		{in: "unix://", norm: DefaultHost, unix: "/var/run/docker.sock"},
		{in: "/run/x.sock", norm: "unix:///run/x.sock", unix: "/run/x.sock"},
		{in: "fd://", norm: "fd://", unix: "/run/docker.sock"},
		{in: "tcp://0.0.0.0:2375", norm: "tcp://0.0.0.0:2375", addr: "0.0.0.0:2375"},
		{in: ":2375", norm: "tcp://:2375", addr: "0.0.0.0:2375"},
		{in: "tcp://", norm: "tcp://", addr: "0.0.0.0:2375"},
		{in: "tcp://[::1]:2376", norm: "tcp://[::1]:2376", addr: "[::1]:2376"},
		{in: "tcp://localhost:2375", norm: "tcp://localhost:2375", addr: "127.0.0.1:2375"},
		{in: "127.0.0.1:2375", norm: "tcp://127.0.0.1:2375", addr: "127.0.0.1:2375"},
	}
	for _, tt := range tests {
		if got := normalizeHost(tt.in); got != tt.norm {
			t.Errorf("normalizeHost(%q) = %q, want %q", tt.in, got, tt.norm)
		}
		p, ok := unixPath(tt.in)
		if p != tt.unix || ok != (tt.unix != "") {
			t.Errorf("unixPath(%q) = %q, %v", tt.in, p, ok)
		}
		if tt.addr != "" {
			ap, err := hostAddrPort(tt.in)
			if err != nil || ap != netip.MustParseAddrPort(tt.addr) {
				t.Errorf("hostAddrPort(%q) = %v, %v; want %s", tt.in, ap, err, tt.addr)
			}
		}
	}
	if ap, err := hostAddrPort("tcp://docker.example:2375"); err == nil || !ap.Addr().IsUnspecified() {
		t.Errorf("a host name: %v %v (want unspecified with an error: not provably loopback)", ap, err)
	}
}

func TestClassifyUnixErrors(t *testing.T) {
	dir := t.TempDir()
	dead := filepath.Join(dir, "dead.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: dead, Net: "unix"})
	if err != nil {
		t.Skip(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	live := filepath.Join(dir, "live.sock")
	ll, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ll.Close()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	connErr := &net.OpError{Op: "dial", Net: "unix", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		host string
		err  error
		want Reason
	}{
		{"missing", "unix://" + filepath.Join(dir, "none.sock"), connErr, ReasonNoSocket},
		{"refused", "unix://" + dead, connErr, ReasonRefused},
		{"not a socket", "unix://" + file, connErr, ReasonNotSocket},
		{"answered then hung up", "unix://" + live, fmt.Errorf("read: %w", errors.New("unexpected EOF")), ReasonClosed},
		{"deadline", "unix://" + live, context.DeadlineExceeded, ReasonTimeout},
		{"daemon error", "unix://" + live, errors.New("Error response from daemon: boom"), ReasonAPI},
		{"tcp refused", "tcp://127.0.0.1:1", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), ReasonRefused},
		{"tls", "tcp://127.0.0.1:1", errors.New("remote error: tls: bad certificate"), ReasonTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.host, context.Background(), tt.err); got != tt.want {
				t.Errorf("classify = %d, want %d", got, tt.want)
			}
			msg := (&APIError{Host: tt.host, Op: "GET /info", Reason: tt.want, Timeout: time.Second, Err: tt.err}).Error()
			if !strings.Contains(msg, tt.host) {
				t.Errorf("message %q does not name the host", msg)
			}
		})
	}
}

// fakeAPI implements dockerAPI with function fields for the cases a recorded
// HTTP answer cannot express.
type fakeAPI struct {
	dockerAPI
	events func(ctx context.Context, o client.EventsListOptions) client.EventsResult
}

func (f *fakeAPI) Events(ctx context.Context, o client.EventsListOptions) client.EventsResult {
	return f.events(ctx, o)
}
func (f *fakeAPI) Close() error { return nil }

func TestEvents(t *testing.T) {
	var gotOpts client.EventsListOptions
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	api := &fakeAPI{events: func(ctx context.Context, o client.EventsListOptions) client.EventsResult {
		gotOpts = o
		return client.EventsResult{Messages: msgs, Err: errs}
	}}
	c := &Client{api: api, opts: Options{Timeout: time.Second}.withDefaults()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	since := time.Unix(1700000000, 123456789)
	out, errc := c.Events(ctx, since)
	msgs <- events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "abc", Attributes: map[string]string{"name": "web"}},
		Time: 1700000001, TimeNano: 1700000001000000042}
	ev := <-out
	want := Event{Time: time.Unix(0, 1700000001000000042), Type: "container", Action: "start", ID: "abc", Attributes: map[string]string{"name": "web"}}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if gotOpts.Since != "1700000000.123456789" {
		t.Errorf("Since = %q", gotOpts.Since)
	}
	for _, term := range []string{"type", "event"} {
		if len(gotOpts.Filters[term]) == 0 {
			t.Errorf("no %s filter: %v", term, gotOpts.Filters)
		}
	}
	if !gotOpts.Filters["event"]["destroy"] || !gotOpts.Filters["event"]["disconnect"] || !gotOpts.Filters["type"]["daemon"] {
		t.Errorf("filters %v", gotOpts.Filters)
	}
	errs <- errors.New("unexpected EOF")
	if err := <-errc; err == nil {
		t.Error("stream end: no error")
	}
	if _, ok := <-out; ok {
		t.Error("event channel not closed")
	}

	// Cancelling the caller's context ends the stream with ctx.Err().
	msgs2 := make(chan events.Message)
	api.events = func(ctx context.Context, o client.EventsListOptions) client.EventsResult {
		return client.EventsResult{Messages: msgs2, Err: make(chan error)}
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	_, errc2 := c.Events(ctx2, time.Time{})
	cancel2()
	if err := <-errc2; !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
}

// A pid that is not the container's process (another pid namespace, a reused
// pid) is never used as evidence.
func TestReadProcFactsVerifiesTheContainer(t *testing.T) {
	root := t.TempDir()
	id := strings.Repeat("ab", 32)
	dir := filepath.Join(root, "proc", "4242")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "status"), []byte("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t0\nCapBnd:\t0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::/system.slice/sshd.service\n"), 0o644)
	if pf, err := readProcFacts(root, 4242, id); pf != nil || err == nil || !strings.Contains(err.Error(), "not this container's process") {
		t.Errorf("foreign process: %v, %v", pf, err)
	}
	os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::/system.slice/docker-"+id+".scope\n"), 0o644)
	if pf, err := readProcFacts(root, 4242, id); pf == nil || err != nil || pf.HostUID() != 0 {
		t.Errorf("systemd cgroup: %v, %v", pf, err)
	}
	if _, err := readProcFacts(root, 4243, id); err == nil {
		t.Error("missing process: no error")
	}
	if _, err := readProcFacts(root, 0, id); err == nil {
		t.Error("pid 0: no error")
	}
}
