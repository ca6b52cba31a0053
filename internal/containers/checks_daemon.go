package containers

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/hardend/hardend/internal/check"
)

// errUnknownSetting is returned when neither dockerd's command line nor its
// daemon.json can tell a setting's effective value.
var errUnknownSetting = errors.New("setting unknown")

// boolSetting returns a dockerd boolean setting's effective value and where it
// comes from: the command line, else daemon.json, else Docker's default. A key
// set in daemon.json is authoritative even without the command line: dockerd
// refuses to start when a setting is in both.
func (d *DaemonFacts) boolSetting(name string, def bool) (bool, string, error) {
	if d.PID > 0 && d.Flags.Has(name) {
		raw, _ := d.Flags.Last(name)
		v, ok := d.Flags.Bool(name)
		if !ok {
			return false, "", fmt.Errorf("dockerd flag --%s=%q is not a boolean", name, raw)
		}
		return v, fmt.Sprintf("dockerd flag --%s=%v", name, v), nil
	}
	if d.Config != nil {
		if v, set, ok := d.Config.Bool(name); set {
			if !ok {
				return false, "", fmt.Errorf("%s: %q has the wrong type (see HD-DMN-010)", d.ConfigFile, name)
			}
			return v, fmt.Sprintf("%s %q: %v (%s)", d.ConfigFile, name, v, d.Config.Where(name)), nil
		}
	}
	if err := d.unknownReason(); err != nil {
		return false, "", err
	}
	return def, fmt.Sprintf("not set on dockerd's command line nor in %s: Docker's default, %v", d.ConfigFile, def), nil
}

// stringSetting is boolSetting for string settings.
func (d *DaemonFacts) stringSetting(name, def string) (string, string, error) {
	if d.PID > 0 && d.Flags.Has(name) {
		v, _ := d.Flags.Last(name)
		return v, fmt.Sprintf("dockerd flag --%s=%s", name, v), nil
	}
	if d.Config != nil {
		if v, set, ok := d.Config.String(name); set {
			if !ok {
				return "", "", fmt.Errorf("%s: %q has the wrong type (see HD-DMN-010)", d.ConfigFile, name)
			}
			return v, fmt.Sprintf("%s %q: %q (%s)", d.ConfigFile, name, v, d.Config.Where(name)), nil
		}
	}
	if err := d.unknownReason(); err != nil {
		return "", "", err
	}
	return def, fmt.Sprintf("not set on dockerd's command line nor in %s: Docker's default, %q", d.ConfigFile, def), nil
}

// unknownReason says why an unset setting's value cannot be known: no dockerd
// command line, or an unreadable daemon.json.
func (d *DaemonFacts) unknownReason() error {
	switch {
	case d.PID == 0:
		return fmt.Errorf("%w: dockerd's command line is not readable (%v)", errUnknownSetting, d.FindErr)
	case d.ConfigErr != nil:
		return fmt.Errorf("%w: %s cannot be read (%v)", errUnknownSetting, d.ConfigFile, d.ConfigErr)
	}
	return nil
}

func daemonSubject(snap *Snapshot) check.Subject {
	name := "dockerd"
	if snap.Daemon.PID > 0 {
		name = fmt.Sprintf("dockerd (pid %d)", snap.Daemon.PID)
	}
	return check.Subject{Kind: check.KindDaemon, ID: snap.Host, Name: name}
}

// noDaemon reports whether there is no Docker daemon at all here: the socket
// does not exist and no dockerd runs. Docker checks are then not applicable.
func noDaemon(snap *Snapshot) bool {
	var ae *APIError
	return snap.Err != nil && errors.As(snap.Err, &ae) && ae.Reason == ReasonNoSocket && snap.Daemon.PID == 0
}

// noDaemonReason is the skip reason when there is no Docker daemon here.
func noDaemonReason(snap *Snapshot) string {
	return snap.Err.Error() + ", and no dockerd process serves it"
}

// notDecided returns the result for a daemon check that has no evidence: skip
// when there is no Docker here at all, error otherwise.
func notDecided(def check.Definition, snap *Snapshot, subj check.Subject, why error) check.Result {
	if noDaemon(snap) {
		return def.Skip(subj, noDaemonReason(snap))
	}
	reason := why.Error()
	if snap.Err != nil && !strings.Contains(reason, snap.Err.Error()) {
		reason += "; the API is unreachable too: " + snap.Err.Error()
	}
	return def.Err(subj, reason)
}

