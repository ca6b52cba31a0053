//go:build linux

package firewall

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardend/hardend/internal/check"
	"github.com/hardend/hardend/internal/firewall/iptsave"
	"github.com/hardend/hardend/internal/testenv"
)

// Tier 2: the real kernel firewall in a network namespace per test, with both
// iptables variants, and a Docker 20.10 rule set loaded as the baseline (no
// Docker needed).

const fixtures = "../../../shared/fixtures/iptables"

var variants = []Variant{VariantNFT, VariantLegacy}

// netnsFixture is one namespace holding a baseline rule set.
type netnsFixture struct {
	ns      *testenv.Netns
	v       Variant
	b       *Backend
	base4   string // the baseline files loaded
	base6   string
	before4 string // iptables-save right after loading the baseline (normalized)
	before6 string
}

// newNetnsFixture makes a namespace, loads the baseline (IPv4 and IPv6 dumps of
// a fixture; "" = none) with the variant's restore, and pins a backend to it.
func newNetnsFixture(t *testing.T, v Variant, base4, base6 string) *netnsFixture {
	t.Helper()
	testenv.RequireRoot(t)
	ns := testenv.NewNetns(t)
	f := &netnsFixture{ns: ns, v: v, base4: base4, base6: base6}
	if base4 != "" {
		f.restoreFile(t, iptsave.IPv4, base4)
	}
	if base6 != "" {
		f.restoreFile(t, iptsave.IPv6, base6)
	}
	b, err := NewBackend(Config{Variant: v, Netns: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	f.before4, f.before6 = f.save(t)
	return f
}

func (f *netnsFixture) bin(fam iptsave.Family, suffix string) string {
	p := "iptables"
	if fam == iptsave.IPv6 {
		p = "ip6tables"
	}
	return filepath.Join(DefaultDir, p+"-"+string(f.v)+suffix)
}

// restoreFile loads a whole dump (flushing what is there: a firewall reload).
func (f *netnsFixture) restoreFile(t *testing.T, fam iptsave.Family, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return
	}
	cmd := f.ns.Command(context.Background(), f.bin(fam, "-restore"))
	cmd.Stdin = strings.NewReader(string(data))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("load %s: %v: %s", file, err, out)
	}
}

// iptables runs the variant's iptables (or ip6tables) with args in the namespace.
func (f *netnsFixture) iptables(t *testing.T, fam iptsave.Family, args ...string) {
	t.Helper()
	f.ns.Run(t, append([]string{f.bin(fam, "")}, args...)...)
}

var countersRe = regexp.MustCompile(`\[\d+:\d+\]`)

// save returns both families' dumps, normalized: no "# Generated/Completed"
// lines, counters zeroed.
func (f *netnsFixture) save(t *testing.T) (string, string) {
	t.Helper()
	norm := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "# Generated") || strings.HasPrefix(l, "# Completed") {
				continue
			}
			out = append(out, countersRe.ReplaceAllString(l, "[0:0]"))
		}
		return strings.Join(out, "\n")
	}
	return norm(f.ns.Run(t, f.bin(iptsave.IPv4, "-save"))), norm(f.ns.Run(t, f.bin(iptsave.IPv6, "-save")))
}

