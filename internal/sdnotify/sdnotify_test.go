package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a real unixgram socket as systemd would and returns the
// NOTIFY_SOCKET value for it and a function reading the next datagram.
func listen(t *testing.T, abstract bool) (string, func() string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	if abstract {
		name = fmt.Sprintf("@hardend-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return name, func() string {
		t.Helper()
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read notification: %v", err)
		}
		return string(buf[:n])
	}
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			sock, next := listen(t, abstract)
			n, err := FromEnv(env("NOTIFY_SOCKET", sock))
			if err != nil || !n.Enabled() {
				t.Fatalf("FromEnv: %v enabled=%v", err, n.Enabled())
			}
			steps := []struct {
				send func() error
				want string
			}{
				{func() error { return n.Ready("12 findings\n(3 high)") }, "READY=1\nSTATUS=12 findings (3 high)"},
				{func() error { return n.Status("degraded: docker unavailable") }, "STATUS=degraded: docker unavailable"},
				{n.Watchdog, "WATCHDOG=1"},
				{n.Stopping, "STOPPING=1"},
			}
			for _, s := range steps {
				if err := s.send(); err != nil {
					t.Fatal(err)
				}
				if got := next(); got != s.want {
					t.Errorf("got %q, want %q", got, s.want)
				}
			}
			if err := n.Reloading(); err != nil {
				t.Fatal(err)
			}
			got := next()
			v, ok := strings.CutPrefix(got, "RELOADING=1\nMONOTONIC_USEC=")
			if usec, err := strconv.ParseInt(v, 10, 64); !ok || err != nil || usec <= 0 {
				t.Errorf("reloading: got %q", got)
			}
		})
	}
}

func TestNotifyDisabled(t *testing.T) {
	n, err := FromEnv(env())
	if err != nil || n.Enabled() {
		t.Fatalf("no NOTIFY_SOCKET: %v enabled=%v", err, n.Enabled())
	}
	if err := n.Ready("x"); err != nil {
		t.Errorf("disabled notifier: %v", err)
	}
	var zero *Notifier
	if err := zero.Watchdog(); err != nil {
		t.Errorf("nil notifier: %v", err)
	}
	if _, err := FromEnv(env("NOTIFY_SOCKET", "vsock:2:1234")); err == nil {
		t.Error("vsock address: want an error")
	}
}

func TestNotifyManagerGone(t *testing.T) {
	n, _ := FromEnv(env("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone")))
	if err := n.Watchdog(); err == nil {
		t.Error("missing socket: want an error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	tests := []struct {
		name    string
		env     func(string) string
		want    time.Duration
		wantErr error
		anyErr  bool
	}{
		{"ours", env("WATCHDOG_USEC", "30000000", "WATCHDOG_PID", "42"), 30 * time.Second, nil, false},
		{"no pid given", env("WATCHDOG_USEC", "500000"), 500 * time.Millisecond, nil, false},
		{"another process", env("WATCHDOG_USEC", "30000000", "WATCHDOG_PID", "7"), 0, ErrNoWatchdog, false},
		{"not set", env(), 0, ErrNoWatchdog, false},
		{"zero", env("WATCHDOG_USEC", "0"), 0, nil, true},
		{"junk", env("WATCHDOG_USEC", "30s"), 0, nil, true},
		{"bad pid", env("WATCHDOG_USEC", "1", "WATCHDOG_PID", "x"), 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WatchdogInterval(tt.env, 42)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("err %v, want %v", err, tt.wantErr)
			case tt.anyErr && err == nil:
				t.Error("want an error")
			case tt.wantErr == nil && !tt.anyErr && err != nil:
				t.Errorf("unexpected error %v", err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
