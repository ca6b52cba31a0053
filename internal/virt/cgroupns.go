package virt

import (
	"errors"
	"fmt"
	"io/fs"
)

// Filesystem magics from linux/magic.h.
const (
	cgroup2SuperMagic = 0x63677270
	cgroupSuperMagic  = 0x27e0eb
	tmpfsMagic        = 0x01021994
	sysfsMagic        = 0x62656572
)

// errNoCgroupFS stands for the ENOMEDIUM systemd returns when /sys/fs/cgroup holds
// no cgroup layout it recognizes (systemd then ignores the test, and so do we).
var errNoCgroupFS = errors.New("no recognized cgroup file system")

// cgroup hierarchy layouts as systemd's cg_unified_cached() tells them apart.
const (
	cgUnifiedNone    = iota // legacy v1
	cgUnifiedSystemd        // hybrid: v2 only for the name=systemd hierarchy
	cgUnifiedAll            // pure v2
)

func (p *probe) statfsAt(path string) (int64, error) {
	t, err := p.statfs(p.fs.path(path))
	if err != nil {
		return 0, &fs.PathError{Op: "statfs", Path: p.fs.path(path), Err: err}
	}
	return t, nil
}

// cgUnified is cg_unified_cached(): which cgroup layout is mounted at
// /sys/fs/cgroup, judged by filesystem type.
func (p *probe) cgUnified() (int, error) {
	t, err := p.statfsAt("/sys/fs/cgroup/")
	if err != nil {
		return 0, err
	}
	switch t {
	case cgroup2SuperMagic:
		return cgUnifiedAll, nil
	case tmpfsMagic:
		if u, err := p.statfsAt("/sys/fs/cgroup/unified/"); err == nil && u == cgroup2SuperMagic {
			return cgUnifiedSystemd, nil
		}
		s, err := p.statfsAt("/sys/fs/cgroup/systemd/")
		if err != nil {
			if isNotExist(err) {
				return 0, fmt.Errorf("unsupported cgroup v1 setup, no name=systemd hierarchy: %w", errNoCgroupFS)
			}
			return 0, err
		}
		if s == cgroup2SuperMagic {
			return cgUnifiedSystemd, nil
		}
		return cgUnifiedNone, nil
	case sysfsMagic:
		return 0, fmt.Errorf("no filesystem mounted on %s: %w", p.show("/sys/fs/cgroup"), errNoCgroupFS)
	}
	return 0, fmt.Errorf("unknown filesystem type %#x on %s: %w", t, p.show("/sys/fs/cgroup"), errNoCgroupFS)
}

// runningInCgroupNS is systemd 252's running_in_cgroupns(): without a container
// manager's hint, a process whose /sys/fs/cgroup shows a nested cgroup (v2:
// cgroup.events and cgroup.type present; v1: no release_agent in the name=systemd
// hierarchy) lives in a cgroup namespace, i.e. some container.
func (p *probe) runningInCgroupNS() (bool, string, error) {
	// cg_ns_supported()
	if err := p.fs.access("/proc/self/ns/cgroup"); err != nil {
		if !isNotExist(err) {
			p.unreadable(err)
		}
		return false, "no " + p.show("/proc/self/ns/cgroup") + ": cgroup namespaces unsupported", nil
	}
	unified, err := p.cgUnified()
	if err != nil {
		return false, "", err
	}
	if unified >= cgUnifiedAll {
		if err := p.fs.access("/sys/fs/cgroup/cgroup.events"); err != nil {
			if !isNotExist(err) {
				return false, "", err
			}
			return false, "cgroup v2 without " + p.show("/sys/fs/cgroup/cgroup.events"), nil
		}
		err := p.fs.access("/sys/fs/cgroup/cgroup.type")
		if err == nil {
			return true, "cgroup v2 root " + p.show("/sys/fs/cgroup") + " has cgroup.type, which only nested cgroups have", nil
		}
		if !isNotExist(err) {
			return false, "", err
		}
		if err := p.fs.access("/sys/kernel/cgroup/features"); err != nil {
			if !isNotExist(err) {
				return false, "", err
			}
			return true, "old kernel (no /sys/kernel/cgroup/features) with cgroup.events at the cgroup v2 root: nested", nil
		}
		return false, "cgroup v2 root without cgroup.type: the real root cgroup", nil
	}
	if err := p.fs.access("/sys/fs/cgroup/systemd"); err != nil {
		if !isNotExist(err) {
			return false, "", err
		}
		return false, "cgroup v1 without a name=systemd hierarchy", nil
	}
	if err := p.fs.access("/sys/fs/cgroup/systemd/release_agent"); err != nil {
		if !isNotExist(err) {
			return false, "", err
		}
		return true, "cgroup v1 name=systemd hierarchy without release_agent, which only the root cgroup has", nil
	}
	return false, "cgroup v1 name=systemd hierarchy with release_agent: the root cgroup", nil
}
