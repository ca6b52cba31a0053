package containers

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hardend/hardend/internal/check"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// ctrEnv is what the container checks need to know about the daemon and host.
type ctrEnv struct {
	root    string
	all     CapSet // every capability on this kernel
	engine  EngineInfo
	nnp     bool   // no-new-privileges is the daemon default
	nnpFrom string // where that was read
	sockets []socketID
	// sensitive host paths (HD-CTR-007), as given and resolved.
	sensitive []string
}

// socketID identifies one Docker API socket on the host and every directory
// above it, by canonical path and by inode: a mount of any of them exposes it.
type socketID struct {
	path      string   // canonical host path
	ancestors []string // canonical directories holding it, "/" first
	ids       map[[2]uint64]string
}

var sensitivePaths = []string{"/", "/etc", "/root", "/boot", "/dev", "/proc", "/sys", "/usr", "/lib", "/var/lib/docker", "/lib/modules"}

func newCtrEnv(snap *Snapshot, opts Options) *ctrEnv {
	env := &ctrEnv{root: opts.Root, all: allCaps(snap.CapLast), engine: snap.Engine}
	if snap.CapLast == 0 {
		env.all = allCaps(lastCap)
	}
	v, from, err := snap.Daemon.boolSetting("no-new-privileges", false)
	if err == nil {
		env.nnp, env.nnpFrom = v, from
	}
	// The sockets: what dockerd serves, the host hardend was given, and
	// Docker's default paths (any daemon on this host may use them).
	paths := []string{"/var/run/docker.sock", "/run/docker.sock"}
	for _, s := range snap.Daemon.Sockets {
		paths = append(paths, s.Path)
	}
	if p, ok := unixPath(opts.Host); ok {
		paths = append(paths, p)
	}
	seen := map[string]bool{}
	for _, p := range paths {
		canon, err := resolveUnder(opts.Root, p)
		if err != nil {
			canon = path.Clean(p)
		}
		if seen[canon] {
			continue
		}
		seen[canon] = true
		sid := socketID{path: canon, ids: map[[2]uint64]string{}}
		for d := canon; ; d = path.Dir(d) {
			if d != canon {
				sid.ancestors = append([]string{d}, sid.ancestors...)
			}
			if fi, err := statHost(opts.Root, d); err == nil {
				sid.ids[[2]uint64{fi.Dev, fi.Ino}] = d
			}
			if d == "/" {
				break
			}
		}
		env.sockets = append(env.sockets, sid)
	}
	for _, s := range sensitivePaths {
		env.sensitive = append(env.sensitive, s)
		if r, err := resolveUnder(opts.Root, s); err == nil && r != s {
			env.sensitive = append(env.sensitive, r)
		}
	}
	return env
}

func ctrSubject(c *Container) check.Subject {
	return check.Subject{Kind: check.KindContainer, ID: c.ShortID(), Name: c.Name}
}

// containerChecks runs HD-CTR-001..012 on one container.
func containerChecks(c *Container, env *ctrEnv) []check.Result {
	subj := ctrSubject(c)
	in := c.Inspect
	if in == nil || in.HostConfig == nil || in.Config == nil {
		var out []check.Result
		for _, d := range containerDefs {
			out = append(out, d.Err(subj, "inspect returned no HostConfig/Config"))
		}
		return out
	}
	hc := in.HostConfig
	req := newCapRequest(hc.CapAdd, hc.CapDrop, hc.Privileged)
	eff, effFrom := effectiveCaps(c, req, env)
	return []check.Result{
		checkRootUser(c, subj, env),
		checkPrivileged(hc, subj),
		checkSocketMount(c, subj, env),
		checkCapDrop(c, subj, req, eff, effFrom),
		checkDangerousCaps(subj, req, eff, effFrom),
		checkReadOnly(c, subj),
		checkSensitiveMounts(c, subj, env),
		checkHostNamespaces(hc, subj, env),
		checkConfinement(c, subj, env),
		checkNoNewPrivileges(c, subj, env),
		checkLimits(hc, subj),
		checkDevices(hc, subj),
	}
}

// isRootUser reports whether Config.User names root: "", "root", "0", or
// either with a group ("0:0", "root:app").
func isRootUser(u string) bool {
	name, _, _ := strings.Cut(strings.TrimSpace(u), ":")
	return name == "" || name == "root" || name == "0"
}

