//go:build !linux

package kernel

import "errors"

// unameRelease: only Linux has a kernel release hardend can audit.
func unameRelease() (string, error) { return "", errors.New("uname: not a Linux system") }