// dropEmptyTables removes tables that hold only built-in chains on ACCEPT and no
// rule: iptables cannot delete a table, and such a table filters exactly like
// no table (see Reset).
func dropEmptyTables(dump string) string {
	var out, block []string
	empty := true
	for _, l := range strings.Split(dump, "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			block, empty = []string{l}, true
		case block != nil && l == "COMMIT":
			block = append(block, l)
			if !empty {
				out = append(out, block...)
			}
			block = nil
		case block != nil:
			block = append(block, l)
			if strings.HasPrefix(l, "-") || (strings.HasPrefix(l, ":") && !strings.Contains(l, " ACCEPT ")) {
				empty = false
			}
		default:
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (f *netnsFixture) read(t *testing.T) *Rules {
	t.Helper()
	r, err := f.b.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *netnsFixture) apply(t *testing.T, p *Plan) *ApplyResult {
	t.Helper()
	res, err := f.b.Apply(context.Background(), p, f.read(t))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func mustPlan(t *testing.T, in PlanInput) *Plan {
	t.Helper()
	p, err := NewPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func d2010Baseline() (string, string) {
	return filepath.Join(fixtures, "d20.10-default.iptables.txt"), filepath.Join(fixtures, "d20.10-default.ip6tables.txt")
}

func d2010Plan(t *testing.T) *Plan {
	return mustPlan(t, PlanInput{Workloads: baseWorkloads, Interfaces: hostIfaces, Firewall: internalDBs, Docker: docker2010})
}

func forEachVariant(t *testing.T, fn func(t *testing.T, v Variant)) {
	for _, v := range variants {
		t.Run(string(v), func(t *testing.T) { fn(t, v) })
	}
}

// chainText is the kernel's rules of one of hardend's chains, as read back.
func chainText(t *testing.T, r *Rules, fam iptsave.Family, chain string) []string {
	t.Helper()
	got, _ := chainRules(r.family(fam), "filter", chain)
	return got
}

func TestApplyReadBackIdempotent(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		p := d2010Plan(t)
		res := f.apply(t, p)
		if diff := cmp.Diff([]iptsave.Family{iptsave.IPv4, iptsave.IPv6}, res.Written); diff != "" {
			t.Errorf("first apply wrote (-want +got):\n%s", diff)
		}
		after := f.read(t)
		for _, fam := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
			for _, c := range p.Family(fam).Chains {
				if diff := cmp.Diff(c.Rules, chainText(t, after, fam, c.Name)); diff != "" {
					t.Errorf("%s %s read back (-plan +kernel):\n%s", fam, c.Name, diff)
				}
			}
		}
		// The jump is the first rule of DOCKER-USER, above Docker's RETURN.
		du, _ := chainRules(after.V4, "filter", "DOCKER-USER")
		if len(du) == 0 || du[0] != jumpRule("DOCKER-USER", ChainForward) {
			t.Errorf("DOCKER-USER = %q, want hardend's jump first", du)
		}
		if d := Inspect(p, after); !d.Clean() {
			t.Errorf("after apply: %+v", d)
		}
		s4, s6 := f.save(t)
		// Second apply: nothing changed, nothing written, not a byte moved.
		res2 := f.apply(t, p)
		if len(res2.Written) != 0 || !res2.Changes.Empty() || len(res2.Changes.Deletions) != 0 {
			t.Errorf("second apply wrote %v, changes:\n%s", res2.Written, res2.Changes.Render())
		}
		a4, a6 := f.save(t)
		if a4 != s4 || a6 != s6 {
			t.Errorf("second apply changed the rule set:\n%s", cmp.Diff(s4+s6, a4+a6))
		}
	})
}

func TestDriftFlushDockerUser(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		p := d2010Plan(t)
		f.apply(t, p)
		f.iptables(t, iptsave.IPv4, "-F", "DOCKER-USER")
		d, err := f.b.Drift(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if !hasProblem(d, iptsave.IPv4, ProblemJumpMissing) {
			t.Fatalf("drift after `iptables -F DOCKER-USER` = %+v, want jump-missing", d.Problems)
		}
		res := f.apply(t, p)
		if diff := cmp.Diff([]iptsave.Family{iptsave.IPv4}, res.Written); diff != "" {
			t.Errorf("repair wrote (-want +got):\n%s", diff)
		}
		// The batch inserts only the jump: the chain itself was intact.
		if want := "*filter\n" + insertJump("DOCKER-USER", ChainForward) + "\nCOMMIT\n"; res.Changes.V4 != want {
			t.Errorf("repair batch = %q, want %q", res.Changes.V4, want)
		}
		if d, _ := f.b.Drift(context.Background(), p); !d.Clean() {
			t.Errorf("after repair: %+v", d)
		}
	})
}

