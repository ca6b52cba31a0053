//go:build !linux

package logship

// alive cannot peek without Linux's recvfrom flags; a dead receiver is then
// noticed on the next write.
func (l *link) alive() bool { return true }
