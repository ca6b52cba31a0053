package containers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/hardend/hardend/internal/procnet"
)

// DefaultHost is where Docker clients look without DOCKER_HOST.
const DefaultHost = "unix:///var/run/docker.sock"

// defaultConfigFile is dockerd's daemon.json unless --config-file says otherwise.
const defaultConfigFile = "/etc/docker/daemon.json"

// DaemonFacts is what the host says about the dockerd serving a Docker host:
// its process, command line, daemon.json, API sockets and TCP listeners. Every
// field is read below Root; what could not be read has its error set.
type DaemonFacts struct {
	Root string
	// PID is the dockerd serving the Docker host; 0 if none was identified, and
	// FindErr says why. Candidates lists every dockerd seen.
	PID        int
	FindErr    error
	Candidates []int
	// How the process was matched to the socket ("its -H flag", ...).
	MatchedBy string

	Args  []string     // dockerd's argv
	Flags DockerdFlags // parsed argv
	// EnvTLSVerify is DOCKER_TLS_VERIFY in dockerd's environment, which turns on
	// --tlsverify by default.
	EnvTLSVerify bool
	UID          uint32 // dockerd's real uid (non-zero for rootless)

	// ConfigFile is the daemon.json dockerd reads (as a host path);
	// ConfigExplicit is true when --config-file named it.
	ConfigFile     string
	ConfigExplicit bool
	ConfigResolved string // after following symlinks under Root
	ConfigMissing  bool   // no such file (fine unless --config-file named it)
	Config         *DaemonConfig
	ConfigErr      error // unreadable, too large, or a *ConfigSyntaxError
	ConfigStat     *FileInfo

	// Hosts are the API addresses dockerd serves (-H flags or daemon.json
	// "hosts"; Docker's default when neither).
	Hosts []string
	// Sockets are the unix sockets among Hosts, stat'ed under Root.
	Sockets []SocketInfo

	// Listeners are the TCP sockets dockerd itself listens on (from its
	// network namespace's /proc/PID/net/tcp{,6}, filtered by its open fds).
	Listeners    []procnet.Socket
	ListenersErr error
}

// FileInfo is the ownership and mode of a file on the host.
type FileInfo struct {
	Path     string // as given
	Resolved string // canonical host path
	UID, GID uint32
	Mode     fs.FileMode
	Dev, Ino uint64
	Dir      *FileInfo // the directory holding it (for daemon.json)
}

// SocketInfo is one unix socket dockerd serves.
type SocketInfo struct {
	Path    string // as configured
	Info    *FileInfo
	StatErr error
}

// ReadDaemon finds the dockerd serving dockerHost ("" = DefaultHost) under
// root and reads what the host says about it. Several dockerd may run (tests
// run one per network namespace); the one whose configured socket or listener
// is dockerHost's is chosen, by its flags first and by the sockets it holds
// open when that is ambiguous.
func ReadDaemon(root, dockerHost string) DaemonFacts {
	if root == "" {
		root = "/"
	}
	if dockerHost == "" {
		dockerHost = DefaultHost
	}
	f := DaemonFacts{Root: root}
	// Fast path: the dockerd of Docker's default pid file, if it serves the
	// host; otherwise every process is looked at.
	if p := pidFileDockerd(root); p != nil {
		if q, how, err := pickDockerd(root, dockerHost, []*dockerdProc{p}); err == nil {
			f.PID, f.MatchedBy, f.Candidates = q.pid, how+" (pid file)", []int{q.pid}
			f.Args, f.Flags, f.EnvTLSVerify, f.UID = q.args, q.flags, q.envTLSVerify, q.uid
		}
	}
	if f.PID == 0 {
		cands, err := findDockerd(root)
		f.Candidates = cands
		switch {
		case err != nil:
			f.FindErr = err
		case len(cands) == 0:
			f.FindErr = fmt.Errorf("no dockerd process under %s", hostPath(root, "proc"))
		}
		if f.FindErr == nil {
			var procs []*dockerdProc
			for _, pid := range cands {
				if p, err := readDockerdProc(root, pid); err == nil {
					procs = append(procs, p)
				}
			}
			if p, how, err := pickDockerd(root, dockerHost, procs); err != nil {
				f.FindErr = err
			} else {
				f.PID, f.MatchedBy = p.pid, how
				f.Args, f.Flags, f.EnvTLSVerify, f.UID = p.args, p.flags, p.envTLSVerify, p.uid
			}
		}
	}
	f.readConfig(root)
	f.Hosts = f.effectiveHosts(dockerHost)
	for _, h := range f.Hosts {
		if p, ok := unixPath(h); ok {
			si := SocketInfo{Path: p}
			si.Info, si.StatErr = statHost(root, p)
			f.Sockets = append(f.Sockets, si)
		}
	}
	if f.PID > 0 {
		f.Listeners, f.ListenersErr = ownListeners(root, f.PID)
	}
	return f
}

