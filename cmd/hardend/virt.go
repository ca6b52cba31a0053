package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hardend/hardend/internal/virt"
)

// runVirt answers like systemd-detect-virt: the container if there is one, else
// the VM, else "none" (exit 1).
func runVirt(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hardend virt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		vm        = fs.Bool("vm", false, "only detect hardware virtualization")
		container = fs.Bool("container", false, "only detect container virtualization")
		root      = fs.String("root", "/", "read a captured or mounted host root instead of this host")
		arch      = fs.String("arch", "", "architecture of the captured host as uname -m prints it (x86_64, aarch64, ...); default: this machine's")
		sig       = fs.String("cpuid-signature", "", "CPUID leaf 0x40000000 vendor signature of the captured host (e.g. KVMKVMKVM)")
		hvBit     = fs.Bool("cpuid-hypervisor", false, "the captured host's CPUID leaf 1 hypervisor bit was set")
		quiet     = fs.Bool("quiet", false, "print nothing, only set the exit status")
		explain   = fs.Bool("explain", false, "also print the evidence that decided, one line each, on stderr")
	)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: hardend virt [--vm | --container] [--root DIR] [--arch ARCH] [--cpuid-signature S] [--cpuid-hypervisor] [--quiet] [--explain]

Prints the virtualization technology exactly as systemd-detect-virt does, from the same
evidence in the same order: a container if there is one, else a VM, else "none".
Exit status 0 when something was detected, 1 for "none", 2 when it could not be decided
(a source exists but cannot be read) or on bad flags.

Offline analysis of a captured host: --root DIR reads everything below DIR; a capture
holds no CPU, so CPUID is absent unless --cpuid-signature / --cpuid-hypervisor give it.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hardend virt: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *vm && *container {
		fmt.Fprintln(stderr, "hardend virt: --vm and --container are mutually exclusive")
		return exitUsage
	}
	src := virt.Source{Root: *root, Arch: *arch}
	if isSet(fs, "cpuid-signature") || isSet(fs, "cpuid-hypervisor") || *root != "/" {
		// A capture holds no CPU: what is not given is absent, never this machine's.
		src.CPUID = &virt.CPUID{Hypervisor: *hvBit, Signature: strings.TrimRight(*sig, "\x00")}
	}
	det := virt.Detect(src)
	answer, err := det.Default(), det.ContainerErr
	if err == nil && answer == "" {
		err = det.VMErr
	}
	switch {
	case *vm:
		answer, err = det.VM, det.VMErr
	case *container:
		answer, err = det.Container, det.ContainerErr
	}
	if *explain {
		for _, e := range det.Evidence {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
	}
	if err != nil || answer == "" {
		fmt.Fprintf(stderr, "hardend virt: cannot decide: %v\n", err)
		return exitUsage
	}
	if !*quiet {
		fmt.Fprintln(stdout, answer)
	}
	if answer == "none" {
		return 1
	}
	return exitOK
}
