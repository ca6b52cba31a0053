package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// This file is the only code in hardend that runs programs (STYLE.md "only one
// place runs programs"): iptables-save, ip6tables-save, iptables-restore and
// ip6tables-restore of one pinned variant, by absolute path, argv only, never a
// shell, every run under a deadline.
//
// Why not github.com/coreos/go-iptables (in go.mod, chosen for this job): every
// write here is one iptables-restore --noflush batch per family, which
// go-iptables does not offer (it runs one iptables process per rule, FAULTS 18);
// its exec.Cmd carries no context, so a wedged iptables blocks the caller
// forever whatever Timeout() says about the xtables lock (FAULTS 12); New() runs
// `iptables --version` without a deadline; it cannot run inside another network
// namespace (the tier-2 tests and a host-mounted deployment need that); and its
// Exists (-C) is the check FAULTS 15 says never to trust. Reading back with
// iptables-save and comparing parsed rules replaces all of it.

// Variant is an iptables variant: the nf_tables one or the legacy xtables one.
// Docker's chains live in exactly one of them (FAULTS 4).
type Variant string

// Variants.
const (
	VariantNFT    Variant = "nft"
	VariantLegacy Variant = "legacy"
)

// Defaults for Config.
const (
	DefaultDir         = "/usr/sbin"
	DefaultNsenter     = "/usr/bin/nsenter"
	DefaultExecTimeout = 20 * time.Second
	DefaultLockWait    = 5 * time.Second
	DefaultRetries     = 2
	DefaultBackoff     = 250 * time.Millisecond
)

// Errors callers decide on.
var (
	// ErrMissingBinary: an iptables program of the chosen variant is not there.
	ErrMissingBinary = errors.New("iptables program missing")
	// ErrLocked: another program held the xtables lock for longer than the
	// bounded wait, on every attempt (iptables exit status 4).
	ErrLocked = errors.New("xtables lock held by another program")
)

// Config chooses and pins the iptables programs the backend runs.
type Config struct {
	// Variant is required: "nft" or "legacy" (Detect says which one holds
	// Docker's chains).
	Variant Variant
	// Dir holds the programs (iptables-nft-save, ip6tables-legacy-restore, ...);
	// absolute; default /usr/sbin. Nothing is looked up on $PATH.
	Dir string
	// Netns, when set, is the path of a network namespace (/run/netns/NAME) the
	// programs run in (under nsenter --net) and the conntrack netlink socket is
	// opened in. "" = the caller's own namespace, the production case.
	Netns string
	// Nsenter is nsenter's absolute path, used only with Netns.
	Nsenter string
	// ExecTimeout bounds every program run (default 20 s).
	ExecTimeout time.Duration
	// LockWait is iptables-restore's --wait for the xtables lock per attempt
	// (whole seconds, at least 1; default 5 s). Only iptables-legacy has the
	// lock; iptables-nft accepts and ignores the flag.
	LockWait time.Duration
	// Retries is how many more attempts a write gets when the lock was still
	// held (0 = the default 2, negative = none); Backoff the pause before the
	// first retry, doubled for each further one (default 250 ms). A write thus
	// gives up after about (Retries+1)·LockWait plus the backoffs: bounded.
	Retries int
	Backoff time.Duration
}

