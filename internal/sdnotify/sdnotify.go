package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier sends notifications to the service manager. The zero value, and a
// Notifier from an environment without NOTIFY_SOCKET, does nothing: hardend runs
// the same way under systemd, in a terminal and in tests.
type Notifier struct {
	addr *net.UnixAddr // nil: not under a notify-aware manager
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET as getenv sees it (os.Getenv in
// production). A value that is neither a path nor an abstract name is an error.
func FromEnv(getenv func(string) string) (*Notifier, error) {
	n := &Notifier{}
	sock := getenv("NOTIFY_SOCKET")
	switch {
	case sock == "":
		return n, nil
	case strings.HasPrefix(sock, "/"), strings.HasPrefix(sock, "@"):
		// Go maps a leading '@' to the abstract namespace (a leading NUL).
		n.addr = &net.UnixAddr{Name: sock, Net: "unixgram"}
		return n, nil
	}
	return n, fmt.Errorf("NOTIFY_SOCKET=%q: want an absolute path or an @abstract name (vsock is not supported)", sock)
}

// Enabled reports whether notifications go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Notify sends one notification: newline-separated KEY=VALUE assignments.
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	// A socket per message, as libsystemd does: nothing to keep open, and a
	// manager that re-created its socket (daemon-reexec) is found again.
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: connect %s: %w", n.addr.Name, err)
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: send to %s: %w", n.addr.Name, err)
	}
	return nil
}

// Ready says start-up is complete (READY=1) with a first status line.
func (n *Notifier) Ready(status string) error {
	return n.Notify("READY=1\nSTATUS=" + oneLine(status))
}

// Status sets the one-line status `systemctl status` shows.
func (n *Notifier) Status(status string) error {
	return n.Notify("STATUS=" + oneLine(status))
}

// Watchdog pings the watchdog.
func (n *Notifier) Watchdog() error { return n.Notify("WATCHDOG=1") }

// Reloading says a configuration reload began; Ready ends it. MONOTONIC_USEC is
// what systemd's Type=notify-reload requires with it (and older managers ignore).
func (n *Notifier) Reloading() error {
	return n.Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10))
}

// Stopping says shutdown began.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// oneLine keeps a status on one line: a newline would start a new assignment.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// ErrNoWatchdog means the service manager asked for no watchdog pings (or asked
// another process for them).
var ErrNoWatchdog = errors.New("no watchdog requested for this process")

// WatchdogInterval returns the watchdog timeout systemd set (WatchdogSec=) when
// it applies to this process: WATCHDOG_USEC, and WATCHDOG_PID absent or equal to
// pid. Ping at half of it, as sd_watchdog_enabled(3) advises.
func WatchdogInterval(getenv func(string) string, pid int) (time.Duration, error) {
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, ErrNoWatchdog
	}
	if p := getenv("WATCHDOG_PID"); p != "" {
		wpid, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("WATCHDOG_PID=%q: %w", p, err)
		}
		if wpid != pid {
			return 0, ErrNoWatchdog
		}
	}
	u, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || u == 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: want a positive number of microseconds", usec)
	}
	return time.Duration(u) * time.Microsecond, nil
}