func TestDriftFirewallReload(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		p := d2010Plan(t)
		f.apply(t, p)
		// A reload: the saved rule set restored over everything (no --noflush).
		f.restoreFile(t, iptsave.IPv4, b4)
		d, err := f.b.Drift(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if !hasProblem(d, iptsave.IPv4, ProblemChainMissing) || !hasProblem(d, iptsave.IPv4, ProblemJumpMissing) {
			t.Fatalf("drift after a reload = %+v, want chain and jump missing", d.Problems)
		}
		if hasProblemFam(d, iptsave.IPv6) {
			t.Errorf("IPv6 was not reloaded, yet drift says %+v", d.Problems)
		}
		f.apply(t, p)
		if d, _ := f.b.Drift(context.Background(), p); !d.Clean() {
			t.Errorf("after repair: %+v", d)
		}
	})
}

func TestForeignRuleAboveJumpIsReportedNotTouched(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		p := d2010Plan(t)
		f.apply(t, p)
		f.iptables(t, iptsave.IPv4, "-I", "DOCKER-USER", "1", "-j", "ACCEPT")
		// A harmless foreign rule above: a LOG, and a DROP.
		f.iptables(t, iptsave.IPv4, "-I", "DOCKER-USER", "1", "-s", "198.51.100.0/24", "-j", "DROP")
		s4, s6 := f.save(t)
		d, err := f.b.Drift(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if d.Drifted() {
			t.Errorf("a foreign rule above the jump is not drift of hardend's own rules: %+v", d.Problems)
		}
		want := []Shadow{{Family: iptsave.IPv4, Chain: "DOCKER-USER", Over: ChainForward, Rule: "-A DOCKER-USER -j ACCEPT"}}
		if diff := cmp.Diff(want, d.Shadows); diff != "" {
			t.Errorf("shadows (-want +got):\n%s", diff)
		}
		res := f.apply(t, p)
		if len(res.Written) != 0 {
			t.Errorf("apply fought the foreign rule: wrote %v:\n%s", res.Written, res.Changes.Render())
		}
		if a4, a6 := f.save(t); a4 != s4 || a6 != s6 {
			t.Errorf("apply changed the rule set:\n%s", cmp.Diff(s4+s6, a4+a6))
		}
		results := Net005Results(Net005Input{Plan: p, Rules: f.read(t), Enforce: true})
		if len(results) != 1 || results[0].Status != check.Fail || results[0].Subject != subjShadowed ||
			!strings.Contains(results[0].Evidence, "-A DOCKER-USER -j ACCEPT") {
			t.Errorf("HD-NET-005 = %+v, want one fail naming the foreign rule", results)
		}
	})
}

func TestCrashBetweenFamiliesConverges(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		p := d2010Plan(t)
		// The "crash": the hook aborts Apply between the two writes, as a
		// SIGKILL of the agent would (nothing of Apply runs after it).
		type crash struct{}
		f.b.Hooks.BetweenFamilies = func() { panic(crash{}) }
		func() {
			defer func() {
				if r := recover(); r != (crash{}) {
					t.Fatalf("apply did not reach the hook: %v", r)
				}
			}()
			f.b.Apply(context.Background(), p, f.read(t))
		}()
		mid := f.read(t)
		if d := Inspect(p, mid); hasProblemFam(d, iptsave.IPv4) || !hasProblemFam(d, iptsave.IPv6) {
			t.Fatalf("after the crash want IPv4 done and IPv6 missing, got %+v", d.Problems)
		}
		// Restart: a new backend adopts what is there and writes only IPv6.
		b2, err := NewBackend(Config{Variant: v, Netns: f.ns.Path})
		if err != nil {
			t.Fatal(err)
		}
		res, err := b2.Apply(context.Background(), p, mid)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]iptsave.Family{iptsave.IPv6}, res.Written); diff != "" {
			t.Errorf("restart wrote (-want +got):\n%s", diff)
		}
		after := f.read(t)
		if d := Inspect(p, after); !d.Clean() {
			t.Errorf("not converged: %+v", d)
		}
		for _, fam := range []iptsave.Family{iptsave.IPv4, iptsave.IPv6} {
			if n := len(jumpsInto(after.family(fam), "filter", ChainForward)); fam == iptsave.IPv4 && n != 1 {
				t.Errorf("%s: %d jumps into %s, want 1", fam, n, ChainForward)
			}
		}
	})
}

