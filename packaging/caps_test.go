//go:build linux

package packaging

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/testenv"
)

// TestCapabilitiesSuffice checks the unit's CapabilityBoundingSet against the
// real code: the same audit, run once with every capability and once confined
// to the unit's bounding set (and no_new_privs), must reach the same verdicts.
// The engine runs containers as a non-root user, one of them on the host
// network, so reading other users' /proc/<pid>/fd and environ is exercised.
func TestCapabilitiesSuffice(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	caps := unitCapabilities(t)
	bin := buildStatic(t)

	// A TCP API listener makes HD-DMN-001 look up which process holds it.
	e := testenv.StartEngine(t, testenv.EngineOptions{Args: []string{"-H", "tcp://127.0.0.1:2375"}})
	e.Docker(t, "run", "-d", "--name", "web", "--user", "1000:1000", "-p", "8080:8080", e.Image, "httpd", "-f", "-p", "8080")
	e.Docker(t, "run", "-d", "--name", "hostnet", "--user", "1000:1000", "--network", "host", e.Image, "httpd", "-f", "-p", "9999")

	e.NS.WaitListening(t, "127.0.0.1:9999")

	audit := func(prefix ...string) report {
		argv := append(prefix, bin, "--check", "--format", "json", "--fail-on", "critical")
		cmd := e.NS.Command(context.Background(), argv...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.Host)
		return runReport(t, cmd)
	}
	full := audit()
	bounding := "-all"
	for _, c := range caps {
		bounding += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	confined := audit("setpriv", "--bounding-set", bounding, "--inh-caps", "-all", "--no-new-privs", "--")
	if diff := cmp.Diff(allVerdicts(full), allVerdicts(confined)); diff != "" {
		t.Errorf("with only %v the audit reaches other verdicts (-all capabilities +unit's bounding set):\n%s", caps, diff)
	}
}

// unitCapabilities is the unit's CapabilityBoundingSet.
func unitCapabilities(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CapabilityBoundingSet=(.+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("hardend.service has no CapabilityBoundingSet=")
	}
	return strings.Fields(string(m[1]))
}

// allVerdicts maps every result (check ID and subject) to its status, with the
// evidence of results that are not passes, so a difference says why.
func allVerdicts(r report) []string {
	var v []string
	for _, res := range r.Results {
		line := fmt.Sprintf("%s %s/%s/%s: %s", res.ID, res.Subject.Kind, res.Subject.ID, res.Subject.Name, res.Status)
		if res.Status == "error" || res.Status == "skip" {
			line += " (" + res.Evidence + ")"
		}
		v = append(v, line)
	}
	sort.Strings(v)
	return v
}