func (c Config) withDefaults() Config {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.Nsenter == "" {
		c.Nsenter = DefaultNsenter
	}
	if c.ExecTimeout <= 0 {
		c.ExecTimeout = DefaultExecTimeout
	}
	if c.LockWait <= 0 {
		c.LockWait = DefaultLockWait
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	return c
}

// Hooks are test points inside Apply. Production leaves them nil.
type Hooks struct {
	// BetweenFamilies runs after the IPv4 batch was written and before the IPv6
	// one. The agent's crash test (FAULTS 14) SIGKILLs the process here and
	// asserts that the next start converges without duplicating a rule.
	BetweenFamilies func()
}

// Backend runs the iptables programs of one variant. It is safe for use by one
// goroutine at a time (the agent's reconcile loop).
type Backend struct {
	cfg   Config
	tools map[tool]string // absolute paths
	// Hooks are test points; see Hooks.
	Hooks Hooks
}

type tool int

const (
	save4 tool = iota
	save6
	restore4
	restore6
)

func (t tool) program(v Variant) string {
	switch t {
	case save4:
		return "iptables-" + string(v) + "-save"
	case save6:
		return "ip6tables-" + string(v) + "-save"
	case restore4:
		return "iptables-" + string(v) + "-restore"
	default:
		return "ip6tables-" + string(v) + "-restore"
	}
}

func saveTool(f iptsave.Family) tool {
	if f == iptsave.IPv6 {
		return save6
	}
	return save4
}

func restoreTool(f iptsave.Family) tool {
	if f == iptsave.IPv6 {
		return restore6
	}
	return restore4
}

// NewBackend pins the four programs of cfg.Variant under cfg.Dir and checks that
// each is there and executable, so that a missing binary is a clear error at
// start rather than a failed reconcile later.
func NewBackend(cfg Config) (*Backend, error) {
	cfg = cfg.withDefaults()
	if cfg.Variant != VariantNFT && cfg.Variant != VariantLegacy {
		return nil, fmt.Errorf("firewall backend: variant %q: want %q or %q", cfg.Variant, VariantNFT, VariantLegacy)
	}
	if !filepath.IsAbs(cfg.Dir) {
		return nil, fmt.Errorf("firewall backend: program directory %q is not absolute", cfg.Dir)
	}
	b := &Backend{cfg: cfg, tools: map[tool]string{}}
	for _, t := range []tool{save4, save6, restore4, restore6} {
		p := filepath.Join(cfg.Dir, t.program(cfg.Variant))
		if err := checkExecutable(p); err != nil {
			return nil, fmt.Errorf("firewall backend (%s): %w", cfg.Variant, err)
		}
		b.tools[t] = p
	}
	if cfg.Netns != "" {
		if !filepath.IsAbs(cfg.Nsenter) {
			return nil, fmt.Errorf("firewall backend: nsenter path %q is not absolute", cfg.Nsenter)
		}
		if err := checkExecutable(cfg.Nsenter); err != nil {
			return nil, fmt.Errorf("firewall backend: %w", err)
		}
		if _, err := os.Stat(cfg.Netns); err != nil {
			return nil, fmt.Errorf("firewall backend: network namespace: %w", err)
		}
	}
	return b, nil
}

// Variant is the iptables variant the backend is pinned to.
func (b *Backend) Variant() Variant { return b.cfg.Variant }

func checkExecutable(p string) error {
	st, err := os.Stat(p) // follows the Debian alternatives / multi-call symlinks
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMissingBinary, p, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%w: %s is not an executable file", ErrMissingBinary, p)
	}
	return nil
}

// ExecError is a program that ran and failed (or was killed at its deadline).
type ExecError struct {
	Argv     []string
	ExitCode int // -1 when it did not exit normally
	Stderr   string
	Err      error
}

func (e *ExecError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 400 {
		msg = msg[:400] + "..."
	}
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("%s: exit %d: %s", strings.Join(e.Argv, " "), e.ExitCode, msg)
}

func (e *ExecError) Unwrap() error { return e.Err }

// locked reports iptables' "Another app is currently holding the xtables
// lock" (exit status 4, RESOURCE_PROBLEM).
func (e *ExecError) locked() bool {
	return e.ExitCode == 4 && strings.Contains(e.Stderr, "xtables lock")
}