func TestAdoptLeftoversNeverDuplicates(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		p := d2010Plan(t)
		// Leftovers of an older hardend: garbage in HARDEND-FORWARD, two jumps
		// (one appended, one without comment), and a chain the plan no longer
		// has, jumped to from FORWARD.
		f.iptables(t, iptsave.IPv4, "-N", ChainForward)
		f.iptables(t, iptsave.IPv4, "-A", ChainForward, "-p", "tcp", "--dport", "80", "-j", "DROP")
		f.iptables(t, iptsave.IPv4, "-A", "DOCKER-USER", "-j", ChainForward)
		f.iptables(t, iptsave.IPv4, "-I", "DOCKER-USER", "1", "-m", "comment", "--comment", commentJump, "-j", ChainForward)
		f.iptables(t, iptsave.IPv4, "-I", "DOCKER-USER", "1", "-m", "comment", "--comment", commentJump, "-j", ChainForward)
		f.iptables(t, iptsave.IPv4, "-N", "HARDEND-OLD")
		f.iptables(t, iptsave.IPv4, "-A", "HARDEND-OLD", "-j", "DROP")
		f.iptables(t, iptsave.IPv4, "-I", "FORWARD", "1", "-j", "HARDEND-OLD")
		f.apply(t, p)
		after := f.read(t)
		if d := Inspect(p, after); !d.Clean() {
			t.Errorf("not converged: %+v", d)
		}
		du, _ := chainRules(after.V4, "filter", "DOCKER-USER")
		want := []string{jumpRule("DOCKER-USER", ChainForward), "-A DOCKER-USER -j RETURN"}
		if diff := cmp.Diff(want, du); diff != "" {
			t.Errorf("DOCKER-USER (-want +got):\n%s", diff)
		}
		if after.V4.HasChain("filter", "HARDEND-OLD") {
			t.Error("stale chain HARDEND-OLD survived")
		}
		fwd, _ := chainRules(after.V4, "filter", "FORWARD")
		if strings.Contains(strings.Join(fwd, "\n"), "HARDEND-OLD") {
			t.Errorf("jump to the stale chain survived: %q", fwd)
		}
	})
}

func TestResetRestoresBaseline(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		p := d2010Plan(t)
		f.apply(t, p)
		// A dry run of the reset changes nothing and says what it would do.
		m4, m6 := f.save(t)
		dry, err := f.b.Reset(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(dry.V4, "-D DOCKER-USER "+strings.TrimPrefix(jumpRule("DOCKER-USER", ChainForward), "-A DOCKER-USER ")) || !strings.Contains(dry.V6, "-X "+ChainInput) {
			t.Errorf("reset dry run:\n%s", dry.Render())
		}
		if a4, a6 := f.save(t); a4 != m4 || a6 != m6 {
			t.Errorf("reset dry run changed the rule set:\n%s", cmp.Diff(m4+m6, a4+a6))
		}
		if _, err := f.b.Reset(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		a4, a6 := f.save(t)
		if diff := cmp.Diff(f.before4, a4); diff != "" {
			t.Errorf("IPv4 after reset differs from the baseline (-before +after):\n%s", diff)
		}
		// ip6tables had no table before hardend; its now-empty filter table
		// stays (iptables cannot delete a table) and filters like none.
		if diff := cmp.Diff(dropEmptyTables(f.before6), dropEmptyTables(a6)); diff != "" {
			t.Errorf("IPv6 after reset differs from the baseline (-before +after):\n%s", diff)
		}
		// A second reset finds nothing.
		res, err := f.b.Reset(context.Background(), false)
		if err != nil || len(res.Written) != 0 {
			t.Errorf("second reset: wrote %v, err %v", res.Written, err)
		}
	})
}

func TestDryRunChangesNothing(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		p := d2010Plan(t)
		ch, err := Diff(p, f.read(t))
		if err != nil {
			t.Fatal(err)
		}
		out := ch.Render()
		for _, want := range []string{"iptables-restore --noflush", p.V4.Chains[0].Rules[len(p.V4.Chains[0].Rules)-1],
			"conntrack -D -f ipv4 -p tcp --orig-port-dst 5432"} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run lacks %q:\n%s", want, out)
			}
		}
		if a4, a6 := f.save(t); a4 != f.before4 || a6 != f.before6 {
			t.Errorf("dry run changed the rule set:\n%s", cmp.Diff(f.before4+f.before6, a4+a6))
		}
	})
}

