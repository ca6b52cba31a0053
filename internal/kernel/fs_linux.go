//go:build linux

package kernel

import "syscall"

// openFlags: O_NONBLOCK makes opening a FIFO planted in a hostile tree return at
// once (readOpen then rejects it as not a regular file) instead of blocking until a
// writer appears; regular, proc and sysfs files ignore it.
const openFlags = syscall.O_NONBLOCK | syscall.O_CLOEXEC