// apiNote explains in evidence that a value came from files because the API
// could not be asked.
func apiNote(snap *Snapshot) string {
	if snap.Err != nil {
		return " (the API could not be asked: " + snap.Err.Error() + ")"
	}
	return ""
}

func daemonChecks(snap *Snapshot, opts Options) []check.Result {
	subj := daemonSubject(snap)
	return []check.Result{
		checkTCPAPI(snap, opts, subj),
		checkSocketPerms(snap, subj),
		checkDefaultBind(snap, subj),
		checkFirewall(snap, subj),
		checkICC(snap, subj),
		checkUserns(snap, subj),
		checkDaemonNNP(snap, subj),
		checkLiveRestore(snap, subj),
		checkUserlandProxy(snap, subj),
		checkConfigFile(snap, subj),
		checkConfigPerms(snap, subj),
	}
}

// apiEndpoint is one TCP address the API is served on, and whether clients
// must present a certificate.
type apiEndpoint struct {
	addr      netip.AddrPort
	from      string
	tlsVerify bool
}

func checkTCPAPI(snap *Snapshot, opts Options, subj check.Subject) check.Result {
	d := &snap.Daemon
	var eps []apiEndpoint
	verify, verifyFrom, verr := d.boolSetting("tlsverify", d.EnvTLSVerify)
	if verr == nil && d.EnvTLSVerify && !strings.HasPrefix(verifyFrom, "dockerd flag") && !strings.Contains(verifyFrom, d.ConfigFile+" ") {
		verifyFrom = "DOCKER_TLS_VERIFY in dockerd's environment"
	}
	known := d.PID > 0 // without the command line, -H flags are unknown
	for _, h := range d.Hosts {
		if _, isUnix := unixPath(h); isUnix {
			continue
		}
		ap, err := hostAddrPort(h)
		if err != nil && !ap.IsValid() {
			continue
		}
		eps = append(eps, apiEndpoint{addr: ap, from: "-H/hosts " + h, tlsVerify: verr == nil && verify})
	}
	// dockerd's own TCP listeners other than metrics and swarm are API ones.
	metrics, _, _ := d.stringSetting("metrics-addr", "")
	var metricsPort uint16
	if ap, err := hostAddrPort("tcp://" + metrics); metrics != "" && err == nil {
		metricsPort = ap.Port()
	}
	for _, l := range d.Listeners {
		port := l.Local.Port()
		if port == metricsPort || port == 2377 || port == 7946 {
			continue
		}
		covered := false
		for _, e := range eps {
			if e.addr.Port() == port {
				covered = true
			}
		}
		if !covered {
			eps = append(eps, apiEndpoint{addr: l.Local, from: fmt.Sprintf("dockerd (pid %d) listens on %s (/proc/%d/net/tcp)", d.PID, l.Local, d.PID),
				tlsVerify: verr == nil && verify})
		}
	}
	// hardend itself reaching the API over plain TCP proves it.
	if snap.PlainTCP {
		if ap, err := hostAddrPort(snap.Host); err == nil || ap.IsValid() {
			eps = append(eps, apiEndpoint{addr: ap, from: "hardend reached the API at " + snap.Host + " over plain TCP, without a client certificate"})
		}
	}
	var open []apiEndpoint
	for _, e := range eps {
		if !e.tlsVerify {
			open = append(open, e)
		}
	}
	if len(open) == 0 {
		if !known {
			return notDecided(defDMN001, snap, subj, fmt.Errorf("cannot see which addresses dockerd serves: %v", d.FindErr))
		}
		if len(eps) == 0 {
			ev := fmt.Sprintf("dockerd serves only %s; no TCP listener of its own", strings.Join(d.Hosts, ", "))
			if d.ListenersErr != nil {
				ev += " (its listeners could not be read: " + d.ListenersErr.Error() + ")"
			}
			return defDMN001.Pass(subj, ev)
		}
		var parts []string
		for _, e := range eps {
			parts = append(parts, e.addr.String())
		}
		return defDMN001.Pass(subj, fmt.Sprintf("TCP API on %s requires client certificates (%s)", strings.Join(parts, ", "), verifyFrom))
	}
	external := false
	var parts []string
	for _, e := range open {
		a := e.addr.Addr()
		if !a.IsLoopback() {
			external = true
		}
		parts = append(parts, e.from)
	}
	tlsNote := "no --tlsverify"
	if v, _, err := d.boolSetting("tls", false); err == nil && v {
		tlsNote = "--tls without --tlsverify: encrypted, but any client is accepted"
	}
	ev := fmt.Sprintf("the root-equivalent Docker API is served over TCP without client verification (%s): %s", tlsNote, strings.Join(parts, "; "))
	const fix = "remove the tcp:// host from dockerd's -H flags and daemon.json \"hosts\"; use the unix socket, or ssh (DOCKER_HOST=ssh://user@host); if remote TCP access is required: --tlsverify --tlscacert=ca.pem --tlscert=server-cert.pem --tlskey=server-key.pem and client certificates"
	if external {
		return defDMN001.Fail(subj, ev+": reachable from the network, so anyone who can connect is root on this host", fix)
	}
	// Loopback only: not reachable from the network, but every local user,
	// every host-network container and any SSRF in a local service can drive
	// dockerd, i.e. become root. A local privilege escalation, not a remote
	// takeover: high, not critical.
	return defDMN001.FailAt(check.High, subj, ev+": loopback only, yet any local user, any --network host container and any SSRF in a local service becomes root through it", fix)
}

