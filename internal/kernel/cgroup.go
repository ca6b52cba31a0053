package kernel

import (
	"fmt"
	"strings"

	"github.com/hardend/hardend/internal/check"
)

// Cgroup modes recorded in Facts.Cgroup.
const (
	CgroupV2      = "v2"      // unified: cgroup2 at /sys/fs/cgroup
	CgroupHybrid  = "hybrid"  // v1 controllers, plus cgroup2 elsewhere (/sys/fs/cgroup/unified) for systemd only
	CgroupV1      = "v1"      // legacy: v1 hierarchies only
	CgroupNone    = "none"    // no cgroup mounted where Docker looks
	CgroupUnknown = "unknown" // nothing could be read
)

// cgroupMounts are the mount points of cgroup (v1) and cgroup2 filesystems.
type cgroupMounts struct {
	V1, V2  []string
	Entries int // well-formed mount lines (6 fields): 0 means this was no mount table
}

// parseMountsCgroup finds cgroup and cgroup2 mounts in a proc/<pid>/mounts file
// ("source mountpoint fstype options 0 0"; spaces in paths are octal-escaped).
func parseMountsCgroup(data []byte) cgroupMounts {
	var m cgroupMounts
	eachLine(data, func(line string) {
		f := strings.Fields(line)
		if len(f) != 6 {
			return
		}
		m.Entries++
		switch f[2] {
		case "cgroup2":
			m.V2 = append(m.V2, f[1])
		case "cgroup":
			m.V1 = append(m.V1, f[1])
		}
	})
	return m
}

// mode classifies mounts the way runc and Docker do: only what is at
// /sys/fs/cgroup counts; in hybrid mode they use the v1 controllers.
func (m cgroupMounts) mode() string {
	if contains(m.V2, "/sys/fs/cgroup") {
		return CgroupV2
	}
	v1 := false
	for _, p := range m.V1 {
		if strings.HasPrefix(p, "/sys/fs/cgroup/") {
			v1 = true
		}
	}
	switch {
	case v1 && len(m.V2) > 0:
		return CgroupHybrid
	case v1:
		return CgroupV1
	}
	return CgroupNone
}

// v1Controllers are the v1 hierarchies whose "tasks" file (v1-only) proves the
// legacy layout when no mount table can be read.
var v1Controllers = []string{"memory", "cpu", "cpuset", "pids", "devices", "blkio", "freezer"}

// readCgroup decides the cgroup mode. The mount table of pid 1 comes first: under
// --root /host it is the host's init's view, while proc/self/mounts would be
// hardend's own container's. The sysfs layout is the fallback.
func readCgroup(h hostFS) (mode, evidence string) {
	var why []string
	mountsRead := false // a mount table was read and has no cgroup at /sys/fs/cgroup
	for _, p := range []string{"proc/1/mounts", "proc/self/mounts", "proc/mounts"} {
		b, err := h.readFile(p, limitList)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		m := parseMountsCgroup(b)
		if m.Entries == 0 {
			why = append(why, p+": no mount entries")
			continue
		}
		switch md := m.mode(); md {
		case CgroupV2:
			return md, p + ": cgroup2 mounted at /sys/fs/cgroup (unified hierarchy)"
		case CgroupHybrid:
			return md, fmt.Sprintf("%s: %d cgroup v1 hierarchies under /sys/fs/cgroup and cgroup2 only at %s (hybrid: Docker and runc use the v1 controllers)",
				p, len(m.V1), strings.Join(m.V2, ", "))
		case CgroupV1:
			return md, fmt.Sprintf("%s: %d cgroup v1 hierarchies under /sys/fs/cgroup and no cgroup2 mount", p, len(m.V1))
		}
		why = append(why, p+": no cgroup or cgroup2 mount under /sys/fs/cgroup")
		mountsRead = true
		break
	}
	v1 := ""
	for _, c := range v1Controllers {
		if h.exists("sys/fs/cgroup/" + c + "/tasks") {
			v1 = c
			break
		}
	}
	switch {
	case h.exists("sys/fs/cgroup/cgroup.controllers"):
		return CgroupV2, "sys/fs/cgroup/cgroup.controllers exists (unified hierarchy)"
	case v1 != "" && h.exists("sys/fs/cgroup/unified/cgroup.controllers"):
		return CgroupHybrid, "sys/fs/cgroup/" + v1 + "/tasks (a v1 hierarchy) and sys/fs/cgroup/unified/cgroup.controllers exist (hybrid: Docker and runc use the v1 controllers)"
	case v1 != "":
		return CgroupV1, "sys/fs/cgroup/" + v1 + "/tasks exists (a v1 hierarchy) and no cgroup2 at sys/fs/cgroup"
	}
	why = append(why, "sys/fs/cgroup has neither cgroup.controllers nor a v1 hierarchy")
	if mountsRead {
		return CgroupNone, strings.Join(why, "; ")
	}
	return CgroupUnknown, strings.Join(why, "; ")
}