func TestApplyRefuses(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		t.Run("no DOCKER-USER", func(t *testing.T) {
			f := newNetnsFixture(t, v, "", "")
			_, err := f.b.Apply(context.Background(), d2010Plan(t), f.read(t))
			if !errors.Is(err, ErrNoDockerUser) {
				t.Errorf("err = %v, want ErrNoDockerUser", err)
			}
			if a4, a6 := f.save(t); a4 != f.before4 || a6 != f.before6 {
				t.Errorf("refusal wrote:\n%s", cmp.Diff(f.before4+f.before6, a4+a6))
			}
		})
		t.Run("Docker's chains in both variants", func(t *testing.T) {
			b4, b6 := d2010Baseline()
			f := newNetnsFixture(t, v, b4, b6)
			other := &netnsFixture{ns: f.ns, v: VariantLegacy}
			if v == VariantLegacy {
				other.v = VariantNFT
			}
			other.restoreFile(t, iptsave.IPv4, b4)
			before4, before6 := f.save(t)
			_, err := f.b.Apply(context.Background(), d2010Plan(t), f.read(t))
			if !errors.Is(err, ErrBothVariants) {
				t.Errorf("err = %v, want ErrBothVariants", err)
			}
			if a4, a6 := f.save(t); a4 != before4 || a6 != before6 {
				t.Errorf("refusal wrote:\n%s", cmp.Diff(before4+before6, a4+a6))
			}
			det := Detect(context.Background(), Config{Netns: f.ns.Path})
			if !errors.Is(det.Err, ErrBothVariants) {
				t.Errorf("Detect: %v, want ErrBothVariants", det.Err)
			}
		})
		t.Run("nftables firewall backend", func(t *testing.T) {
			b4, b6 := d2010Baseline()
			f := newNetnsFixture(t, v, b4, b6)
			d := docker2010
			d.FirewallBackend = "nftables"
			p := mustPlan(t, PlanInput{Workloads: baseWorkloads, Firewall: internalDBs, Docker: d})
			if _, err := f.b.Apply(context.Background(), p, f.read(t)); !errors.Is(err, ErrNftablesBackend) {
				t.Errorf("err = %v, want ErrNftablesBackend", err)
			}
			if a4, a6 := f.save(t); a4 != f.before4 || a6 != f.before6 {
				t.Errorf("refusal wrote:\n%s", cmp.Diff(f.before4+f.before6, a4+a6))
			}
		})
	})
}

func TestDetectVariant(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		det := Detect(context.Background(), Config{Netns: f.ns.Path})
		if det.Err != nil || det.Variant != v {
			t.Errorf("Detect = %q, %v; want %q", det.Variant, det.Err, v)
		}
	})
}

func TestMissingBinary(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := NewBackend(Config{Variant: VariantNFT, Dir: "/nonexistent/sbin"})
	if !errors.Is(err, ErrMissingBinary) || !strings.Contains(err.Error(), "/nonexistent/sbin/iptables-nft-save") {
		t.Errorf("err = %v, want ErrMissingBinary naming the program", err)
	}
	// A directory holding something that is not an executable.
	dir := t.TempDir()
	for _, n := range []string{"iptables-nft-save", "ip6tables-nft-save", "iptables-nft-restore", "ip6tables-nft-restore"} {
		os.WriteFile(filepath.Join(dir, n), []byte("not a program"), 0o644)
	}
	if _, err := NewBackend(Config{Variant: VariantNFT, Dir: dir}); !errors.Is(err, ErrMissingBinary) {
		t.Errorf("non-executable: err = %v, want ErrMissingBinary", err)
	}
	if _, err := NewBackend(Config{Variant: "iptables"}); err == nil {
		t.Error("unknown variant accepted")
	}
	if _, err := NewBackend(Config{Variant: VariantNFT, Dir: "usr/sbin"}); err == nil {
		t.Error("relative program directory accepted")
	}
}

