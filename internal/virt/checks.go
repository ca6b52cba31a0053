package virt

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hardend/hardend/internal/check"
)

var (
	defVIRT001 = check.Definition{ID: "HD-VIRT-001", Area: "virt",
		Title:    "Docker host is a shared-kernel OS container (openvz, lxc, lxc-libvirt, systemd-nspawn, ...)",
		Severity: check.Critical, References: []string{"guide §3"}}
	defVIRT002 = check.Definition{ID: "HD-VIRT-002", Area: "virt",
		Title:    "virtualization unknown / could not be decided",
		Severity: check.Info}
	defVIRT003 = check.Definition{ID: "HD-VIRT-003", Area: "virt",
		Title:    "hardend itself runs inside a container without the host's /proc (results partial)",
		Severity: check.Medium}
)

// Definitions is the virt area's catalogue, HD-VIRT-001..003.
var Definitions = []check.Definition{defVIRT001, defVIRT002, defVIRT003}

// hostKind is what the audited root is, as far as HD-VIRT-001 and -003 care.
type hostKind int

const (
	kindUndecided    hostKind = iota
	kindHost                  // no container: a VM or bare metal
	kindOSContainer           // a shared-kernel OS container: the "VPS" is a container
	kindAppContainer          // an application container (or proot's guest root)
	kindWSL                   // Windows Subsystem for Linux
)

// initNames are PID 1 command names of init systems: a root whose PID 1 is one of
// them boots like an OS; an application container's PID 1 is the application (or
// tini/docker-init/dumb-init, which are not here on purpose).
var initNames = map[string]bool{
	"systemd": true, "init": true, "upstart": true, "openrc-init": true, "runit": true,
	"runit-init": true, "s6-svscan": true, "busybox": true,
}

// classify decides what the audited root is from systemd's answer.
//
// The container ids split as follows:
//   - openvz, lxc, lxc-libvirt, systemd-nspawn boot a whole distribution on the
//     node's kernel: the VPS itself is a container (HD-VIRT-001);
//   - docker, podman, rkt, pouch are application containers: if we see them, hardend
//     looks at its own container's filesystem (HD-VIRT-003), and whether the host
//     underneath is a VPS container cannot be seen from there;
//   - proot is a ptrace-based user-space chroot: hardend then sees a guest root
//     file system, not the host's (HD-VIRT-003);
//   - wsl is a Windows developer machine: WSL2 distributions run in one Hyper-V VM
//     whose kernel belongs to this Windows user alone (no strangers share it), WSL1
//     has no Linux kernel at all; neither is the multi-tenant OS container
//     HD-VIRT-001 is about;
//   - container-other is an unknown manager ($container=crio, zone, ...) or a cgroup
//     namespace: with an application as PID 1 it is an application container (a
//     Kubernetes pod), otherwise (an init, or PID 1 unknown) it is treated as an OS
//     container, which errs on the side of the critical finding.
func classify(d Detection) (hostKind, string) {
	if d.ContainerErr != nil {
		return kindUndecided, "container detection failed: " + d.ContainerErr.Error()
	}
	switch d.Container {
	case "openvz", "lxc", "lxc-libvirt", "systemd-nspawn":
		return kindOSContainer, d.Container
	case "docker", "podman", "rkt", "pouch", "proot":
		return kindAppContainer, d.Container
	case "wsl":
		return kindWSL, d.Container
	case containerOther:
		if d.PID1 != "" && !initNames[d.PID1] {
			return kindAppContainer, fmt.Sprintf("container-other with PID 1 %q, an application rather than an init", d.PID1)
		}
		return kindOSContainer, "container-other (an unrecognized container manager)"
	case none:
		if len(d.ContainerUnsure) > 0 {
			return kindUndecided, "systemd would answer none, but " + strings.Join(d.ContainerUnsure, "; ")
		}
		return kindHost, none
	}
	return kindUndecided, "no container answer"
}

