// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): datagrams of "KEY=VALUE" lines to the unix socket named by
// $NOTIFY_SOCKET — a path, or an abstract socket written with a leading '@'. The
// agent says READY=1 after its first audit, keeps STATUS= to a one-line summary,
// pings WATCHDOG=1 at half the interval systemd asks for (WATCHDOG_USEC, for our
// pid per WATCHDOG_PID), and says RELOADING=1 / STOPPING=1 around SIGHUP and
// SIGTERM.
//
// It is a few dozen lines over the standard library, so hardend does not take
// github.com/coreos/go-systemd (and its dbus dependencies) for it.
package sdnotify