// pidFileDockerd reads Docker's default pid file (/var/run/docker.pid) and
// returns its process if it is a dockerd.
func pidFileDockerd(root string) *dockerdProc {
	b, err := os.ReadFile(hostPath(root, "/run/docker.pid"))
	if err != nil {
		b, err = os.ReadFile(hostPath(root, "/var/run/docker.pid"))
	}
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return nil
	}
	comm, err := os.ReadFile(filepath.Join(hostPath(root, "proc"), strconv.Itoa(pid), "comm"))
	if err != nil || string(bytes.TrimSpace(comm)) != "dockerd" {
		return nil
	}
	p, err := readDockerdProc(root, pid)
	if err != nil {
		return nil
	}
	return p
}

// findDockerd lists the pids whose command name is dockerd.
func findDockerd(root string) ([]int, error) {
	entries, err := os.ReadDir(hostPath(root, "proc"))
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(hostPath(root, "proc"), e.Name(), "comm"))
		if err != nil {
			continue // exited meanwhile
		}
		if string(bytes.TrimSpace(comm)) == "dockerd" {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

type dockerdProc struct {
	pid          int
	args         []string
	flags        DockerdFlags
	envTLSVerify bool
	uid          uint32
}

func readDockerdProc(root string, pid int) (*dockerdProc, error) {
	dir := filepath.Join(hostPath(root, "proc"), strconv.Itoa(pid))
	raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return nil, fmt.Errorf("read dockerd command line: %w", err)
	}
	p := &dockerdProc{pid: pid, args: parseCmdline(raw)}
	p.flags = parseDockerdArgs(p.args)
	if env, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil {
		for _, kv := range parseCmdline(env) {
			if v, ok := strings.CutPrefix(kv, "DOCKER_TLS_VERIFY="); ok && v != "" {
				p.envTLSVerify = true
			}
		}
	}
	if st, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		if s, err := parseStatus(st); err == nil {
			p.uid = s.UID[0]
		}
	}
	return p, nil
}