func checkSocketPerms(snap *Snapshot, subj check.Subject) check.Result {
	d := &snap.Daemon
	if len(d.Sockets) == 0 {
		if noDaemon(snap) {
			return defDMN002.Skip(subj, noDaemonReason(snap))
		}
		return defDMN002.Skip(subj, fmt.Sprintf("dockerd serves no unix socket (%s)", strings.Join(d.Hosts, ", ")))
	}
	if d.PID == 0 && snap.Err != nil {
		// Neither the API nor a dockerd process vouches for the path: its
		// mode says nothing about a Docker daemon.
		return notDecided(defDMN002, snap, subj, fmt.Errorf("no dockerd serves %s", strings.Join(d.Hosts, ", ")))
	}
	wantUID := uint32(0)
	if d.PID > 0 && d.UID != 0 {
		wantUID = d.UID // rootless: the socket belongs to the daemon's user
	}
	var bad, good []string
	sev := check.Severity(-1)
	missing := 0
	for _, s := range d.Sockets {
		if s.StatErr != nil {
			if errors.Is(s.StatErr, fs.ErrNotExist) {
				missing++
			}
			good = append(good, fmt.Sprintf("%s: %v", s.Path, s.StatErr))
			continue
		}
		fi := s.Info
		group := groupName(d.Root, fi.GID)
		desc := fmt.Sprintf("%s: owner uid %d, group %s (%d), mode %s (%04o)", s.Path, fi.UID, group, fi.GID, fi.Mode, fi.Mode.Perm())
		if fi.Mode.Type() != fs.ModeSocket {
			return defDMN002.Err(subj, desc+": not a socket")
		}
		switch {
		case fi.UID != wantUID:
			bad, sev = append(bad, desc+fmt.Sprintf(": not owned by uid %d", wantUID)), check.Critical
		case fi.Mode.Perm()&0o002 != 0:
			bad, sev = append(bad, desc+": writable by every user, so every user is root"), check.Critical
		case fi.Mode.Perm()&0o020 != 0 && fi.GID != 0 && group != "docker":
			bad, sev = append(bad, desc+fmt.Sprintf(": writable by group %s, whose members are all root-equivalent", group)), max(sev, check.High)
		default:
			good = append(good, desc)
		}
	}
	if len(bad) > 0 {
		return defDMN002.FailAt(sev, subj, strings.Join(append(bad, good...), "; "),
			"chown root:docker SOCKET && chmod 0660 SOCKET (for a systemd docker.socket: SocketUser=root, SocketGroup=docker, SocketMode=0660); only trusted admins belong to the docker group")
	}
	if missing == len(d.Sockets) {
		return notDecided(defDMN002, snap, subj, fmt.Errorf("no API socket to stat: %s", strings.Join(good, "; ")))
	}
	return defDMN002.Pass(subj, strings.Join(good, "; "))
}

// groupName looks a gid up in <root>/etc/group.
func groupName(root string, gid uint32) string {
	data, err := os.ReadFile(hostPath(root, "/etc/group"))
	if err != nil {
		return strconv.Itoa(int(gid))
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 3 && f[2] == strconv.Itoa(int(gid)) {
			return f[0]
		}
	}
	return strconv.Itoa(int(gid))
}