func userDesc(u string) string {
	if u == "" {
		return `Config.User is empty (the image's default user: root unless its Dockerfile says USER)`
	}
	return fmt.Sprintf("Config.User is %q", u)
}

const fixRoot = "run it as an unprivileged user: `docker run -u 1000:1000 ...`, or in its Dockerfile `RUN groupadd -r app && useradd -r -g app app` and `USER app`"

func checkRootUser(c *Container, subj check.Subject, env *ctrEnv) check.Result {
	user := c.Inspect.Config.User
	if p := c.Proc; p != nil {
		host := p.HostUID()
		switch {
		case host == 0:
			return defCTR001.Fail(subj, fmt.Sprintf("init process (pid %d) runs as uid 0 on the host (/proc/%d/status); %s",
				p.PID, p.PID, userDesc(user)), fixRoot)
		case p.Remapped() && p.InsideKnown && p.InsideUID == 0:
			return defCTR001.FailAt(check.Medium, subj, fmt.Sprintf("root inside the container (uid 0), mapped by a user namespace to unprivileged uid %d on the host (/proc/%d/uid_map); %s",
				host, p.PID, userDesc(user)), fixRoot+" (userns-remap limits the damage of an escape, it does not remove root inside)")
		}
		inside := fmt.Sprintf("uid %d on the host", host)
		if p.Remapped() && p.InsideKnown {
			inside = fmt.Sprintf("uid %d inside, %d on the host", p.InsideUID, host)
		}
		return defCTR001.Pass(subj, fmt.Sprintf("init process (pid %d) runs as %s; %s", p.PID, inside, userDesc(user)))
	}
	procNote := "host /proc not readable"
	if c.ProcErr != nil {
		procNote += ": " + c.ProcErr.Error()
	}
	if isRootUser(user) {
		if env.engine.Userns || env.engine.Rootless {
			return defCTR001.FailAt(check.Medium, subj, fmt.Sprintf("%s; the daemon remaps user namespaces, so root inside is unprivileged on the host (%s)", userDesc(user), procNote), fixRoot)
		}
		return defCTR001.Fail(subj, fmt.Sprintf("%s (%s)", userDesc(user), procNote), fixRoot)
	}
	name, _, _ := strings.Cut(user, ":")
	if _, err := strconv.ParseUint(name, 10, 32); err != nil {
		return defCTR001.Pass(subj, fmt.Sprintf("%s, a named non-root user (its uid could not be verified: %s)", userDesc(user), procNote))
	}
	return defCTR001.Pass(subj, fmt.Sprintf("%s (%s)", userDesc(user), procNote))
}

func checkPrivileged(hc *container.HostConfig, subj check.Subject) check.Result {
	if hc.Privileged {
		return defCTR002.Fail(subj, "HostConfig.Privileged is true: every capability, every host device, no seccomp, no AppArmor — root in it is root on the host",
			"remove --privileged; grant only what it needs: --cap-add=<one capability>, --device=/dev/<one device>")
	}
	return defCTR002.Pass(subj, "HostConfig.Privileged is false")
}

// mountDesc describes a mount as the docker flag that made it.
func mountDesc(m container.MountPoint) string {
	mode := "rw"
	if !m.RW {
		mode = "ro"
	}
	src := m.Source
	if m.Type == mount.TypeVolume && m.Name != "" {
		src = m.Name + " (volume at " + m.Source + ")"
	}
	return fmt.Sprintf("-v %s:%s:%s", src, m.Destination, mode)
}