// Checks turns a Detection of the host at root into HD-VIRT-001..003 results.
func Checks(det Detection, root string) []check.Result {
	if root == "" {
		root = det.Root
	}
	if root == "" {
		root = "/"
	}
	return []check.Result{check001(det), check002(det), check003(det, filepath.Clean(root))}
}

// containerEvidence is the container half of the evidence, in systemd's order.
func containerEvidence(d Detection) string {
	return joinEvidence(d, "container: ", d.Container)
}

// joinEvidence joins the evidence lines of one half, without its final one-word
// verdict (which the caller states itself).
func joinEvidence(d Detection, prefix, verdict string) string {
	var parts []string
	for _, e := range d.Evidence {
		if s, ok := strings.CutPrefix(e, prefix); ok && s != verdict {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

func vmSummary(d Detection) string {
	if d.VMErr != nil {
		return "hardware virtualization could not be detected: " + d.VMErr.Error()
	}
	return "hardware virtualization: " + d.VM
}

const remediation001 = "Move the Docker host to a VPS with hardware virtualization (KVM, or Xen HVM/VMware/Hyper-V): " +
	"there it has its own kernel, loads the modules Docker networking needs (bridge, veth, br_netfilter, overlay, " +
	"nf_nat), can run a current kernel, and a kernel panic or exploit stays inside your VM. " +
	"Check before migrating: `systemd-detect-virt` must print a VM name (kvm, qemu, xen, vmware, microsoft, ...), " +
	"not openvz/lxc/systemd-nspawn. Until then, do not treat containers on this host as an isolation boundary."

func check001(d Detection) check.Result {
	kind, why := classify(d)
	switch kind {
	case kindOSContainer:
		ev := fmt.Sprintf("this host is itself a shared-kernel OS container (%s): %s; %s. "+
			"Every tenant of the node runs on the same kernel as this Docker host: Docker here nests containers "+
			"inside a container, cannot load its own kernel modules (bridge, veth and netfilter modules are often "+
			"missing), is stuck with the node's (often old) kernel, shares I/O and memory with noisy neighbours, "+
			"and a kernel panic or kernel exploit anywhere on the node takes down or exposes every tenant, this one included",
			why, containerEvidence(d), vmSummary(d))
		return defVIRT001.Fail(check.Host, ev, remediation001)
	case kindAppContainer:
		return defVIRT001.Skip(check.Host, fmt.Sprintf("hardend sees the application container it runs in (%s), "+
			"not the host; whether the host is a shared-kernel OS container cannot be judged from here (see HD-VIRT-003): %s",
			why, containerEvidence(d)))
	case kindWSL:
		return defVIRT001.Pass(check.Host, fmt.Sprintf("Windows Subsystem for Linux (%s), a developer machine, not a "+
			"multi-tenant OS container: WSL2 distributions share one Hyper-V VM kernel that belongs to this Windows "+
			"user alone (WSL1 has no Linux kernel and cannot run dockerd; the kernel checks show it); %s",
			containerEvidence(d), vmSummary(d)))
	case kindHost:
		return defVIRT001.Pass(check.Host, fmt.Sprintf("not a shared-kernel OS container (systemd-detect-virt --container: none): %s; %s",
			containerEvidence(d), vmSummary(d)))
	}
	reason := "could not decide whether this host is a shared-kernel OS container: " + why
	if len(d.Unreadable) > 0 {
		reason += "; unreadable: " + strings.Join(d.Unreadable, ", ")
	}
	return defVIRT001.Err(check.Host, reason)
}

func check002(d Detection) check.Result {
	var problems []string
	if d.ContainerErr != nil {
		problems = append(problems, "container detection failed (systemd-detect-virt --container would too): "+d.ContainerErr.Error())
	} else if d.Container == none && len(d.ContainerUnsure) > 0 {
		problems = append(problems, "container answer \"none\" rests on missing evidence: "+strings.Join(d.ContainerUnsure, "; "))
	}
	if d.VMErr != nil {
		problems = append(problems, "VM detection failed (systemd-detect-virt --vm would too): "+d.VMErr.Error())
	}
	problems = append(problems, d.VMUnsure...)
	if (d.Container == "" && d.ContainerErr == nil) || (d.VM == "" && d.VMErr == nil) {
		problems = append(problems, "no detection result (the detector did not run)")
	}
	if len(problems) > 0 {
		ev := "virtualization could not be decided: " + strings.Join(problems, "; ")
		if len(d.Unreadable) > 0 {
			ev += "; unreadable: " + strings.Join(d.Unreadable, ", ")
		}
		return defVIRT002.Fail(check.Host, ev, "Run hardend as root on the host itself, or from a container with the "+
			"host's root mounted read-only (-v /:/host:ro) and --root /host, so that /proc/1/environ, "+
			"/sys/class/dmi/id and /sys/firmware/dmi are readable; for a captured tree, include those files.")
	}
	if d.VM == vmOther || d.Container == containerOther {
		return defVIRT002.Fail(check.Host, fmt.Sprintf("virtualization technology unknown to systemd 252 (vm %s, container %s): %s; %s",
			d.VM, d.Container, containerEvidence(d), joinEvidence(d, "vm: ", d.VM)),
			"Identify the platform with the hosting provider; if it is a VM, nothing needs to change. "+
				"If it is a container platform, HD-VIRT-001 applies.")
	}
	return defVIRT002.Pass(check.Host, fmt.Sprintf("decided: systemd-detect-virt would print %s (--vm %s, --container %s)",
		d.Default(), d.VM, d.Container))
}

func check003(d Detection, root string) check.Result {
	kind, why := classify(d)
	app := kind == kindAppContainer
	var markerWhy string
	if len(d.Markers) > 0 && d.PID1 != "" && !initNames[d.PID1] {
		markerWhy = fmt.Sprintf("%s present and PID 1 is %q, not an init system", strings.Join(d.Markers, ", "), d.PID1)
		app = true
	}
	where := "the root file system hardend runs in (/)"
	if root != "/" {
		where = "the tree at " + root
	}
	if app {
		reasons := []string{}
		if kind == kindAppContainer {
			reasons = append(reasons, "systemd-detect-virt --container: "+why)
		}
		if markerWhy != "" {
			reasons = append(reasons, markerWhy)
		}
		ev := fmt.Sprintf("%s is an application container's file system (%s): its /proc, /sys and /etc are the "+
			"container's, not the host's, so the kernel, daemon and network results describe the container and are partial",
			where, strings.Join(reasons, "; "))
		rem := "Run hardend on the host itself (the packaged systemd service), or, if it must run in a container, " +
			"mount the host's root read-only and point hardend at it: " +
			"docker run --rm -v /:/host:ro -v /var/run/docker.sock:/var/run/docker.sock:ro IMAGE --check --root /host"
		if root != "/" {
			rem = fmt.Sprintf("Point --root at the host's root file system, not at a container's (%s looks like a container's root).", root)
		}
		return defVIRT003.Fail(check.Host, ev, rem)
	}
	if kind == kindUndecided && !(len(d.Markers) == 0 && initNames[d.PID1]) {
		return defVIRT003.Err(check.Host, fmt.Sprintf("could not decide whether %s belongs to an application container: %s", where, why))
	}
	pid1 := d.PID1
	if pid1 == "" {
		pid1 = "unknown"
	}
	markers := "no /.dockerenv or /run/.containerenv"
	if len(d.Markers) > 0 {
		markers = strings.Join(d.Markers, ", ") + " present but PID 1 is an init system (a leftover in the image)"
	}
	if root != "/" {
		return defVIRT003.Pass(check.Host, fmt.Sprintf("auditing the host tree mounted at %s, not an application "+
			"container's (container %s, PID 1 %s, %s)", root, d.Container, pid1, markers))
	}
	return defVIRT003.Pass(check.Host, fmt.Sprintf("hardend runs on the host, not inside an application container "+
		"(container %s, PID 1 %s, %s)", d.Container, pid1, markers))
}