// defaultBridge returns the daemon's default bridge network, if listed.
func defaultBridge(snap *Snapshot) *Network {
	for i := range snap.Networks {
		n := &snap.Networks[i]
		if n.Options[optDefault] == "true" || (n.Name == "bridge" && n.Driver == "bridge") {
			return n
		}
	}
	return nil
}

func checkDefaultBind(snap *Snapshot, subj check.Subject) check.Result {
	const fix = `"ip": "127.0.0.1" in daemon.json (then publish what must be public explicitly: -p 0.0.0.0:443:443), or always -p 127.0.0.1:PORT:PORT`
	var ip, from string
	if br := defaultBridge(snap); br != nil && snap.Err == nil {
		if v, ok := br.Options[optHostBinding]; ok {
			ip, from = v, fmt.Sprintf("the default bridge network's %s option is %q (GET /networks)", optHostBinding, v)
		}
	}
	if from == "" {
		v, f, err := snap.Daemon.stringSetting("ip", "0.0.0.0")
		if err != nil {
			return notDecided(defDMN003, snap, subj, err)
		}
		ip, from = v, f+apiNote(snap)
	}
	addr, err := netip.ParseAddr(ip)
	switch {
	case ip == "" || (err == nil && addr.IsUnspecified()):
		return defDMN003.Fail(subj, from+": `-p 8080:80` publishes on every interface, including the public one", fix)
	case err != nil:
		return defDMN003.Err(subj, fmt.Sprintf("%s: not an IP address", from))
	case addr.IsLoopback():
		return defDMN003.Pass(subj, from+": ports published without an address stay on loopback")
	}
	return defDMN003.Pass(subj, from+": ports published without an address bind "+ip+" only (make sure it is not a public address)")
}

func checkFirewall(snap *Snapshot, subj check.Subject) check.Result {
	d := &snap.Daemon
	ipt, iptFrom, err := d.boolSetting("iptables", true)
	backend, backendFrom := snap.Engine.FirewallBackend, "GET /info FirewallBackend.Driver"
	if backend == "" {
		if v, f, e := d.stringSetting("firewall-backend", ""); e == nil && v != "" {
			backend, backendFrom = v, f
		}
	}
	if err != nil {
		if backend == "nftables" {
			err = nil
		} else {
			return notDecided(defDMN004, snap, subj, err)
		}
	}
	if err == nil && !ipt {
		return defDMN004.Fail(subj, iptFrom+": Docker writes no firewall rules, so every published port is reachable directly and DOCKER-USER filtering does nothing",
			`remove "iptables": false (and --iptables=false) and restart dockerd; filter in the DOCKER-USER chain instead`)
	}
	if backend == "nftables" {
		return defDMN004.Fail(subj, fmt.Sprintf("firewall backend nftables (%s): Docker creates no DOCKER-USER chain, so rules meant for it never apply", backendFrom),
			`use "firewall-backend": "iptables" in daemon.json, or let hardend keep its own nftables table (mode: enforce)`)
	}
	ev := iptFrom
	if backend != "" {
		ev += fmt.Sprintf("; firewall backend %s (%s)", backend, backendFrom)
	} else {
		ev += "; firewall backend iptables (this API version does not report it)"
	}
	return defDMN004.Pass(subj, ev+apiNote(snap))
}

func checkICC(snap *Snapshot, subj check.Subject) check.Result {
	const fix = `"icc": false in daemon.json; containers that must talk to each other share a user-defined network (docker network create)`
	if br := defaultBridge(snap); br != nil && snap.Err == nil {
		if v, ok := br.Options[optEnableICC]; ok {
			from := fmt.Sprintf("the default bridge network's %s option is %q (GET /networks)", optEnableICC, v)
			if b, _ := parseBoolString(v); b {
				return defDMN005.Fail(subj, from+": every container on the default bridge can reach every other one's ports", fix)
			}
			return defDMN005.Pass(subj, from)
		}
	}
	v, from, err := snap.Daemon.boolSetting("icc", true)
	if err != nil {
		return notDecided(defDMN005, snap, subj, err)
	}
	if v {
		return defDMN005.Fail(subj, from+apiNote(snap)+": containers on the default bridge can reach each other", fix)
	}
	return defDMN005.Pass(subj, from+apiNote(snap))
}

