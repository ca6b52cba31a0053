package virt

import "strings"

// parseOSRelease applies systemd's "official" WSL test to the first line of
// /proc/sys/kernel/osrelease (https://github.com/Microsoft/WSL/issues/423): WSL1
// kernels report "...-Microsoft", WSL2 kernels "...-microsoft-standard-WSL2".
// It returns the line and whether it means WSL.
func parseOSRelease(data []byte) (release string, wsl bool, err error) {
	line, _, err := parseOneLine(data)
	if err != nil {
		return "", false, err
	}
	return line, isWSLRelease(line), nil
}

// isWSLRelease is the test itself, on the first line of the file.
func isWSLRelease(line string) bool {
	return strings.Contains(line, "Microsoft") || strings.Contains(line, "WSL")
}