func checkSocketMount(c *Container, subj check.Subject, env *ctrEnv) check.Result {
	var hits []string
	var first container.MountPoint
	for _, m := range c.Inspect.Mounts {
		if m.Type != mount.TypeBind && m.Type != mount.TypeVolume && m.Type != "" {
			continue
		}
		if m.Source == "" || !path.IsAbs(m.Source) {
			continue
		}
		canon, err := resolveUnder(env.root, m.Source)
		if err != nil {
			canon = path.Clean(m.Source)
		}
		var id [2]uint64
		haveID := false
		if fi, err := statHost(env.root, canon); err == nil {
			id, haveID = [2]uint64{fi.Dev, fi.Ino}, true
		}
		for _, s := range env.sockets {
			reason := ""
			switch {
			case canon == s.path:
				reason = "is the Docker socket " + s.path
			case isPathWithin(s.path, canon):
				reason = "holds the Docker socket " + s.path
			case haveID && s.ids[id] != "":
				what := s.ids[id]
				if what == s.path {
					reason = fmt.Sprintf("is the Docker socket %s (same inode)", s.path)
				} else {
					reason = fmt.Sprintf("is the directory %s (same inode), which holds the Docker socket %s", what, s.path)
				}
			}
			if reason != "" {
				if len(hits) == 0 {
					first = m
				}
				hits = append(hits, fmt.Sprintf("mount %s %s", mountDesc(m), reason))
				break
			}
		}
	}
	if len(hits) > 0 {
		ev := strings.Join(hits, "; ") + ". Read-only does not help: connecting to a socket ignores the mount's ro flag; whoever can use it controls dockerd, i.e. is root on the host"
		fix := fmt.Sprintf("never map the Docker socket into a container: remove `-v %s:%s`. A CI agent that must drive Docker: accept it visibly with a policy exemption (check HD-CTR-003, its name, a reason), or give it a filtering socket proxy that allows only the API calls it needs",
			first.Source, first.Destination)
		return defCTR003.Fail(subj, ev, fix)
	}
	var socks []string
	for _, s := range env.sockets {
		socks = append(socks, s.path)
	}
	return defCTR003.Pass(subj, fmt.Sprintf("none of its %d mounts is or holds a Docker socket (%s)", len(c.Inspect.Mounts), strings.Join(socks, ", ")))
}

// effectiveCaps returns the capability bounding set: the init process's, from
// /proc, when readable (the kernel's truth); else dockerd's computation.
func effectiveCaps(c *Container, req capRequest, env *ctrEnv) (CapSet, string) {
	computed := req.effective(env.all)
	if c.Proc != nil {
		bnd := c.Proc.Status.CapBnd
		from := fmt.Sprintf("bounding set of the init process (pid %d, /proc/%d/status CapBnd)", c.Proc.PID, c.Proc.PID)
		if bnd != computed {
			from += fmt.Sprintf("; dockerd's computation from the inspect gives %d capabilities", computed.Len())
		}
		return bnd, from
	}
	return computed, "computed from the inspect: Docker's default set − CapDrop + CapAdd (host /proc not readable)"
}

func capList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	return "[" + strings.Join(l, " ") + "]"
}

func checkCapDrop(c *Container, subj check.Subject, req capRequest, eff CapSet, from string) check.Result {
	asked := fmt.Sprintf("CapDrop %s, CapAdd %s", capList(c.Inspect.HostConfig.CapDrop), capList(c.Inspect.HostConfig.CapAdd))
	extra := eff &^ req.explicitAdds()
	if req.Privileged {
		extra = eff
	}
	if extra == 0 {
		return defCTR004.Pass(subj, fmt.Sprintf("%s: it holds only what it asked for by name (%s; %s)", asked, eff, from))
	}
	keep := req.explicitAdds() & eff
	if lowPort(c) {
		keep |= capSetOf("NET_BIND_SERVICE")
	}
	fix := "--cap-drop=ALL, then add back only what it fails without (--cap-add=...)"
	if keep != 0 {
		flags := make([]string, 0, keep.Len())
		for _, n := range keep.Names() {
			flags = append(flags, "--cap-add="+n)
		}
		fix = "--cap-drop=ALL " + strings.Join(flags, " ") + " (what it asked for by name"
		if keep.Has("NET_BIND_SERVICE") && lowPort(c) {
			fix += ", and NET_BIND_SERVICE for its port below 1024"
		}
		fix += "); add back anything else only if it fails without it"
	}
	ev := fmt.Sprintf("%s: %d capabilities it never asked for: %s (%s)", asked, extra.Len(), extra, from)
	if req.Privileged {
		ev = fmt.Sprintf("privileged: all %d capabilities (%s)", eff.Len(), from)
	}
	return defCTR004.Fail(subj, ev, fix)
}