// TestXtablesLockHeld holds the machine-global legacy xtables lock for a few
// seconds — only here — and asserts a bounded wait, a clear error and no
// partial rule set.
func TestXtablesLockHeld(t *testing.T) {
	b4, b6 := d2010Baseline()
	f := newNetnsFixture(t, VariantLegacy, b4, b6)
	b, err := NewBackend(Config{Variant: VariantLegacy, Netns: f.ns.Path, LockWait: time.Second, Retries: 1, Backoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cur := f.read(t)
	// The lock held the way `flock /run/xtables.lock sleep 30` holds it, but by
	// this process, so that releasing it is certain and immediate.
	lock, err := os.OpenFile("/run/xtables.lock", os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	release := func() { lock.Close() }
	t.Cleanup(release)
	start := time.Now()
	_, err = b.Apply(context.Background(), d2010Plan(t), cur)
	took := time.Since(start)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "xtables lock") {
		t.Errorf("err = %v, want ErrLocked", err)
	}
	if took > 5*time.Second {
		t.Errorf("apply took %v with the lock held: the wait is not bounded", took)
	}
	t.Logf("gave up after %v: %v", took.Round(time.Millisecond), err)
	if a4, a6 := f.save(t); a4 != f.before4 || a6 != f.before6 {
		t.Errorf("partial rule set written:\n%s", cmp.Diff(f.before4+f.before6, a4+a6))
	}
	// Once the lock is free the same apply goes through.
	release()
	if _, err := b.Apply(context.Background(), d2010Plan(t), cur); err != nil {
		t.Errorf("apply after the lock was released: %v", err)
	}
}

func hasProblem(d DriftReport, fam iptsave.Family, kind string) bool {
	for _, p := range d.Problems {
		if p.Family == fam && p.Kind == kind {
			return true
		}
	}
	return false
}

func hasProblemFam(d DriftReport, fam iptsave.Family) bool {
	for _, p := range d.Problems {
		if p.Family == fam {
			return true
		}
	}
	return false
}

// TestInertWhenForwardLacksDockerUserJump: a saved rule set declared
// DOCKER-USER before Docker started, so FORWARD never jumps to it (FAULTS 2).
// Apply writes hardend's rules but says the host is NOT protected.
func TestInertWhenForwardLacksDockerUserJump(t *testing.T) {
	forEachVariant(t, func(t *testing.T, v Variant) {
		b4, b6 := d2010Baseline()
		f := newNetnsFixture(t, v, b4, b6)
		f.iptables(t, iptsave.IPv4, "-D", "FORWARD", "-j", "DOCKER-USER")
		p := d2010Plan(t)
		res, err := f.b.Apply(context.Background(), p, f.read(t))
		if !errors.Is(err, ErrInert) || res == nil || len(res.Written) == 0 {
			t.Fatalf("apply = %+v, %v; want rules written and ErrInert", res, err)
		}
		r := Net005Results(Net005Input{Plan: p, Rules: f.read(t), Enforce: true})
		if len(r) != 1 || r[0].Subject != subjInert || r[0].Status != check.Fail {
			t.Errorf("HD-NET-005 = %+v, want the host reported unprotected", r)
		}
	})
}

// TestGoldenPlansRoundTrip applies every golden plan to a real kernel (both
// variants) and reads it back: each rule form the generator makes is printed
// by iptables-save exactly as planned, so verification can compare bytes.
func TestGoldenPlansRoundTrip(t *testing.T) {
	for _, gc := range goldenCases() {
		p := mustPlan(t, gc.in)
		if p.Refusal != nil {
			continue
		}
		t.Run(gc.name, func(t *testing.T) {
			forEachVariant(t, func(t *testing.T, v Variant) {
				scenario := "d20.10-default"
				if gc.in.Docker.IP6Tables {
					scenario = "d20.10-ipv6"
				}
				f := newNetnsFixture(t, v, filepath.Join(fixtures, scenario+".iptables.txt"), filepath.Join(fixtures, scenario+".ip6tables.txt"))
				f.apply(t, p)
				if d := Inspect(p, f.read(t)); d.Drifted() {
					t.Errorf("read back differs from the plan: %+v", d.Problems)
				}
			})
		})
	}
}
