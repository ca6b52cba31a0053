//go:build !linux

package sdnotify

// monotonicUsec has no meaning without systemd.
func monotonicUsec() int64 { return 0 }
