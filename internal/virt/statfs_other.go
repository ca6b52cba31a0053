//go:build !linux

package virt

import "syscall"

// statfsType is not available off Linux; the cgroup-namespace test then errors,
// which systemd also ignores.
func statfsType(path string) (int64, error) { return 0, syscall.ENOSYS }
