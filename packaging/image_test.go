//go:build linux

package packaging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/testenv"
)

// containerRunArgs are the `docker run` flags docs/install.md documents, in the
// same order; the test runs exactly these.
func containerRunArgs(socket, image string) []string {
	return []string{"run", "--rm", "--network", "host", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges", "--read-only",
		"-v", "/:/host:ro", "-v", socket + ":/var/run/docker.sock:ro",
		image, "--check", "--root", "/host", "--format", "json"}
}

// TestContainerImage builds the FROM scratch image in the test engine, runs the
// documented `--check --root /host` command in it, and compares the host's
// virtualization and kernel facts with those of the same binary run directly on
// this machine (in the engine's network namespace, where the container's host
// network is, since some sysctls are per namespace).
func TestContainerImage(t *testing.T) {
	testenv.RequireRoot(t)
	bin := buildStatic(t) // skips while cmd/hardend does not build

	e := testenv.StartEngine(t, testenv.EngineOptions{})
	ctxDir := t.TempDir()
	copyFile(t, bin, filepath.Join(ctxDir, "hardend"), 0o755)
	image := fmt.Sprintf("hardend-test/hardend:%d", os.Getpid())
	build := exec.Command("docker", "-H", e.Host, "build", "-q", "-f", filepath.Join(repoRoot, "packaging", "Dockerfile"), "-t", image, ctxDir)
	// The classic builder works offline for FROM scratch on Docker 20.10.
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Logf("image built in %v", time.Since(start).Round(time.Millisecond))

	inContainer := runReport(t, exec.Command("docker", append([]string{"-H", e.Host}, containerRunArgs(e.Socket, image)...)...))
	direct := e.NS.Command(context.Background(), bin, "--check", "--format", "json")
	direct.Env = append(os.Environ(), "DOCKER_HOST="+e.Host)
	onHost := runReport(t, direct)

	if diff := cmp.Diff(hostFacts(t, onHost), hostFacts(t, inContainer)); diff != "" {
		t.Errorf("virt/kernel facts differ between the binary on the host and the image with --root /host (-host +container):\n%s", diff)
	}
	if diff := cmp.Diff(verdicts(onHost), verdicts(inContainer)); diff != "" {
		t.Errorf("virt/kernel check results differ (-host +container):\n%s", diff)
	}
}

// report is the part of hardend's JSON report the comparison reads.
type report struct {
	Host    map[string]any `json:"host"`
	Results []struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Subject struct {
			Kind, ID, Name string
		} `json:"subject"`
		Evidence string `json:"evidence"`
	} `json:"results"`
}

// runReport runs a --check --format json command; exit status 1 (findings) is a
// normal outcome, 2 is not.
func runReport(t *testing.T, cmd *exec.Cmd) report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("%s: not a JSON report: %v\n%s", strings.Join(cmd.Args, " "), err, firstLines(stdout.Bytes(), 20))
	}
	return r
}

// hostFacts are the report's virtualization and kernel facts.
func hostFacts(t *testing.T, r report) map[string]any {
	t.Helper()
	facts := map[string]any{}
	for _, k := range []string{"virtualization", "kernel_release", "kernel"} {
		facts[k] = r.Host[k]
	}
	if v, ok := r.Host["virt"].(map[string]any); ok {
		facts["virt.vm"], facts["virt.container"] = v["vm"], v["container"]
	}
	if facts["virtualization"] == nil || facts["kernel_release"] == nil {
		t.Errorf("report lacks host.virtualization or host.kernel_release: %v", r.Host)
	}
	return facts
}

// verdicts maps each virt and kernel result (check ID and subject) to its status.
// HD-VIRT-003 is left out: it is about hardend itself running in a container,
// which is exactly what differs.
func verdicts(r report) []string {
	var v []string
	for _, res := range r.Results {
		if res.ID == "HD-VIRT-003" || !(strings.HasPrefix(res.ID, "HD-VIRT-") || strings.HasPrefix(res.ID, "HD-KERN-")) {
			continue
		}
		v = append(v, fmt.Sprintf("%s %s/%s: %s", res.ID, res.Subject.Kind, res.Subject.Name, res.Status))
	}
	sort.Strings(v)
	return v
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