// lowPort reports whether the container serves a port below 1024.
func lowPort(c *Container) bool {
	for _, p := range c.Ports {
		if p.ContainerPort > 0 && p.ContainerPort < 1024 {
			return true
		}
	}
	if c.Inspect.Config != nil {
		for p := range c.Inspect.Config.ExposedPorts {
			if p.Num() > 0 && p.Num() < 1024 {
				return true
			}
		}
	}
	return false
}

func checkDangerousCaps(subj check.Subject, req capRequest, eff CapSet, from string) check.Result {
	bad := eff & dangerousCaps
	var why []string
	if req.Privileged {
		why = append(why, "privileged")
	}
	if slices.Contains(req.Add, "ALL") {
		why = append(why, "--cap-add=ALL")
	}
	if bad == 0 && len(why) == 0 {
		return defCTR005.Pass(subj, fmt.Sprintf("no dangerous capability among %s (%s)", eff, from))
	}
	ev := fmt.Sprintf("dangerous capabilities: %s (%s)", bad, from)
	if len(why) > 0 {
		ev = strings.Join(why, ", ") + ": " + ev
	}
	if bad.Has("SYS_ADMIN") {
		ev += "; SYS_ADMIN alone is nearly root (mount, namespaces, cgroup release_agent escapes)"
	}
	var drops []string
	for _, n := range bad.Names() {
		drops = append(drops, n)
	}
	fix := fmt.Sprintf("remove %s from --cap-add (and --privileged / --cap-add=ALL); if one operation truly needs one of them, grant that one alone and exempt it in the policy with the reason", strings.Join(drops, ", "))
	return defCTR005.Fail(subj, ev, fix)
}

func checkReadOnly(c *Container, subj check.Subject) check.Result {
	if c.Inspect.HostConfig.ReadonlyRootfs {
		return defCTR006.Pass(subj, "HostConfig.ReadonlyRootfs is true")
	}
	var writable []string
	for _, m := range c.Inspect.Mounts {
		if m.RW {
			writable = append(writable, m.Destination)
		}
	}
	fix := "--read-only, with a volume for the state it keeps (-v NAME:/data) and --tmpfs /tmp for scratch files"
	if len(writable) > 0 {
		fix += fmt.Sprintf("; its writable mounts (%s) stay writable", strings.Join(writable, ", "))
	}
	return defCTR006.Fail(subj, "HostConfig.ReadonlyRootfs is false: an attacker inside can write a backdoor into the image's files", fix)
}

func checkSensitiveMounts(c *Container, subj check.Subject, env *ctrEnv) check.Result {
	var hits []string
	sev := check.Severity(-1)
	for _, m := range c.Inspect.Mounts {
		if m.Type != mount.TypeBind && m.Type != "" {
			continue
		}
		if m.Source == "" || !path.IsAbs(m.Source) {
			continue
		}
		canon, err := resolveUnder(env.root, m.Source)
		if err != nil {
			canon = path.Clean(m.Source)
		}
		var covers []string
		for _, s := range env.sensitive {
			if isPathWithin(s, canon) || isPathWithin(s, path.Clean(m.Source)) {
				if !slices.Contains(covers, s) {
					covers = append(covers, s)
				}
			}
		}
		if len(covers) == 0 {
			continue
		}
		msev := check.Medium
		if m.RW {
			msev = check.High
		}
		sev = max(sev, msev)
		what := "is"
		if len(covers) > 1 || covers[0] != canon {
			what = "covers"
		}
		hits = append(hits, fmt.Sprintf("%s %s host %s (%s)", mountDesc(m), what, strings.Join(covers, ", "), map[bool]string{true: "read-write", false: "read-only"}[m.RW]))
	}
	if len(hits) == 0 {
		return defCTR007.Pass(subj, fmt.Sprintf("no bind mount of %s or a parent of them", strings.Join(sensitivePaths, ", ")))
	}
	return defCTR007.FailAt(sev, subj, strings.Join(hits, "; "),
		"mount only the file or subdirectory it needs, read-only (e.g. -v /etc/myapp:/etc/myapp:ro), or use a named volume")
}

