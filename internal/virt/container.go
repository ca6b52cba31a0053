package virt

import (
	"fmt"
	"strconv"
	"strings"
)

// containerNames is systemd 252's container_table[]: the $container values it
// knows. Anything else (including "openvz", "crio", "zone" or an empty value read
// from a file) is "container-other".
var containerNames = map[string]bool{
	"lxc": true, "lxc-libvirt": true, "systemd-nspawn": true, "docker": true, "podman": true,
	"rkt": true, "wsl": true, "proot": true, "pouch": true,
}

// detectContainer is systemd 252's detect_container(), step for step. The one
// branch it cannot take is "we are PID 1" (then systemd trusts its own $container):
// systemd-detect-virt is never PID 1 and neither is a reader of a host tree, so we
// always take the non-PID-1 path, as the binary run by hand does.
func (p *probe) detectContainer() (string, error) {
	// /proc/vz exists inside and outside OpenVZ/Virtuozzo containers, /proc/bc only
	// outside (on the hardware node).
	if err := p.fs.access("/proc/vz"); err != nil {
		if !isNotExist(err) {
			p.unreadable(err)
			p.det.ContainerUnsure = append(p.det.ContainerUnsure, "cannot check for OpenVZ: "+errText(err))
			p.note("container: cannot check for OpenVZ (%s), ignored as systemd does", errText(err))
		} else {
			p.note("container: no %s: not OpenVZ/Virtuozzo", p.show("/proc/vz"))
		}
	} else if err := p.fs.access("/proc/bc"); err != nil {
		if isNotExist(err) {
			p.note("container: %s exists and %s does not: inside an OpenVZ/Virtuozzo container", p.show("/proc/vz"), p.show("/proc/bc"))
			return "openvz", nil
		}
		p.unreadable(err)
		p.det.ContainerUnsure = append(p.det.ContainerUnsure, "cannot check for OpenVZ: "+errText(err))
		p.note("container: %s exists but %s cannot be checked (%s), ignored as systemd does", p.show("/proc/vz"), p.show("/proc/bc"), errText(err))
	} else {
		p.note("container: %s and %s exist: an OpenVZ/Virtuozzo hardware node, not a container", p.show("/proc/vz"), p.show("/proc/bc"))
	}

	// WSL's documented marker.
	if line, _, err := p.fs.readOneLineFile("/proc/sys/kernel/osrelease"); err != nil {
		if !isNotExist(err) {
			p.unreadable(err)
		}
		p.note("container: cannot read kernel release (%s), WSL test skipped as systemd does", errText(err))
	} else if isWSLRelease(line) {
		p.note("container: %s is %q: Windows Subsystem for Linux", p.show("/proc/sys/kernel/osrelease"), line)
		return "wsl", nil
	} else {
		p.note("container: kernel release %q is not WSL's", line)
	}

	// proot traces us without a PID namespace.
	if v := p.detectProot(); v != "" {
		return v, nil
	}

	// A container manager may leave its name in /run/host/container-manager.
	if id, done, err := p.containerFromFile("/run/host/container-manager"); done {
		return id, err
	}
	// PID 1 (systemd) copies $container to /run/systemd/container.
	if id, done, err := p.containerFromFile("/run/systemd/container"); done {
		return id, err
	}

	// Fallback for a PID 1 that is not systemd: its environment.
	if id, done := p.containerFromEnviron(); done {
		return id, nil
	}

	// Well-known files, only now: /.dockerenv may sit in any image.
	if v := p.containerFiles(); v != none {
		return v, nil
	}

	in, why, err := p.runningInCgroupNS()
	switch {
	case err != nil:
		p.note("container: cgroup namespace test failed, ignored as systemd does: %s", errText(err))
	case in:
		p.note("container: %s: some container", why)
		return containerOther, nil
	default:
		p.note("container: not in a cgroup namespace (%s)", why)
	}
	return none, nil
}