// run runs one pinned program with args and stdin under the exec deadline and
// returns its stdout.
func (b *Backend) run(ctx context.Context, t tool, args []string, stdin []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ExecTimeout)
	defer cancel()
	argv := append([]string{b.tools[t]}, args...)
	if b.cfg.Netns != "" {
		argv = append([]string{b.cfg.Nsenter, "--net=" + b.cfg.Netns, "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// A fixed environment: the C locale keeps error texts stable; PATH only for
	// the modprobe iptables may start to load a match module.
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (deadline %s)", ctx.Err(), b.cfg.ExecTimeout)
		}
		return stdout.Bytes(), &ExecError{Argv: argv, ExitCode: code, Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// save runs (ip6)iptables-save, of one table or (table "") of all.
func (b *Backend) save(ctx context.Context, fam iptsave.Family, table string) ([]byte, error) {
	var args []string
	if table != "" {
		args = []string{"-t", table}
	}
	return b.run(ctx, saveTool(fam), args, nil)
}

// restore writes one batch with iptables-restore --noflush: every line of it
// commits atomically or not at all. When the xtables lock is held it waits at
// most LockWait per attempt and retries with backoff; then it gives up with
// ErrLocked, having written nothing.
func (b *Backend) restore(ctx context.Context, fam iptsave.Family, batch []byte) error {
	wait := int(b.cfg.LockWait / time.Second)
	if wait < 1 {
		wait = 1
	}
	args := []string{"--noflush", "--wait", strconv.Itoa(wait)}
	backoff := b.cfg.Backoff
	var err error
	for attempt := 0; attempt <= b.cfg.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s restore: %w (after %v)", fam, ctx.Err(), err)
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		_, err = b.run(ctx, restoreTool(fam), args, batch)
		var ee *ExecError
		if err == nil || !errors.As(err, &ee) || !ee.locked() {
			break
		}
		err = fmt.Errorf("%w: %w", ErrLocked, err)
	}
	if err != nil {
		return fmt.Errorf("%s restore (%d attempts): %w", fam, b.cfg.Retries+1, err)
	}
	return nil
}

// Detection is what both iptables variants hold (FAULTS 4): the IPv4 dumps of
// iptables-legacy-save and iptables-nft-save, and which of them holds Docker's
// chains. The HD-NET-004 check reads it; the agent pins its Backend to Variant.
type Detection struct {
	Legacy, NFT       *iptsave.Ruleset // nil when that variant could not be read
	LegacyErr, NFTErr error            // why it could not (a missing binary, a parse error)
	// Variant is the variant holding Docker's chains; "" when Err is set.
	Variant Variant
	Err     error // ErrBothVariants, ErrNoDockerChains, or both reads failed
}

// Errors of variant detection.
var (
	ErrBothVariants   = errors.New("docker's chains are in both iptables-legacy and iptables-nft")
	ErrNoDockerChains = errors.New("docker's chains are in neither iptables-legacy nor iptables-nft")
)

// Detect reads the IPv4 rules of both variants (cfg.Variant is ignored) and
// decides which one holds Docker's chains.
func Detect(ctx context.Context, cfg Config) *Detection {
	d := &Detection{}
	read := func(v Variant) (*iptsave.Ruleset, error) {
		c := cfg
		c.Variant = v
		b, err := NewBackend(c)
		if err != nil {
			return nil, err
		}
		out, err := b.save(ctx, iptsave.IPv4, "")
		if err != nil {
			return nil, fmt.Errorf("read %s rules: %w", v, err)
		}
		rs, err := iptsave.Parse(out, iptsave.IPv4)
		if err != nil {
			return nil, fmt.Errorf("parse %s rules: %w", v, err)
		}
		return rs, nil
	}
	d.Legacy, d.LegacyErr = read(VariantLegacy)
	d.NFT, d.NFTErr = read(VariantNFT)
	if d.Legacy == nil && d.NFT == nil {
		d.Err = fmt.Errorf("read iptables rules: legacy: %v; nft: %v", d.LegacyErr, d.NFTErr)
		return d
	}
	d.Variant, d.Err = DetectVariant(d.Legacy, d.NFT)
	return d
}

// DetectVariant decides, from the IPv4 dumps of both variants (nil = not
// readable), which one holds Docker's chains. Pure.
func DetectVariant(legacy, nft *iptsave.Ruleset) (Variant, error) {
	inLegacy, inNFT := hasDockerChains(legacy), hasDockerChains(nft)
	switch {
	case inLegacy && inNFT:
		return "", ErrBothVariants
	case inLegacy:
		return VariantLegacy, nil
	case inNFT:
		return VariantNFT, nil
	}
	return "", ErrNoDockerChains
}

// hasDockerChains: any chain Docker creates in filter or nat, across 20.10..29.
func hasDockerChains(rs *iptsave.Ruleset) bool {
	if rs == nil {
		return false
	}
	for _, c := range []string{"DOCKER", "DOCKER-USER", "DOCKER-FORWARD", "DOCKER-ISOLATION-STAGE-1"} {
		if rs.HasChain("filter", c) {
			return true
		}
	}
	return rs.HasChain("nat", "DOCKER")
}
