//go:build linux

package packaging

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/testenv"
)

// watchedPaths are where the package, its maintainer scripts and systemd's
// enablement machinery put files; the test compares them before and after.
var watchedPaths = []string{
	"/etc/hardend",
	"/etc/systemd/system",
	"/lib/systemd/system",
	"/usr/lib/tmpfiles.d",
	"/usr/sbin",
	"/usr/share/doc/hardend",
	"/usr/share/man/man8",
	"/var/lib/systemd/deb-systemd-helper-enabled",
	"/var/lib/systemd/deb-systemd-helper-masked",
}

// leftAfterRemove is what `dpkg -r` keeps by design until `dpkg -P`: the
// conffile, and the enablement state so that a reinstall keeps the admin's choice.
var leftAfterRemove = []string{
	"/etc/hardend",
	"/etc/hardend/policy.yaml",
	"/etc/systemd/system/multi-user.target.wants/hardend.service",
	"/var/lib/systemd/deb-systemd-helper-enabled/hardend.service.dsh-also",
	"/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/hardend.service",
}

// TestDeb builds the .deb with scripts/build-deb.sh and installs, removes and
// purges it with the real dpkg. dpkg runs inside the test engine's network
// namespace, so the maintainer scripts' `hardend firewall reset` acts on that
// namespace's firewall, never on this machine's. The package does install into
// this machine's file system: it is purged again even when the test fails.
func TestDeb(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"dpkg", "dpkg-query", "systemd-analyze", "deb-systemd-helper", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "hardend").Output(); len(bytes.TrimSpace(out)) > 0 && !bytes.HasPrefix(out, []byte("un")) {
		t.Skipf("a hardend package is already on this machine (dpkg status %q): not touching it", bytes.TrimSpace(out))
	}
	buildStatic(t) // skips while cmd/hardend does not build

	dist := t.TempDir()
	start := time.Now()
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "build-deb.sh"))
	cmd.Env = append(os.Environ(), "HARDEND_DIST="+dist)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/build-deb.sh: %v\n%s", err, stderr.String())
	}
	deb := strings.TrimSpace(string(out))
	t.Logf("built %s in %v", filepath.Base(deb), time.Since(start).Round(time.Millisecond))
	if !regexp.MustCompile(`/hardend_[0-9][0-9A-Za-z.+~]*_amd64\.deb$`).MatchString(deb) {
		t.Fatalf("build-deb.sh printed %q, want .../hardend_<version>_amd64.deb", deb)
	}

	// A namespace with Docker in it, so hardend has something to remediate.
	e := testenv.StartEngine(t, testenv.EngineOptions{})
	// An external interface (the outsider's veth: `interfaces: auto` picks every
	// non-loopback, non-Docker one) and a container publishing a port the default
	// policy calls internal.
	e.Outsider(t)
	e.Docker(t, "run", "-d", "--name", "redis", "-p", "6379:6379", e.Image, "sleep", "3600")
	rulesBefore := ruleset(t, e.NS)
	filesBefore := snapshot(t)

	dpkg := func(args ...string) string {
		t.Helper()
		cmd := e.NS.Command(context.Background(), append([]string{"dpkg"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	t.Cleanup(func() {
		// Whatever happened, leave no package behind. Registered after the engine,
		// so it runs while the namespace still exists.
		if out, _ := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "hardend").Output(); len(bytes.TrimSpace(out)) > 0 && !bytes.HasPrefix(out, []byte("un")) {
			if out, err := e.NS.Command(context.Background(), "dpkg", "-P", "hardend").CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg -P hardend: %v\n%s", err, out)
			}
		}
	})

	dpkg("-i", deb)

	listed := dpkgList(t)
	for _, want := range []string{"/usr/sbin/hardend", "/lib/systemd/system/hardend.service", "/etc/hardend/policy.yaml",
		"/usr/lib/tmpfiles.d/hardend.conf", "/usr/share/man/man8/hardend.8.gz", "/usr/share/doc/hardend/changelog.gz",
		"/usr/share/doc/hardend/checks.md", "/usr/share/doc/hardend/install.md"} {
		if !slices.Contains(listed, want) {
			t.Errorf("dpkg -L hardend lacks %s", want)
		}
		if _, err := os.Lstat(want); err != nil {
			t.Errorf("installed file: %v", err)
		}
	}
	conffiles, _ := exec.Command("dpkg-query", "-W", "-f", "${Conffiles}", "hardend").Output()
	if !bytes.Contains(conffiles, []byte("/etc/hardend/policy.yaml")) {
		t.Errorf("/etc/hardend/policy.yaml is not a conffile: %q", conffiles)
	}
	if st, err := os.Stat("/etc/hardend/policy.yaml"); err == nil && st.Mode().Perm() != 0o644 {
		t.Errorf("/etc/hardend/policy.yaml mode %v, want 0644", st.Mode().Perm())
	}
	if b, err := os.ReadFile("/etc/hardend/policy.yaml"); err == nil {
		want, _ := os.ReadFile(filepath.Join(repoRoot, "internal", "policy", "default.yaml"))
		if !bytes.Equal(b, want) {
			t.Error("installed /etc/hardend/policy.yaml differs from the embedded default policy")
		}
	}
	verify(t, "/lib/systemd/system/hardend.service")
	if out, err := exec.Command("/usr/sbin/hardend", "--version").CombinedOutput(); err != nil {
		t.Errorf("hardend --version: %v\n%s", err, out)
	} else if head, err := exec.Command("git", "-C", repoRoot, "rev-parse", "HEAD").Output(); err == nil &&
		!bytes.Contains(out, bytes.TrimSpace(head)[:7]) {
		t.Errorf("hardend --version = %q, want the commit %s in it", out, bytes.TrimSpace(head)[:7])
	}

	// Let the installed hardend add its rules in the namespace, as an enforcing
	// agent would, so that removal has something to reset.
	pol := filepath.Join(t.TempDir(), "enforce.yaml")
	def, _ := os.ReadFile("/etc/hardend/policy.yaml")
	enforce := bytes.Replace(def, []byte("mode: report"), []byte("mode: enforce"), 1)
	if err := os.WriteFile(pol, enforce, 0o600); err != nil {
		t.Fatal(err)
	}
	rem := e.NS.Command(context.Background(), "/usr/sbin/hardend", "--check", "--remediate", "--config", pol, "--format", "json")
	rem.Env = append(os.Environ(), "DOCKER_HOST="+e.Host)
	remOut, remErr := rem.CombinedOutput()
	rulesRemediated := ruleset(t, e.NS)
	if rulesRemediated == rulesBefore {
		t.Errorf("hardend --check --remediate (enforce policy, port 6379 published on an external interface) added no rule (%v), so removal's firewall reset is not exercised:\n%s", remErr, firstLines(remOut, 20))
	} else {
		t.Logf("hardend --check --remediate added rules:\n%s", cmp.Diff(rulesBefore, rulesRemediated))
	}

	if out := dpkg("-r", "hardend"); strings.Contains(out, "firewall reset' failed") {
		t.Errorf("the prerm's `hardend firewall reset` failed:\n%s", out)
	}
	if diff := cmp.Diff(rulesBefore, ruleset(t, e.NS)); diff != "" {
		t.Errorf("rules left behind after dpkg -r (-before +after):\n%s", diff)
	}
	if pids := hardendProcesses(t); len(pids) > 0 {
		t.Errorf("hardend processes still running after dpkg -r: %v", pids)
	}
	wantAfterRemove := append(slices.Clone(filesBefore), leftAfterRemove...)
	slices.Sort(wantAfterRemove)
	if diff := cmp.Diff(wantAfterRemove, snapshot(t)); diff != "" {
		t.Errorf("files after dpkg -r (-want +got):\n%s", diff)
	}

	dpkg("-P", "hardend")
	if diff := cmp.Diff(filesBefore, snapshot(t)); diff != "" {
		t.Errorf("files left behind after dpkg -P (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(rulesBefore, ruleset(t, e.NS)); diff != "" {
		t.Errorf("rules changed after dpkg -P (-before +after):\n%s", diff)
	}
}

// snapshot lists every file, directory and link under watchedPaths.
func snapshot(t *testing.T) []string {
	t.Helper()
	var list []string
	for _, root := range watchedPaths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			list = append(list, path)
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", root, err)
		}
	}
	slices.Sort(list)
	return list
}

