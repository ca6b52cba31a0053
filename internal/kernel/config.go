package kernel

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// kconfig is a parsed kernel configuration: symbol ("CONFIG_BRIDGE") to value
// ("y", "m", "n" for "# ... is not set", or the literal value of strings and
// numbers). A symbol missing from the map was not configurable (its dependencies
// were off) and means the same as "n".
type kconfig map[string]string

// tristate returns "y", "m" or "n" for a symbol.
func (c kconfig) tristate(sym string) string {
	switch v := c[sym]; v {
	case "y", "m":
		return v
	}
	return "n"
}

// describe renders a symbol's value for evidence: "CONFIG_X=m", "CONFIG_X is not set".
func (c kconfig) describe(sym string) string {
	v, ok := c[sym]
	switch {
	case !ok:
		return sym + " absent"
	case v == "n":
		return sym + " is not set"
	case v == "y" || v == "m":
		return sym + "=" + v
	}
	return sym + "=" + printable(v)
}

// parseKernelConfig parses a kernel .config: "CONFIG_X=y|m|value" lines and
// "# CONFIG_X is not set" lines (recorded as "n"). Other lines are ignored;
// string values are unquoted.
func parseKernelConfig(data []byte) kconfig {
	// Sized for the usual ~60% of lines being symbols: growing a map of several
	// thousand entries was a third of a live audit's time.
	cfg := make(kconfig, bytes.Count(data, []byte{'\n'})*2/3+8)
	s := string(data)
	for len(s) > 0 {
		var line string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			line, s = s, ""
		}
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			if sym, ok := strings.CutSuffix(rest, " is not set"); ok && validSymbol(sym) {
				cfg[sym] = "n"
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !validSymbol(k) {
			continue
		}
		if strings.HasPrefix(v, `"`) {
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			} else {
				v = strings.Trim(v, `"`)
			}
		}
		cfg[k] = v
	}
	return cfg
}

// validSymbol accepts CONFIG_[A-Za-z0-9_]+.
func validSymbol(s string) bool {
	rest, ok := strings.CutPrefix(s, "CONFIG_")
	if !ok || rest == "" {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// readKernelConfig returns the running kernel's configuration and where it came
// from: proc/config.gz (the running kernel itself, CONFIG_IKCONFIG_PROC), else the
// distribution's copy for this release (boot/config-<release>, Debian/Ubuntu/RHEL;
// lib/modules/<release>/config, Fedora/RHEL 8+). A config that cannot be read in
// full is not used at all: a half-read config would make present options look
// missing. err lists every source tried.
func readKernelConfig(h hostFS, rel string) (kconfig, string, error) {
	var errs []string
	try := func(p string, read func() ([]byte, error)) (kconfig, bool) {
		b, err := read()
		if err == nil {
			cfg := parseKernelConfig(b)
			if len(cfg) > 0 {
				return cfg, true
			}
			err = fmt.Errorf("%s: no CONFIG_ lines", p)
		}
		errs = append(errs, err.Error())
		return nil, false
	}
	if cfg, ok := try("proc/config.gz", func() ([]byte, error) { return h.readGzip("proc/config.gz") }); ok {
		return cfg, "proc/config.gz", nil
	}
	if rel != "" {
		for _, p := range []string{"boot/config-" + rel, "lib/modules/" + rel + "/config"} {
			if cfg, ok := try(p, func() ([]byte, error) { return h.readFile(p, limitConfig) }); ok {
				return cfg, p, nil
			}
		}
	}
	return nil, "", fmt.Errorf("no kernel config (%s)", strings.Join(errs, "; "))
}

// readGzip reads a gzip file (proc/config.gz) with both the compressed input and
// the decompressed output bounded, so neither a huge file nor a gzip bomb costs
// more than the limits.
func (h hostFS) readGzip(rel string) ([]byte, error) {
	f, err := os.OpenFile(h.path(rel), os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	defer f.Close()
	z, err := readOpen(rel, f, limitConfigZ)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	var buf bytes.Buffer
	buf.Grow(min(len(z)*8, limitConfig+1)) // configs inflate ~6-7x: one allocation
	if _, err := buf.ReadFrom(io.LimitReader(zr, limitConfig+1)); err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	b := buf.Bytes()
	if len(b) > limitConfig {
		return nil, fmt.Errorf("%s: decompressed %w (%d bytes)", rel, errTooLarge, limitConfig)
	}
	return b, nil
}