func checkUserns(snap *Snapshot, subj check.Subject) check.Result {
	const fix = `"userns-remap": "default" in daemon.json (root in a container becomes an unprivileged host uid; re-create containers and check volume ownership), or run Docker rootless`
	if snap.Err == nil {
		switch {
		case snap.Engine.Rootless:
			return defDMN006.Pass(subj, "the daemon runs rootless (SecurityOptions name=rootless)")
		case snap.Engine.Userns:
			return defDMN006.Pass(subj, "user namespace remapping is on (SecurityOptions name=userns)")
		}
		return defDMN006.Fail(subj, fmt.Sprintf("GET /info SecurityOptions %v: no userns, not rootless: root in a container is root on the host", snap.Engine.SecurityOptions), fix)
	}
	d := &snap.Daemon
	if d.PID > 0 && d.UID != 0 {
		return defDMN006.Pass(subj, fmt.Sprintf("dockerd (pid %d) runs as uid %d: rootless%s", d.PID, d.UID, apiNote(snap)))
	}
	v, from, err := d.stringSetting("userns-remap", "")
	if err != nil {
		return notDecided(defDMN006, snap, subj, err)
	}
	if v != "" {
		return defDMN006.Pass(subj, from+apiNote(snap))
	}
	return defDMN006.Fail(subj, from+apiNote(snap)+": no user namespace remapping", fix)
}

func checkDaemonNNP(snap *Snapshot, subj check.Subject) check.Result {
	v, from, err := snap.Daemon.boolSetting("no-new-privileges", false)
	if err != nil {
		return notDecided(defDMN007, snap, subj, err)
	}
	if v {
		return defDMN007.Pass(subj, from)
	}
	return defDMN007.Fail(subj, from+": each container must ask for it (HD-CTR-010)", `"no-new-privileges": true in daemon.json`)
}

func checkLiveRestore(snap *Snapshot, subj check.Subject) check.Result {
	const fix = `"live-restore": true in daemon.json (containers keep running while dockerd restarts or upgrades)`
	if snap.Err == nil {
		if snap.Engine.LiveRestore {
			return defDMN008.Pass(subj, "GET /info LiveRestoreEnabled: true")
		}
		return defDMN008.Fail(subj, "GET /info LiveRestoreEnabled: false: a dockerd restart stops every container", fix)
	}
	v, from, err := snap.Daemon.boolSetting("live-restore", false)
	if err != nil {
		return notDecided(defDMN008, snap, subj, err)
	}
	if v {
		return defDMN008.Pass(subj, from+apiNote(snap))
	}
	return defDMN008.Fail(subj, from+apiNote(snap), fix)
}

func checkUserlandProxy(snap *Snapshot, subj check.Subject) check.Result {
	v, from, err := snap.Daemon.boolSetting("userland-proxy", true)
	if err != nil {
		return notDecided(defDMN009, snap, subj, err)
	}
	if !v {
		return defDMN009.Pass(subj, from)
	}
	return defDMN009.Fail(subj, from+": docker-proxy listens on the host for every published port; IPv4-only ports become reachable over IPv6 through it on [::] and it hides client addresses",
		`"userland-proxy": false in daemon.json (NAT hairpinning then serves connections from the host itself)`)
}

// engineMajor returns the engine's major version (20 for "20.10.24+dfsg1"), 0
// if unknown.
func engineMajor(v string) int {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0
	}
	return n
}

