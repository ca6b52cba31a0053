package logship

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// StderrIsJournal reports whether f (normally os.Stderr) is the stream systemd
// connected to the journal: $JOURNAL_STREAM holds its "device:inode"
// (systemd.exec(5)). Then lines may carry "<N>" priority prefixes and need no
// timestamp of their own.
func StderrIsJournal(getenv func(string) string, f *os.File) bool {
	v := getenv("JOURNAL_STREAM")
	dev, ino, ok := strings.Cut(v, ":")
	if !ok || f == nil {
		return false
	}
	d, err1 := strconv.ParseUint(dev, 10, 64)
	i, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && uint64(sys.Dev) == d && uint64(sys.Ino) == i
}