// User namespace states recorded in Facts.UserNamespaces.
const (
	UserNSAvailable   = "available"
	UserNSDisabled    = "disabled"    // built, but user.max_user_namespaces = 0
	UserNSUnavailable = "unavailable" // not built (or kernel before 3.8)
	UserNSUnknown     = "unknown"
)

// decideUserNS decides whether dockerd (running as root) can create user
// namespaces for userns-remap. Only two things stop root: a kernel without
// CONFIG_USER_NS and user.max_user_namespaces = 0. Debian's
// kernel.unprivileged_userns_clone and Ubuntu's AppArmor userns restriction only
// restrict unprivileged callers, so they are deliberately not read.
func decideUserNS(h hostFS, cfg kconfig, cfgSrc string, rel *release, facts map[string]string) (state, evidence string) {
	max := readSysctl(h, "user.max_user_namespaces")
	if max.Err == nil {
		facts[max.Name] = fmt.Sprint(max.Value)
		if max.Value == 0 {
			return UserNSDisabled, max.Path + " = 0: no user namespace can be created, not even by root"
		}
		if max.Value < 0 {
			return UserNSUnknown, fmt.Sprintf("%s = %d is not a valid limit", max.Path, max.Value)
		}
	}
	built, builtEv := "", ""
	switch {
	case cfg != nil && cfg.tristate("CONFIG_USER_NS") == "y":
		built, builtEv = "y", cfgSrc+": CONFIG_USER_NS=y"
	case cfg != nil:
		return UserNSUnavailable, cfgSrc + ": " + cfg.describe("CONFIG_USER_NS")
	case h.exists("proc/self/ns/user") || h.exists("proc/1/ns/user"):
		built, builtEv = "y", "proc/<pid>/ns/user exists (only kernels with CONFIG_USER_NS have it)"
	case rel != nil && !rel.atLeast(3, 8):
		return UserNSUnavailable, fmt.Sprintf("kernel %s predates usable user namespaces (Linux 3.8)", rel.Raw)
	}
	if built == "" {
		return UserNSUnknown, "cannot tell whether the kernel has user namespaces: no kernel config, no proc/self/ns/user" + maxNote(max)
	}
	switch {
	case max.Err == nil:
		return UserNSAvailable, fmt.Sprintf("%s; %s = %d", builtEv, max.Path, max.Value)
	case max.Absent && rel != nil && !rel.atLeast(4, 9) && rel.vendorNote() == "":
		return UserNSAvailable, builtEv + "; " + max.Path + " does not exist (added in 4.9; no limit before it)"
	}
	return UserNSUnknown, builtEv + ", but the limit is unknown" + maxNote(max)
}

func maxNote(v sysctlValue) string {
	if v.Err != nil {
		return "; " + v.Err.Error()
	}
	return ""
}

// checkIsolation is HD-KERN-006: one result for user namespaces, one for cgroups.
func checkIsolation(userns, usernsEv, cg, cgEv string) []check.Result {
	d := defKERN006
	out := make([]check.Result, 0, 2)
	subj := check.Subject{Kind: check.KindHost, Name: "user_namespaces"}
	switch userns {
	case UserNSAvailable:
		out = append(out, d.Pass(subj, usernsEv))
	case UserNSDisabled:
		out = append(out, d.Fail(subj, "user namespaces are disabled, so Docker's userns-remap (container root mapped to an unprivileged host uid) is impossible: "+usernsEv,
			sysctlRemedy("user.max_user_namespaces", 15000, " (RHEL 7: this is the documented way to enable them).")))
	case UserNSUnavailable:
		out = append(out, d.Fail(subj, "the kernel has no user namespaces, so Docker's userns-remap (container root mapped to an unprivileged host uid) is impossible: "+usernsEv,
			"Boot a kernel built with CONFIG_USER_NS=y (every current distribution kernel is)."))
	default:
		out = append(out, d.Err(subj, usernsEv))
	}

	subj = check.Subject{Kind: check.KindHost, Name: "cgroup"}
	switch cg {
	case CgroupV2:
		out = append(out, d.Pass(subj, cgEv))
	case CgroupHybrid, CgroupV1:
		out = append(out, d.Fail(subj, "containers run on cgroup v1 ("+cgEv+"): no cgroup-v2 features (reliable memory accounting and memory.high, PSI, safe delegation for rootless Docker)",
			"Boot with the unified hierarchy: add systemd.unified_cgroup_hierarchy=1 to GRUB_CMDLINE_LINUX in /etc/default/grub, run `update-grub` "+
				"(RHEL: `grub2-mkconfig -o /boot/grub2/grub.cfg`), reboot. Needs kernel 4.15+ (5.2+ recommended), systemd 226+, Docker 20.10+; "+
				"on RHEL 7 (kernel 3.10) move to a newer OS release."))
	case CgroupNone:
		out = append(out, d.Err(subj, "no cgroup filesystem is mounted at /sys/fs/cgroup, so neither v1 nor v2 is in use (Docker cannot start containers without cgroups): "+cgEv))
	default:
		out = append(out, d.Err(subj, "cgroup layout could not be decided: "+cgEv))
	}
	return out
}
