//go:build linux

package logship

import "golang.org/x/sys/unix"

// alive peeks at the socket without blocking or consuming anything: a syslog
// receiver never sends, so end-of-file or an error means it closed or reset the
// connection, and the next record would be written into the void.
func (l *link) alive() bool {
	if l.raw == nil {
		return true
	}
	rc, err := l.raw.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case err == unix.EAGAIN || err == unix.EWOULDBLOCK:
		case err != nil:
			alive = false
		case n == 0:
			alive = false
		}
		return true
	})
	return alive && err == nil
}
