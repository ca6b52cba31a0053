package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("fail_on: high\nunknown_key: 1\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--check", "--nope"}, "flag provided but not defined"},
		{"bad format", []string{"--check", "--format", "xml"}, "want text, json or sarif"},
		{"bad fail-on", []string{"--check", "--fail-on", "severe"}, "unknown severity"},
		{"missing config", []string{"--check", "--config", filepath.Join(dir, "absent.yaml")}, "open policy"},
		{"unknown key", []string{"--check", "--config", bad}, "unknown_key"},
		{"dry-run alone", []string{"--check", "--dry-run"}, "--dry-run goes with --remediate"},
		{"check flag without check", []string{"--format", "json"}, "goes with --check"},
		{"firewall without command", []string{"firewall"}, "hardend firewall status"},
		{"firewall unknown command", []string{"firewall", "open"}, "unknown command"},
		{"virt extra argument", []string{"virt", "kvm"}, "unexpected argument"},
		{"bad color", []string{"--check", "--color", "rainbow"}, "want auto, always or never"},
		{"virt both", []string{"virt", "--vm", "--container"}, "mutually exclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runArgs(t, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

func TestCheckJSONOnThisHost(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	code, out, stderr := runArgs(t, "--check", "--format", "json", "--fail-on", "critical")
	if code != 0 && code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Host    map[string]any   `json:"host"`
		Summary map[string]any   `json:"summary"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	if doc.Host["virtualization"] == "" || doc.Host["kernel_release"] == "" {
		t.Errorf("host facts missing: %v", doc.Host)
	}
	areas := map[string]bool{}
	for _, r := range doc.Results {
		areas[r["area"].(string)] = true
		if strings.HasPrefix(r["id"].(string), "HD-CTR-") && r["status"] == "pass" {
			t.Errorf("no Docker daemon, yet %v passed", r["id"])
		}
	}
	for _, a := range []string{"virt", "kernel", "containers"} {
		if !areas[a] {
			t.Errorf("no results for area %s", a)
		}
	}
}

// On the live host, hardend virt answers what systemd-detect-virt answers.
func TestVirtMatchesSystemdDetectVirt(t *testing.T) {
	sdv, err := exec.LookPath("systemd-detect-virt")
	if err != nil {
		t.Skip("systemd-detect-virt not installed")
	}
	for _, flag := range []string{"", "--vm", "--container"} {
		args := []string{}
		if flag != "" {
			args = append(args, flag)
		}
		want, _ := exec.Command(sdv, args...).Output()
		code, got, _ := runArgs(t, append([]string{"virt"}, args...)...)
		if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
			t.Errorf("virt %s: got %q, systemd-detect-virt says %q", flag, got, want)
		}
		if (strings.TrimSpace(got) == "none") != (code == 1) {
			t.Errorf("virt %s: exit %d for %q", flag, code, got)
		}
	}
}