func checkHostNamespaces(hc *container.HostConfig, subj check.Subject, env *ctrEnv) check.Result {
	var shared, fixes []string
	if hc.NetworkMode == "host" {
		shared = append(shared, "network (--network host: its listeners are the host's, no DNAT, DOCKER-USER cannot filter them)")
		fixes = append(fixes, "drop --network host and publish what it serves: -p 127.0.0.1:PORT:PORT")
	}
	if hc.PidMode.IsHost() {
		shared = append(shared, "pid (--pid host: it sees and can signal every host process)")
		fixes = append(fixes, "drop --pid host")
	}
	if hc.IpcMode.IsHost() {
		shared = append(shared, "ipc (--ipc host: the host's shared memory)")
		fixes = append(fixes, "drop --ipc host")
	}
	if hc.UTSMode.IsHost() {
		shared = append(shared, "uts (--uts host: it can change the host's hostname)")
		fixes = append(fixes, "drop --uts host")
	}
	if hc.UsernsMode.IsHost() && (env.engine.Userns || env.engine.Rootless) {
		shared = append(shared, "user (--userns host: opts out of the daemon's user namespace remapping)")
		fixes = append(fixes, "drop --userns host")
	}
	if len(shared) == 0 {
		return defCTR008.Pass(subj, fmt.Sprintf("own namespaces: NetworkMode %q, PidMode %q, IpcMode %q, UTSMode %q, UsernsMode %q",
			hc.NetworkMode, hc.PidMode, hc.IpcMode, hc.UTSMode, hc.UsernsMode))
	}
	return defCTR008.Fail(subj, "shares the host's "+strings.Join(shared, "; "), strings.Join(fixes, "; "))
}

// securityOpt returns the value of a --security-opt key ("seccomp",
// "apparmor", "no-new-privileges"); Docker accepts "k=v" and the old "k:v".
func securityOpt(opts []string, key string) (string, bool) {
	for i := len(opts) - 1; i >= 0; i-- {
		o := opts[i]
		if o == key {
			return "", true
		}
		for _, sep := range []string{"=", ":"} {
			if v, ok := strings.CutPrefix(o, key+sep); ok {
				return v, true
			}
		}
	}
	return "", false
}

func checkConfinement(c *Container, subj check.Subject, env *ctrEnv) check.Result {
	hc := c.Inspect.HostConfig
	var bad []string
	if hc.Privileged {
		bad = append(bad, "privileged: Docker applies neither seccomp nor AppArmor")
	}
	if v, ok := securityOpt(hc.SecurityOpt, "seccomp"); ok && v == "unconfined" {
		bad = append(bad, "--security-opt seccomp=unconfined")
	}
	if v, ok := securityOpt(hc.SecurityOpt, "apparmor"); ok && v == "unconfined" {
		bad = append(bad, "--security-opt apparmor=unconfined")
	} else if c.Inspect.AppArmorProfile == "unconfined" && env.engine.AppArmor {
		bad = append(bad, "AppArmorProfile is unconfined")
	}
	customProfile := false
	if v, ok := securityOpt(hc.SecurityOpt, "seccomp"); ok && v != "unconfined" {
		customProfile = true
	}
	switch p := c.Proc; {
	case hc.Privileged:
	case p != nil && p.Status.Seccomp != nil:
		if *p.Status.Seccomp == 0 {
			why := fmt.Sprintf("the init process runs without a seccomp filter (/proc/%d/status Seccomp: 0)", p.PID)
			if !env.engine.Seccomp {
				why += "; the daemon reports no seccomp support (see HD-KERN-004)"
			}
			bad = append(bad, why)
		}
	case !customProfile && !env.engine.Seccomp:
		bad = append(bad, fmt.Sprintf("the daemon applies no seccomp profile (GET /info SecurityOptions %v has no name=seccomp; see HD-KERN-004)", env.engine.SecurityOptions))
	case !customProfile && env.engine.SeccompProfile == "unconfined":
		bad = append(bad, "the daemon's default seccomp profile is unconfined (dockerd --seccomp-profile unconfined)")
	}
	if len(bad) > 0 {
		return defCTR009.Fail(subj, strings.Join(bad, "; "),
			"remove --privileged and --security-opt seccomp=unconfined / apparmor=unconfined: Docker's default profiles then apply; if one syscall is missing, use a custom profile (--security-opt seccomp=/path/profile.json) that allows just it")
	}
	ev := "Docker's default seccomp profile"
	if v, ok := securityOpt(hc.SecurityOpt, "seccomp"); ok {
		ev = "seccomp profile " + v
	}
	if p := c.Proc; p != nil && p.Status.Seccomp != nil {
		ev += fmt.Sprintf(" (init process: Seccomp %d)", *p.Status.Seccomp)
	}
	if c.Inspect.AppArmorProfile != "" {
		ev += ", AppArmor profile " + c.Inspect.AppArmorProfile
	} else if !env.engine.AppArmor {
		ev += ", no AppArmor on this host (see HD-KERN-004)"
	}
	return defCTR009.Pass(subj, ev)
}