func checkConfigFile(snap *Snapshot, subj check.Subject) check.Result {
	d := &snap.Daemon
	file := d.ConfigFile
	if d.ConfigErr != nil {
		var se *ConfigSyntaxError
		ev := d.ConfigErr.Error()
		if errors.As(d.ConfigErr, &se) {
			ev = fmt.Sprintf("%s is not valid JSON: line %d, column %d: %s: dockerd refuses to (re)start with it", file, se.Line, se.Col, se.Msg)
		} else if errors.Is(d.ConfigErr, errTooLarge) {
			ev = fmt.Sprintf("%s is %v: not read", file, errTooLarge)
		}
		return defDMN010.Fail(subj, ev, fmt.Sprintf("fix %s (check it with `dockerd --validate --config-file %s`), then restart dockerd", file, file))
	}
	if d.ConfigMissing {
		if d.ConfigExplicit {
			return defDMN010.Fail(subj, fmt.Sprintf("dockerd was started with --config-file %s, which does not exist: it will refuse to start again", file),
				"create the file (at least {}) or drop --config-file")
		}
		if noDaemon(snap) {
			return defDMN010.Skip(subj, noDaemonReason(snap)+", and there is no "+file)
		}
		if d.PID == 0 {
			return notDecided(defDMN010, snap, subj, fmt.Errorf("no %s, and dockerd's command line (which may name another --config-file) is not readable: %v", file, d.FindErr))
		}
		return defDMN010.Pass(subj, fmt.Sprintf("no %s: Docker's defaults apply (the other HD-DMN checks say which matter)", file))
	}
	if d.Config == nil {
		return notDecided(defDMN010, snap, subj, fmt.Errorf("%s was not read", file))
	}
	var bad, notes []string
	major := engineMajor(snap.Engine.Version)
	for _, p := range d.Config.Problems {
		switch {
		case p.Kind == ProblemBOM && major >= 23:
			notes = append(notes, p.String()+" (accepted by this dockerd "+snap.Engine.Version+")")
		case p.Kind == ProblemBOM && major > 0:
			bad = append(bad, p.String()+" — this dockerd is "+snap.Engine.Version)
		default:
			bad = append(bad, p.String())
		}
	}
	where := file
	if d.ConfigResolved != "" && d.ConfigResolved != file {
		where += " (→ " + d.ConfigResolved + ")"
	}
	if len(bad) > 0 {
		return defDMN010.Fail(subj, where+": "+strings.Join(bad, "; "),
			fmt.Sprintf("fix %s (check it with `dockerd --validate --config-file %s`): each key once, the right JSON types, no byte order mark, nothing also given as a dockerd flag", file, file))
	}
	keys := make([]string, 0, len(d.Config.Keys))
	for k := range d.Config.Keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ev := fmt.Sprintf("%s parses (%s; keys: %s)", where, d.Config.Encoding, strings.Join(keys, ", "))
	if len(keys) == 0 {
		ev = where + " parses (no settings)"
	}
	if len(notes) > 0 {
		ev += "; " + strings.Join(notes, "; ")
	}
	return defDMN010.Pass(subj, ev)
}

func checkConfigPerms(snap *Snapshot, subj check.Subject) check.Result {
	d := &snap.Daemon
	st := d.ConfigStat
	if st == nil {
		switch {
		case noDaemon(snap):
			return defDMN011.Skip(subj, noDaemonReason(snap))
		case d.ConfigMissing && d.PID == 0:
			return notDecided(defDMN011, snap, subj, fmt.Errorf("no %s, and dockerd's command line (which may name another --config-file) is not readable: %v", d.ConfigFile, d.FindErr))
		case d.ConfigMissing:
			return defDMN011.Skip(subj, fmt.Sprintf("no %s", d.ConfigFile))
		}
		return notDecided(defDMN011, snap, subj, fmt.Errorf("%s could not be stat'ed: %v", d.ConfigFile, d.ConfigErr))
	}
	var bad []string
	desc := func(fi *FileInfo) string {
		return fmt.Sprintf("%s: owner uid %d, group %s, mode %04o", fi.Resolved, fi.UID, groupName(d.Root, fi.GID), fi.Mode.Perm())
	}
	writableByOthers := func(fi *FileInfo) bool {
		m := fi.Mode.Perm()
		if fi.Mode.IsDir() && fi.Mode&fs.ModeSticky != 0 {
			return false // a sticky directory: others cannot replace root's file
		}
		return fi.UID != 0 || m&0o002 != 0 || (m&0o020 != 0 && fi.GID != 0)
	}
	if writableByOthers(st) {
		bad = append(bad, desc(st))
	}
	if st.Dir != nil && writableByOthers(st.Dir) {
		bad = append(bad, desc(st.Dir)+" (whoever can write the directory can replace the file)")
	}
	if len(bad) > 0 {
		return defDMN011.Fail(subj, strings.Join(bad, "; ")+": dockerd runs as root with these settings, so whoever can change them (e.g. add a tcp:// host) is root",
			fmt.Sprintf("chown root:root %s && chmod 0644 %s (and its directory root-owned, 0755)", d.ConfigFile, d.ConfigFile))
	}
	ev := desc(st)
	if st.Dir != nil {
		ev += "; " + desc(st.Dir)
	}
	return defDMN011.Pass(subj, ev)
}