// parseCmdline splits /proc/PID/cmdline (or environ) at NUL bytes.
func parseCmdline(raw []byte) []string {
	raw = bytes.TrimRight(raw, "\x00")
	if len(raw) == 0 {
		return nil
	}
	parts := bytes.Split(raw, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// configuredHosts returns the hosts a dockerd was told to serve on its command
// line, "" entries normalised like dockerd does.
func (p *dockerdProc) configuredHosts() []string {
	return p.flags.Values["host"]
}

// pickDockerd chooses the dockerd serving dockerHost among procs.
func pickDockerd(root, dockerHost string, procs []*dockerdProc) (*dockerdProc, string, error) {
	if len(procs) == 0 {
		return nil, "", errors.New("no readable dockerd process")
	}
	want := normalizeHost(dockerHost)
	wantPath, wantUnix := unixPath(want)
	if wantUnix {
		if r, err := resolveUnder(root, wantPath); err == nil {
			wantPath = r
		}
	}
	matches := func(hosts []string) bool {
		for _, h := range hosts {
			h = normalizeHost(h)
			if wantUnix {
				if p, ok := unixPath(h); ok {
					if r, err := resolveUnder(root, p); err == nil && r == wantPath {
						return true
					}
				}
				continue
			}
			if h == want {
				return true
			}
		}
		return false
	}
	var byFlag []*dockerdProc
	for _, p := range procs {
		hosts := p.configuredHosts()
		if len(hosts) == 0 {
			// No -H: daemon.json "hosts", else Docker's default socket.
			hosts = configHostsOf(root, p)
		}
		if matches(hosts) {
			byFlag = append(byFlag, p)
		}
	}
	if len(byFlag) == 1 {
		return byFlag[0], "its configured API hosts", nil
	}
	// fd:// (systemd socket activation), several candidates or none: the
	// dockerd holding the listening socket is the one.
	for _, p := range procs {
		if holdsListener(root, p.pid, wantUnix, wantPath, want) {
			return p, "the listening socket it holds open", nil
		}
	}
	if len(byFlag) > 1 {
		return byFlag[0], "its configured API hosts (first of several)", nil
	}
	// Never guess: a dockerd serving another socket (another namespace, a test
	// engine) must not be audited in place of the one asked about.
	pids := make([]string, len(procs))
	for i, p := range procs {
		pids[i] = strconv.Itoa(p.pid)
	}
	return nil, "", fmt.Errorf("dockerd running (pid %s) but none serves %s", strings.Join(pids, ", "), dockerHost)
}

// configHostsOf returns the hosts from a dockerd's daemon.json, or Docker's
// default socket.
func configHostsOf(root string, p *dockerdProc) []string {
	file := defaultConfigFile
	if v, ok := p.flags.Last("config-file"); ok {
		file = v
	}
	if data, err := readLimited(hostPath(root, file)); err == nil {
		if cfg, err := parseDaemonJSON(data); err == nil {
			if hosts, set, ok := cfg.Strings("hosts"); set && ok && len(hosts) > 0 {
				return hosts
			}
		}
	}
	return []string{DefaultHost}
}

// holdsListener reports whether pid holds the listening socket of a unix path
// or a tcp address, by inode.
func holdsListener(root string, pid int, isUnix bool, sockPath, host string) bool {
	held, err := procnet.SocketInodes(root, pid)
	if err != nil {
		return false
	}
	if isUnix {
		socks, err := procnet.UnixSockets(root, pid)
		if err != nil {
			return false
		}
		for _, s := range socks {
			if !s.Listening || !held[s.Inode] || s.Path == "" {
				continue
			}
			p := s.Path
			if r, err := resolveUnder(root, p); err == nil {
				p = r
			}
			if p == sockPath {
				return true
			}
		}
		return false
	}
	ap, err := hostAddrPort(host)
	if err != nil {
		return false
	}
	ls, err := procnet.Listeners(root, pid)
	if err != nil {
		return false
	}
	for _, l := range ls {
		if held[l.Inode] && l.Local.Port() == ap.Port() {
			return true
		}
	}
	return false
}

// ownListeners returns the TCP listeners of pid's namespace that pid holds.
func ownListeners(root string, pid int) ([]procnet.Socket, error) {
	ls, err := procnet.Listeners(root, pid)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, nil
	}
	held, err := procnet.SocketInodes(root, pid)
	if err != nil {
		return nil, err
	}
	var out []procnet.Socket
	for _, l := range ls {
		if held[l.Inode] {
			out = append(out, l)
		}
	}
	return out, nil
}

// normalizeHost spells a Docker host the way dockerd does: "tcp://:2375"
// binds every address, "unix://" is the default socket, "fd://" is systemd.
func normalizeHost(h string) string {
	h = strings.TrimSpace(h)
	switch {
	case h == "" || h == "unix://":
		return DefaultHost
	case strings.HasPrefix(h, "/"):
		return "unix://" + h
	case !strings.Contains(h, "://"):
		return "tcp://" + h // dockerd accepts "-H 0.0.0.0:2375"
	}
	return h
}

// unixPath returns the socket path of a unix:// host. fd:// (systemd socket
// activation) means docker.socket's /run/docker.sock.
func unixPath(h string) (string, bool) {
	h = normalizeHost(h)
	switch {
	case strings.HasPrefix(h, "unix://"):
		return strings.TrimPrefix(h, "unix://"), true
	case strings.HasPrefix(h, "fd://"):
		return "/run/docker.sock", true
	}
	return "", false
}

// hostAddrPort parses a tcp:// host; an empty address means every address
// and the default port is 2375 (2376 with TLS, which changes no exposure).
func hostAddrPort(h string) (netip.AddrPort, error) {
	h = normalizeHost(h)
	if !strings.HasPrefix(h, "tcp://") && !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") {
		return netip.AddrPort{}, fmt.Errorf("%q is not a TCP host", h)
	}
	u, err := url.Parse(h)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("parse host %q: %w", h, err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "2375"
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host %q: bad port", h)
	}
	if host == "" {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(pn)), nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		if host == "localhost" {
			return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(pn)), nil
		}
		// A name: dockerd resolves it at start; treat it as not loopback.
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(pn)), &net.AddrError{Err: "a host name, not an address", Addr: host}
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(pn)), nil
}