// detectProot is the TracerPid check: traced by a process whose comm starts with
// "proot". Every failure here is ignored, like systemd.
func (p *probe) detectProot() string {
	data, err := p.fs.readVirtualFile("/proc/self/status", false)
	if err != nil {
		if !isNotExist(err) {
			p.unreadable(err)
		}
		return ""
	}
	pid, err := parseTracerPID(data)
	if err != nil || pid == 0 {
		return ""
	}
	comm := "/proc/" + strconv.Itoa(pid) + "/comm"
	line, _, err := p.fs.readOneLineFile(comm)
	if err != nil {
		if !isNotExist(err) {
			p.unreadable(err)
		}
		return ""
	}
	if strings.HasPrefix(line, "proot") {
		p.note("container: traced by PID %d %q (%s): proot", pid, line, p.show(comm))
		return "proot"
	}
	p.note("container: traced by PID %d %q, not proot", pid, line)
	return ""
}

// containerFromFile reads a container manager name from a one-line file. done
// is true when the file decided (a name, or an error that makes systemd fail);
// a missing or empty file moves on.
func (p *probe) containerFromFile(path string) (id string, done bool, err error) {
	line, n, err := p.fs.readOneLineFile(path)
	if err != nil {
		if isNotExist(err) {
			p.note("container: no %s", p.show(path))
			return "", false, nil
		}
		p.unreadable(err)
		return "", true, fmt.Errorf("read container manager name: %w", err)
	}
	if n == 0 {
		p.note("container: %s is empty", p.show(path))
		return "", false, nil
	}
	return p.translateName(line, p.show(path)+" says "), true, nil
}

// pid1IsSystemd says whether PID 1 is systemd; systemd as PID 1 copies a set
// $container to /run/systemd/container at boot (write_container_id()), so when that
// file is absent its environment holds no container= either.
func (p *probe) pid1IsSystemd() bool {
	line, _, err := p.fs.readOneLineFile("/proc/1/comm")
	return err == nil && line == "systemd"
}

// containerFromEnviron looks for container= in PID 1's environment. systemd ignores
// its failures (it needs CAP_SYS_PTRACE); hardend records them as doubt.
func (p *probe) containerFromEnviron() (string, bool) {
	path := "/proc/1/environ"
	f, err := p.fs.open(path)
	if err == nil {
		defer f.Close()
		var value string
		var found bool
		value, found, err = scanEnvironVar(f, "container")
		if err == nil {
			if !found {
				p.note("container: PID 1's environment (%s) has no container= variable", p.show(path))
				return "", false
			}
			return p.translateName(value, "PID 1's environment ("+p.show(path)+") container="), true
		}
		err = fmt.Errorf("%s: %w", p.show(path), err)
	}
	if !isNotExist(err) {
		p.unreadable(err)
	}
	p.note("container: cannot read PID 1's environment (%s), ignored as systemd does", errText(err))
	if p.pid1IsSystemd() {
		p.note("container: PID 1 is systemd and left no /run/systemd/container, so its environment has no container= either")
	} else {
		p.det.ContainerUnsure = append(p.det.ContainerUnsure, "PID 1's environment is not readable ("+errText(err)+") and PID 1 is not a systemd that would have copied container= to /run/systemd/container")
	}
	return "", false
}

// translateName maps a container manager name like systemd's translate_name.
func (p *probe) translateName(name, where string) string {
	if name == "oci" {
		// Some images hard-code container=oci, which names no manager: look for a
		// manager's marker file instead.
		v := p.containerFiles()
		if v == none {
			v = containerOther
		}
		p.note("container: %s%q, which names no specific manager: %s", where, name, v)
		return v
	}
	if containerNames[name] {
		p.note("container: %s%q", where, name)
		return name
	}
	p.note("container: %s%q is not a manager systemd 252 knows: container-other", where, name)
	return containerOther
}

// containerFiles is detect_container_files(): Podman's then Docker's marker file.
func (p *probe) containerFiles() string {
	for _, f := range []struct{ path, id string }{
		{"/run/.containerenv", "podman"},
		{"/.dockerenv", "docker"},
	} {
		err := p.fs.access(f.path)
		if err == nil {
			p.note("container: %s exists: %s", p.show(f.path), f.id)
			return f.id
		}
		if !isNotExist(err) {
			p.unreadable(err)
			p.det.ContainerUnsure = append(p.det.ContainerUnsure, "cannot check for "+f.id+": "+errText(err))
		}
	}
	p.note("container: neither %s nor %s exists", p.show("/run/.containerenv"), p.show("/.dockerenv"))
	return none
}