func checkNoNewPrivileges(c *Container, subj check.Subject, env *ctrEnv) check.Result {
	hc := c.Inspect.HostConfig
	v, set := securityOpt(hc.SecurityOpt, "no-new-privileges")
	explicit, explicitOK := true, true
	if set && v != "" {
		explicit, explicitOK = parseBoolString(v)
	}
	const fix = "--security-opt no-new-privileges (or \"no-new-privileges\": true in daemon.json for every container): setuid binaries and file capabilities then cannot raise privileges"
	if p := c.Proc; p != nil && p.Status.NoNewPrivs != nil {
		if *p.Status.NoNewPrivs {
			return defCTR010.Pass(subj, fmt.Sprintf("init process has NoNewPrivs: 1 (/proc/%d/status)", p.PID))
		}
		return defCTR010.Fail(subj, fmt.Sprintf("init process has NoNewPrivs: 0 (/proc/%d/status); SecurityOpt %s", p.PID, capList(hc.SecurityOpt)), fix)
	}
	switch {
	case set && explicitOK && explicit:
		return defCTR010.Pass(subj, "SecurityOpt sets no-new-privileges")
	case set:
		return defCTR010.Fail(subj, fmt.Sprintf("SecurityOpt turns no-new-privileges off (%q)", "no-new-privileges="+v), fix)
	case env.nnp:
		return defCTR010.Pass(subj, "no-new-privileges is the daemon default ("+env.nnpFrom+")")
	}
	return defCTR010.Fail(subj, fmt.Sprintf("SecurityOpt %s has no no-new-privileges and the daemon does not default to it", capList(hc.SecurityOpt)), fix)
}

func checkLimits(hc *container.HostConfig, subj check.Subject) check.Result {
	var missing, have []string
	if hc.Memory <= 0 {
		missing = append(missing, "no memory limit (HostConfig.Memory 0)")
	} else {
		have = append(have, fmt.Sprintf("memory %d MiB", hc.Memory>>20))
	}
	if hc.PidsLimit == nil || *hc.PidsLimit <= 0 {
		missing = append(missing, "no pids limit (HostConfig.PidsLimit unset)")
	} else {
		have = append(have, fmt.Sprintf("pids %d", *hc.PidsLimit))
	}
	if len(missing) == 0 {
		return defCTR011.Pass(subj, strings.Join(have, ", "))
	}
	return defCTR011.Fail(subj, strings.Join(missing, "; ")+": one container can starve the host (memory, fork bomb)",
		"--memory 256m --pids-limit 200 (sized for the workload)")
}

func checkDevices(hc *container.HostConfig, subj check.Subject) check.Result {
	var devs []string
	if hc.Privileged {
		devs = append(devs, "privileged: every host device")
	}
	for _, d := range hc.Devices {
		devs = append(devs, fmt.Sprintf("--device %s:%s:%s", d.PathOnHost, d.PathInContainer, d.CgroupPermissions))
	}
	for _, r := range hc.DeviceCgroupRules {
		devs = append(devs, fmt.Sprintf("--device-cgroup-rule %q", r))
	}
	for _, r := range hc.DeviceRequests {
		devs = append(devs, fmt.Sprintf("--gpus/device request (driver %q, count %d)", r.Driver, r.Count))
	}
	if len(devs) == 0 {
		return defCTR012.Pass(subj, "no host devices (HostConfig.Devices empty)")
	}
	return defCTR012.Fail(subj, strings.Join(devs, "; "),
		"remove the devices it does not need; pass one device with --device=/dev/X:/dev/X:r rather than --privileged, and exempt it in the policy if it is intended")
}
