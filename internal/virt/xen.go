package virt

import (
	"strings"
	"syscall"
)

// xenFeatDom0 is XENFEAT_dom0 (xen/include/public/features.h).
const xenFeatDom0 = 11

// parseXenFeatures reads /sys/hypervisor/properties/features (hex without "0x")
// like systemd's sscanf("%lx"): leading whitespace, an optional sign, an optional
// 0x, then hex digits; ok is false when no digit converts. longBits is the width of
// C's unsigned long on the target (32 on i686/arm/ppc/s390, else 64): a value that
// overflows it reads as ULONG_MAX, which has the dom0 bit set, as glibc does.
func parseXenFeatures(line string, longBits int) (dom0, ok bool) {
	s := strings.TrimLeft(line, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	digitsSeen := false
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		// "0x" with no hex digit after it still converted the "0".
		digitsSeen = true
		s = s[2:]
	}
	var v uint64
	overflow := false
	limit := uint64(1)<<uint(longBits) - 1
	if longBits >= 64 {
		limit = ^uint64(0)
	}
	for len(s) > 0 {
		d, isHex := hexDigit(s[0])
		if !isHex {
			break
		}
		digitsSeen = true
		if v > (limit-uint64(d))/16 {
			overflow = true
		} else {
			v = v*16 + uint64(d)
		}
		s = s[1:]
	}
	if !digitsSeen {
		return false, false
	}
	if overflow {
		v = limit
	} else if neg {
		v = (-v) & limit
	}
	return v&(1<<xenFeatDom0) != 0, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseXenCapabilities splits the first line of /proc/xen/capabilities with
// systemd's extract_first_word(…, ",", 0): commas separate (runs coalesce), a
// backslash takes the next byte literally, quotes are ordinary bytes, and a
// trailing backslash is EINVAL. "control_d" among the words means dom0.
func parseXenCapabilities(line string) (dom0 bool, err error) {
	i := 0
	for {
		for i < len(line) && line[i] == ',' {
			i++
		}
		if i >= len(line) {
			return false, nil
		}
		var word []byte
		for i < len(line) && line[i] != ',' {
			c := line[i]
			if c == '\\' {
				if i+1 >= len(line) {
					return false, syscall.EINVAL
				}
				i++
				c = line[i]
			}
			word = append(word, c)
			i++
		}
		if string(word) == "control_d" {
			return true, nil
		}
	}
}
