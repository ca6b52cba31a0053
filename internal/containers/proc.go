package containers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ProcStatus is what hardend reads from /proc/PID/status of a process.
type ProcStatus struct {
	UID        [4]uint32 // real, effective, saved, filesystem (as seen from the reader's user namespace: the host)
	GID        [4]uint32
	CapEff     CapSet
	CapBnd     CapSet
	NoNewPrivs *bool // nil: the kernel does not report it (before 4.10)
	Seccomp    *int  // 0 disabled, 1 strict, 2 filter; nil: not reported
	Name       string
}

var errNoStatusField = errors.New("field missing")

// parseStatus parses /proc/PID/status. Uid, Gid, CapEff and CapBnd are
// required; NoNewPrivs and Seccomp are optional (older kernels).
func parseStatus(data []byte) (ProcStatus, error) {
	var st ProcStatus
	var have struct{ uid, gid, eff, bnd bool }
	for _, line := range bytes.Split(data, []byte("\n")) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v := bytes.TrimSpace(val)
		var err error
		switch string(key) {
		case "Name":
			st.Name = string(v)
		case "Uid":
			st.UID, err = parseIDQuad(v)
			have.uid = err == nil
		case "Gid":
			st.GID, err = parseIDQuad(v)
			have.gid = err == nil
		case "CapEff":
			var c uint64
			c, err = strconv.ParseUint(string(v), 16, 64)
			st.CapEff, have.eff = CapSet(c), err == nil
		case "CapBnd":
			var c uint64
			c, err = strconv.ParseUint(string(v), 16, 64)
			st.CapBnd, have.bnd = CapSet(c), err == nil
		case "NoNewPrivs":
			var n int
			n, err = strconv.Atoi(string(v))
			b := n != 0
			st.NoNewPrivs = &b
		case "Seccomp":
			var n int
			n, err = strconv.Atoi(string(v))
			st.Seccomp = &n
		}
		if err != nil {
			return ProcStatus{}, fmt.Errorf("status field %s: %q: %w", key, v, err)
		}
	}
	switch {
	case !have.uid:
		return ProcStatus{}, fmt.Errorf("status field Uid: %w", errNoStatusField)
	case !have.gid:
		return ProcStatus{}, fmt.Errorf("status field Gid: %w", errNoStatusField)
	case !have.eff:
		return ProcStatus{}, fmt.Errorf("status field CapEff: %w", errNoStatusField)
	case !have.bnd:
		return ProcStatus{}, fmt.Errorf("status field CapBnd: %w", errNoStatusField)
	}
	return st, nil
}

func parseIDQuad(v []byte) ([4]uint32, error) {
	var out [4]uint32
	f := bytes.Fields(v)
	if len(f) != 4 {
		return out, fmt.Errorf("want 4 ids, got %d", len(f))
	}
	for i := range f {
		n, err := strconv.ParseUint(string(f[i]), 10, 32)
		if err != nil {
			return out, err
		}
		out[i] = uint32(n)
	}
	return out, nil
}

// IDMapRange is one line of /proc/PID/uid_map: Count ids starting at Inside
// (in the process's user namespace) map to ids starting at Outside (in the
// reader's, here the host's).
type IDMapRange struct{ Inside, Outside, Count uint32 }

// parseUIDMap parses /proc/PID/uid_map (at most 340 lines since Linux 4.15).
func parseUIDMap(data []byte) ([]IDMapRange, error) {
	var out []IDMapRange
	for i, line := range bytes.Split(data, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("uid_map line %d: want 3 fields, got %d", i+1, len(f))
		}
		var n [3]uint32
		for j := range f {
			v, err := strconv.ParseUint(string(f[j]), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("uid_map line %d: %w", i+1, err)
			}
			n[j] = uint32(v)
		}
		out = append(out, IDMapRange{Inside: n[0], Outside: n[1], Count: n[2]})
	}
	return out, nil
}

// identityMap reports whether a uid map is the initial namespace's (no userns).
func identityMap(m []IDMapRange) bool {
	return len(m) == 1 && m[0].Inside == 0 && m[0].Outside == 0 && m[0].Count == 4294967295
}

// insideID maps a host id back into the namespace; ok is false if unmapped.
func insideID(m []IDMapRange, outside uint32) (uint32, bool) {
	for _, r := range m {
		if outside >= r.Outside && uint64(outside) < uint64(r.Outside)+uint64(r.Count) {
			return r.Inside + (outside - r.Outside), true
		}
	}
	return 0, false
}

// ProcFacts is what the host's /proc says about a container's init process
// (State.Pid): the evidence that catches `-u 0:0`, images whose USER is root,
// userns-remap, and capabilities or seccomp that differ from what inspect says.
type ProcFacts struct {
	PID    int
	Status ProcStatus
	UIDMap []IDMapRange // nil if uid_map was unreadable
	// InsideUID is the real uid inside the container's user namespace (equal to
	// the host uid without userns-remap); InsideKnown is false if unmapped.
	InsideUID   uint32
	InsideKnown bool
}

// HostUID is the init process's real uid on the host.
func (p *ProcFacts) HostUID() uint32 { return p.Status.UID[0] }

// Remapped reports whether the process lives in a user namespace other than
// the host's (userns-remap or rootless).
func (p *ProcFacts) Remapped() bool { return p.UIDMap != nil && !identityMap(p.UIDMap) }

// readProcFacts reads <root>/proc/<pid>/status and uid_map of a container's
// init process. The process must be the container's: its cgroup path names the
// container ID (cgroupfs "/docker/<id>", systemd "docker-<id>.scope", any
// --cgroup-parent). That guards against reading an unrelated process when
// <root>/proc is not the daemon's pid namespace (hardend in a container
// without the host's /proc) or the pid was reused.
func readProcFacts(root string, pid int, id string) (*ProcFacts, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("no init process (pid %d)", pid)
	}
	dir := filepath.Join(root, "proc", strconv.Itoa(pid))
	cg, err := os.ReadFile(filepath.Join(dir, "cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read init process cgroup: %w", err)
	}
	if id != "" && !bytes.Contains(cg, []byte(id)) {
		return nil, fmt.Errorf("%s is not this container's process (its cgroup does not name %s: another pid namespace?)", dir, shortID(id))
	}
	data, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return nil, fmt.Errorf("read init process status: %w", err)
	}
	st, err := parseStatus(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "status"), err)
	}
	pf := &ProcFacts{PID: pid, Status: st, InsideUID: st.UID[0], InsideKnown: true}
	// Root on the host is root whatever the namespace; only a non-zero host
	// uid needs the map to tell remapped root from a real unprivileged user.
	if st.UID[0] == 0 {
		return pf, nil
	}
	if data, err := os.ReadFile(filepath.Join(dir, "uid_map")); err == nil {
		if m, err := parseUIDMap(data); err == nil {
			pf.UIDMap = m
			pf.InsideUID, pf.InsideKnown = insideID(m, st.UID[0])
		}
	}
	return pf, nil
}

// readCapLastCap reads the kernel's highest capability number, so that
// "privileged" and "--cap-add ALL" mean what they mean on this kernel.
func readCapLastCap(root string) int {
	b, err := os.ReadFile(filepath.Join(root, "proc", "sys", "kernel", "cap_last_cap"))
	if err != nil {
		return lastCap
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || n < 0 || n > 63 {
		return lastCap
	}
	return n
}
