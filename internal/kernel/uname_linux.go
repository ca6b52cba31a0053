//go:build linux

package kernel

import (
	"errors"
	"syscall"
)

// unameRelease asks the running kernel for its release (uname -r).
func unameRelease() (string, error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "", err
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	if len(b) == 0 {
		return "", errors.New("uname: empty release")
	}
	return string(b), nil
}
