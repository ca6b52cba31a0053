// Command hardend makes Docker hosts on VPSes safe by default.
//
//	hardend --check     audit once, print a report, exit 0/1/2 (provisioning, CI)
//	hardend             the agent: a systemd service that audits on every Docker
//	                    event and on a timer, logs findings to syslog and, in
//	                    enforce mode, keeps the firewall reconciled
//	hardend virt        what systemd-detect-virt says, from the same evidence
//	hardend firewall    hardend's own rules: status, reset
//
// This file dispatches; each mode has its own file.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version and commit are set at build time:
// -ldflags "-X main.version=0.1.0 -X main.commit=abc1234".
var (
	version = "0.1.0-dev"
	commit  = ""
)

// Exit statuses (PRODUCT.md).
const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2 // could not run: bad flags, bad or unsafe config, an unusable host
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "virt":
			return runVirt(args[1:], stdout, stderr)
		case "firewall":
			return runFirewall(args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, usage)
			return exitOK
		}
	}
	return runMain(args, stdout, stderr)
}

// versionString is "0.1.0 (commit abc1234)", the commit taken from the build
// flags or, for a plain `go build` in a checkout, from Go's VCS stamp.
func versionString() string {
	c := commit
	dirty := false
	if info, ok := debug.ReadBuildInfo(); ok && c == "" {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				c = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		return version
	}
	if dirty {
		c += "-dirty"
	}
	return fmt.Sprintf("%s (commit %s)", version, c)
}

const usage = `hardend makes Docker hosts on VPSes safe by default.

usage:
  hardend --check [--format text|json|sarif] [--fail-on SEVERITY] [--config FILE] [--root DIR]
                  [--remediate [--dry-run]] [--verbose] [--color auto|always|never] [--docker-timeout D]
      audit this host once: virtualization, kernel, Docker daemon, containers, network
      exposure; print a report. --remediate also closes what policy says must be
      closed (hardend's own iptables chains); --dry-run prints the exact rules and
      changes nothing.
      Exit status: 0 nothing at or above the threshold failed, 1 something did,
      2 hardend could not run (bad flags, bad or unsafe config).

  hardend [--config FILE] [--root DIR]
      the agent (run by systemd, Type=notify): audits at start, on every Docker event
      and on a timer; logs findings as they appear and clear (stderr, syslog); in
      enforce mode keeps the firewall reconciled. SIGHUP reloads the policy, SIGTERM
      stops (hardend's rules stay in place).

  hardend virt [--vm | --container] [--root DIR] [--arch ARCH] [--cpuid-signature S] [--cpuid-hypervisor] [--quiet]
      print the virtualization technology exactly as systemd-detect-virt does; exit 0
      when something was detected, 1 for "none".

  hardend firewall status     print hardend's chains and jumps as the kernel holds them
  hardend firewall reset [--dry-run]
      remove every rule and chain hardend added, and nothing else

  hardend --version | --print-default-policy | help

Environment: DOCKER_HOST (default unix:///var/run/docker.sock).
Policy: the embedded default (hardend --print-default-policy) unless --config FILE, which
must be owned by root and not writable by others; unknown keys are errors.
Docs: man hardend, /usr/share/doc/hardend/.
`