// readConfig reads the daemon.json this dockerd uses.
func (f *DaemonFacts) readConfig(root string) {
	f.ConfigFile = defaultConfigFile
	if v, ok := f.Flags.Last("config-file"); ok && v != "" {
		f.ConfigFile, f.ConfigExplicit = v, true
	}
	resolved, err := resolveUnder(root, f.ConfigFile)
	if err != nil {
		f.ConfigErr = err
		return
	}
	f.ConfigResolved = resolved
	info, err := statHost(root, resolved)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			f.ConfigMissing = true
			return
		}
		f.ConfigErr = fmt.Errorf("stat %s: %w", f.ConfigFile, err)
		return
	}
	info.Path = f.ConfigFile
	if dir, err := statHost(root, path.Dir(resolved)); err == nil {
		info.Dir = dir
	}
	f.ConfigStat = info
	if !info.Mode.IsRegular() {
		f.ConfigErr = fmt.Errorf("%s is not a regular file (%s)", f.ConfigFile, info.Mode.Type())
		return
	}
	data, err := readLimited(hostPath(root, resolved))
	if err != nil {
		f.ConfigErr = fmt.Errorf("read %s: %w", f.ConfigFile, err)
		return
	}
	cfg, err := parseDaemonJSON(data)
	if err != nil {
		f.ConfigErr = fmt.Errorf("parse %s: %w", f.ConfigFile, err)
		return
	}
	f.Config = cfg
	// Keys set both in the file and as flags: dockerd refuses to start.
	for _, name := range f.Flags.Order {
		key, ok := configKeyForFlag(name)
		if !ok {
			continue
		}
		if v, set := cfg.Keys[key]; set {
			cfg.Problems = append(cfg.Problems, ConfigProblem{Kind: ProblemConflict, Key: key, Line: v.Line, Col: v.Col, Fatal: true,
				Msg: fmt.Sprintf("%q is also given as the flag --%s: dockerd refuses to start (\"the following directives are specified both as a flag and in the configuration file\")", key, name)})
		}
	}
}

var errTooLarge = fmt.Errorf("larger than %d bytes", maxConfigSize)

func readLimited(file string) ([]byte, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, errTooLarge
	}
	return data, nil
}

// effectiveHosts returns what dockerd serves: -H flags, else daemon.json
// "hosts", else the default socket. Without an identified dockerd it is the
// Docker host hardend was given.
func (f *DaemonFacts) effectiveHosts(dockerHost string) []string {
	var hosts []string
	switch {
	case f.Flags.Has("host"):
		hosts = f.Flags.Values["host"]
	case f.Config != nil:
		if h, set, ok := f.Config.Strings("hosts"); set && ok {
			hosts = h
		}
	}
	if f.PID == 0 && len(hosts) == 0 {
		hosts = []string{dockerHost}
	}
	if len(hosts) == 0 {
		hosts = []string{DefaultHost}
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		n := normalizeHost(h)
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// statHost stats a host path under root (following symlinks).
func statHost(root, p string) (*FileInfo, error) {
	resolved, err := resolveUnder(root, p)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(hostPath(root, resolved))
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("stat %s: no owner information", p)
	}
	return &FileInfo{Path: p, Resolved: resolved, UID: st.Uid, GID: st.Gid, Mode: fi.Mode(),
		Dev: uint64(st.Dev), Ino: st.Ino}, nil
}