func dpkgList(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("dpkg", "-L", "hardend").Output()
	if err != nil {
		t.Fatalf("dpkg -L hardend: %v", err)
	}
	return strings.Fields(string(out))
}

var counters = regexp.MustCompile(`\[[0-9]+:[0-9]+\]`)

// ruleset is every table of every iptables backend in the namespace, without the
// timestamps and packet counters that change by themselves, and without tables
// that hold no rule at all (only built-in chains with policy ACCEPT): with
// iptables-nft such a table appears as soon as any command touches the family,
// and it filters nothing, exactly like no table.
func ruleset(t *testing.T, ns *testenv.Netns) string {
	t.Helper()
	var b strings.Builder
	for _, tool := range []string{"iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save", "ip6tables-legacy-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		out, err := ns.Output(tool)
		if err != nil {
			t.Fatalf("%s in %s: %v", tool, ns.Name, err)
		}
		b.WriteString("== " + tool + "\n")
		var table []string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "#") || line == "" {
				continue
			}
			table = append(table, counters.ReplaceAllString(line, "[0:0]"))
			if line == "COMMIT" {
				if !emptyTable(table) {
					b.WriteString(strings.Join(table, "\n") + "\n")
				}
				table = nil
			}
		}
		b.WriteString(strings.Join(table, "\n"))
	}
	return b.String()
}

var acceptChain = regexp.MustCompile(`^:[A-Z]+ ACCEPT \[0:0\]$`)

// emptyTable: "*filter", built-in chains with policy ACCEPT, "COMMIT", nothing else.
func emptyTable(lines []string) bool {
	for _, l := range lines {
		if !strings.HasPrefix(l, "*") && l != "COMMIT" && !acceptChain.MatchString(l) {
			return false
		}
	}
	return true
}

// hardendProcesses lists processes running the installed binary.
func hardendProcesses(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, "/usr/sbin/hardend") {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
