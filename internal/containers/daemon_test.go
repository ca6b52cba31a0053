package containers

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hardend/hardend/internal/check"
)

// fakeDockerd describes a dockerd process in a fixture tree.
type fakeDockerd struct {
	pid       int
	args      []string
	env       []string
	uid       int
	tcp, unix string // /proc/PID/net/tcp and unix contents
	fds       []uint64
}

const tcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// tcpListen renders a LISTEN row of /proc/net/tcp for a.b.c.d:port.
func tcpListen(slot int, addr [4]byte, port uint16, inode int) string {
	return fmt.Sprintf("   %d: %02X%02X%02X%02X:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n",
		slot, addr[3], addr[2], addr[1], addr[0], port, inode)
}

func writeFile(t testing.TB, root, p string, data []byte, mode os.FileMode) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil {
		t.Fatal(err)
	}
}

func writeDockerd(t testing.TB, root string, d fakeDockerd) {
	t.Helper()
	dir := filepath.Join("proc", strconv.Itoa(d.pid))
	writeFile(t, root, filepath.Join(dir, "comm"), []byte("dockerd\n"), 0o644)
	writeFile(t, root, filepath.Join(dir, "cmdline"), []byte(strings.Join(d.args, "\x00")+"\x00"), 0o644)
	writeFile(t, root, filepath.Join(dir, "environ"), []byte(strings.Join(d.env, "\x00")+"\x00"), 0o644)
	writeFile(t, root, filepath.Join(dir, "status"), []byte(fmt.Sprintf("Name:\tdockerd\nUid:\t%d\t%d\t%d\t%d\nGid:\t0\t0\t0\t0\nCapEff:\t0\nCapBnd:\t0\n", d.uid, d.uid, d.uid, d.uid)), 0o644)
	writeFile(t, root, filepath.Join(dir, "net", "tcp"), []byte(tcpHeader+d.tcp), 0o644)
	writeFile(t, root, filepath.Join(dir, "net", "unix"), []byte("Num       RefCount Protocol Flags    Type St Inode Path\n"+d.unix), 0o644)
	if err := os.MkdirAll(filepath.Join(root, dir, "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, ino := range d.fds {
		if err := os.Symlink(fmt.Sprintf("socket:[%d]", ino), filepath.Join(root, dir, "fd", strconv.Itoa(i+3))); err != nil {
			t.Fatal(err)
		}
	}
	// Something else that is not dockerd.
	writeFile(t, root, "proc/1/comm", []byte("systemd\n"), 0o644)
}

func baseRoot(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "run"), 0o755)
	os.MkdirAll(filepath.Join(root, "var"), 0o755)
	os.Symlink("/run", filepath.Join(root, "var", "run"))
	writeFile(t, root, "etc/group", []byte("root:x:0:\nusers:x:100:\ndocker:x:105:\n"), 0o644)
	return root
}

func TestReadDaemonPicksTheRightDockerd(t *testing.T) {
	tests := []struct {
		name    string
		dockerd []fakeDockerd
		config  string // /etc/docker/daemon.json
		host    string
		wantPID int
		wantErr string
	}{
		{name: "by -H among several", host: "unix:///run/b.sock", wantPID: 200, dockerd: []fakeDockerd{
			{pid: 100, args: []string{"dockerd", "-H", "unix:///run/a.sock"}},
			{pid: 200, args: []string{"dockerd", "--host=unix:///run/b.sock"}},
		}},
		{name: "fd:// serves the default socket through /var/run", host: "", wantPID: 300, dockerd: []fakeDockerd{
			{pid: 300, args: []string{"/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"}},
		}},
		{name: "no -H: the default socket", host: "unix:///run/docker.sock", wantPID: 400, dockerd: []fakeDockerd{
			{pid: 400, args: []string{"dockerd"}},
			{pid: 401, args: []string{"dockerd", "-H", "unix:///tmp/test.sock"}},
		}},
		{name: "hosts from daemon.json", host: "unix:///run/c.sock", config: `{"hosts": ["unix:///run/c.sock"]}`, wantPID: 500, dockerd: []fakeDockerd{
			{pid: 500, args: []string{"dockerd"}},
		}},
		{name: "ambiguous: the one holding the listening socket", host: "", wantPID: 601, dockerd: []fakeDockerd{
			{pid: 600, args: []string{"dockerd", "-H", "fd://"}, fds: []uint64{11}},
			{pid: 601, args: []string{"dockerd", "-H", "fd://"}, fds: []uint64{12, 555},
				unix: "ffff: 00000002 00000000 00010000 0001 01 555 /run/docker.sock\n"},
		}},
		{name: "tcp host", host: "tcp://127.0.0.1:2375", wantPID: 700, dockerd: []fakeDockerd{
			{pid: 699, args: []string{"dockerd"}},
			{pid: 700, args: []string{"dockerd", "-H", "tcp://127.0.0.1:2375"}},
		}},
		{name: "a dockerd serving another socket is not ours", host: "unix:///tmp/mine.sock", wantErr: "none serves", dockerd: []fakeDockerd{
			{pid: 800, args: []string{"dockerd", "-H", "unix:///tmp/other.sock"}},
		}},
		{name: "no dockerd at all", host: "", wantErr: "no dockerd process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := baseRoot(t)
			os.MkdirAll(filepath.Join(root, "proc"), 0o755)
			for _, d := range tt.dockerd {
				writeDockerd(t, root, d)
			}
			if tt.config != "" {
				writeFile(t, root, "etc/docker/daemon.json", []byte(tt.config), 0o644)
			}
			f := ReadDaemon(root, tt.host)
			if f.PID != tt.wantPID {
				t.Errorf("PID = %d (%v), want %d", f.PID, f.FindErr, tt.wantPID)
			}
			if tt.wantErr != "" && (f.FindErr == nil || !strings.Contains(f.FindErr.Error(), tt.wantErr)) {
				t.Errorf("FindErr = %v, want %q", f.FindErr, tt.wantErr)
			}
		})
	}
}

func TestReadDaemonPidFile(t *testing.T) {
	root := baseRoot(t)
	writeDockerd(t, root, fakeDockerd{pid: 77, args: []string{"dockerd", "-H", "fd://"}})
	writeDockerd(t, root, fakeDockerd{pid: 78, args: []string{"dockerd", "-H", "unix:///tmp/x.sock"}})
	writeFile(t, root, "run/docker.pid", []byte("77"), 0o644)
	if f := ReadDaemon(root, ""); f.PID != 77 || !strings.Contains(f.MatchedBy, "pid file") {
		t.Errorf("PID %d matched by %q (%v)", f.PID, f.MatchedBy, f.FindErr)
	}
	// The pid file's dockerd does not serve this host: the scan finds the one.
	if f := ReadDaemon(root, "unix:///tmp/x.sock"); f.PID != 78 || strings.Contains(f.MatchedBy, "pid file") {
		t.Errorf("PID %d matched by %q (%v)", f.PID, f.MatchedBy, f.FindErr)
	}
	// A stale pid file naming another process.
	writeFile(t, root, "run/docker.pid", []byte("1"), 0o644)
	if f := ReadDaemon(root, ""); f.PID != 77 || strings.Contains(f.MatchedBy, "pid file") {
		t.Errorf("stale pid file: PID %d matched by %q", f.PID, f.MatchedBy)
	}
}

func TestReadDaemonListenersAreItsOwn(t *testing.T) {
	root := baseRoot(t)
	writeDockerd(t, root, fakeDockerd{pid: 10, args: []string{"dockerd", "-H", "fd://", "-H", "tcp://0.0.0.0:2375"},
		tcp:  tcpListen(0, [4]byte{0, 0, 0, 0}, 2375, 777) + tcpListen(1, [4]byte{0, 0, 0, 0}, 8080, 888),
		fds:  []uint64{777},
		unix: "ffff: 00000002 00000000 00010000 0001 01 9 /run/docker.sock\n"})
	f := ReadDaemon(root, "")
	if f.PID != 10 || f.ListenersErr != nil || len(f.Listeners) != 1 || f.Listeners[0].Local.Port() != 2375 {
		t.Fatalf("PID %d, Listeners %v (%v); want only dockerd's own 2375 (8080 is docker-proxy's)", f.PID, f.Listeners, f.ListenersErr)
	}
	want := []string{"unix:///run/docker.sock", "tcp://0.0.0.0:2375"}
	if strings.Join(f.Hosts, " ") != "fd:// tcp://0.0.0.0:2375" {
		t.Logf("Hosts = %v (want the flags as given: %v)", f.Hosts, want)
	}
}

// daemonSnap builds a snapshot whose API could not be asked, so the daemon
// checks rely on the host's evidence only.
func daemonSnap(root, host string) *Snapshot {
	if host == "" {
		host = DefaultHost
	}
	return &Snapshot{Host: host, Err: &APIError{Host: host, Op: "ping", Reason: ReasonTimeout, Timeout: 1e9},
		Daemon: ReadDaemon(root, host)}
}

func daemonResult(t *testing.T, snap *Snapshot, id string) check.Result {
	t.Helper()
	for _, r := range daemonChecks(snap, Options{Host: snap.Host, Root: snap.Daemon.Root}) {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no %s result", id)
	return check.Result{}
}

func TestTCPAPICheck(t *testing.T) {
	lo := [4]byte{127, 0, 0, 1}
	any4 := [4]byte{}
	tests := []struct {
		name     string
		args     []string
		env      []string
		config   string
		tcp      string
		fds      []uint64
		status   check.Status
		severity check.Severity
		evidence string
	}{
		{name: "unix only", args: []string{"dockerd", "-H", "fd://"}, status: check.Pass, evidence: "no TCP listener"},
		{name: "all interfaces, no TLS", args: []string{"dockerd", "-H", "fd://", "-H", "tcp://0.0.0.0:2375"},
			status: check.Fail, severity: check.Critical, evidence: "reachable from the network"},
		{name: "bare :2375", args: []string{"dockerd", "-H", "fd://", "-H", ":2375"}, status: check.Fail, severity: check.Critical},
		{name: "loopback, no TLS", args: []string{"dockerd", "-H", "fd://", "-H", "tcp://127.0.0.1:2375"},
			status: check.Fail, severity: check.High, evidence: "loopback only"},
		{name: "IPv6 loopback", args: []string{"dockerd", "-H", "fd://", "-H", "tcp://[::1]:2375"}, status: check.Fail, severity: check.High},
		{name: "tls without verify", args: []string{"dockerd", "-H", "fd://", "-H", "tcp://0.0.0.0:2376", "--tls", "--tlscert=c", "--tlskey=k"},
			status: check.Fail, severity: check.Critical, evidence: "--tls without --tlsverify"},
		{name: "tlsverify", args: []string{"dockerd", "-H", "fd://", "-H", "tcp://0.0.0.0:2376", "--tlsverify", "--tlscacert=ca", "--tlscert=c", "--tlskey=k"},
			status: check.Pass, evidence: "requires client certificates"},
		{name: "DOCKER_TLS_VERIFY in the environment", args: []string{"dockerd", "-H", "fd://", "-H", "tcp://0.0.0.0:2376"}, env: []string{"DOCKER_TLS_VERIFY=1"},
			status: check.Pass, evidence: "DOCKER_TLS_VERIFY"},
		{name: "hosts in daemon.json", args: []string{"dockerd"}, config: `{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}`,
			status: check.Fail, severity: check.Critical},
		{name: "tlsverify in daemon.json", args: []string{"dockerd"}, config: `{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"], "tlsverify": true}`,
			status: check.Pass},
		{name: "listener the flags do not show", args: []string{"dockerd"}, tcp: tcpListen(0, any4, 2375, 5), fds: []uint64{5},
			status: check.Fail, severity: check.Critical, evidence: "listens on 0.0.0.0:2375"},
		{name: "metrics listener is not the API", args: []string{"dockerd", "--metrics-addr", "127.0.0.1:9323"}, tcp: tcpListen(0, lo, 9323, 5), fds: []uint64{5},
			status: check.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := baseRoot(t)
			writeDockerd(t, root, fakeDockerd{pid: 42, args: tt.args, env: tt.env, tcp: tt.tcp, fds: tt.fds})
			if tt.config != "" {
				writeFile(t, root, "etc/docker/daemon.json", []byte(tt.config), 0o644)
			}
			snap := daemonSnap(root, "")
			if snap.Daemon.PID != 42 {
				t.Fatalf("dockerd not found: %v", snap.Daemon.FindErr)
			}
			r := daemonResult(t, snap, "HD-DMN-001")
			if r.Status != tt.status || (tt.status == check.Fail && r.Severity != tt.severity) || !strings.Contains(r.Evidence, tt.evidence) {
				t.Errorf("HD-DMN-001 = %s %s %q; want %s %s mentioning %q", r.Status, r.Severity, r.Evidence, tt.status, tt.severity, tt.evidence)
			}
			if r.Status == check.Fail && !strings.Contains(r.Remediation, "--tlsverify") {
				t.Errorf("remediation %q", r.Remediation)
			}
		})
	}
}

func TestSocketPermsCheck(t *testing.T) {
	tests := []struct {
		name     string
		mode     os.FileMode
		uid, gid int
		status   check.Status
		severity check.Severity
		evidence string
		needRoot bool
	}{
		{name: "root:docker 0660", mode: 0o660, gid: 105, status: check.Pass, evidence: "group docker (105)", needRoot: true},
		{name: "root:root 0600", mode: 0o600, status: check.Pass},
		{name: "world-writable", mode: 0o666, status: check.Fail, severity: check.Critical, evidence: "writable by every user", needRoot: true},
		{name: "not owned by root", mode: 0o660, uid: 1000, status: check.Fail, severity: check.Critical, evidence: "not owned by uid 0", needRoot: true},
		{name: "group users can write", mode: 0o660, gid: 100, status: check.Fail, severity: check.High, evidence: "writable by group users", needRoot: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needRoot && os.Geteuid() != 0 {
				t.Skip("needs root to chown the socket")
			}
			root := baseRoot(t)
			sock := filepath.Join(root, "run", "docker.sock")
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
			if err != nil {
				t.Skipf("cannot create a unix socket: %v", err)
			}
			l.SetUnlinkOnClose(false)
			l.Close()
			if err := os.Chmod(sock, tt.mode); err != nil {
				t.Fatal(err)
			}
			if os.Geteuid() == 0 {
				if err := os.Chown(sock, tt.uid, tt.gid); err != nil {
					t.Fatal(err)
				}
			}
			writeDockerd(t, root, fakeDockerd{pid: 42, args: []string{"dockerd", "-H", "fd://"}})
			r := daemonResult(t, daemonSnap(root, ""), "HD-DMN-002")
			if os.Geteuid() != 0 && tt.status == check.Pass {
				return // owned by the test user, not root
			}
			if r.Status != tt.status || (tt.status == check.Fail && r.Severity != tt.severity) || !strings.Contains(r.Evidence, tt.evidence) {
				t.Errorf("HD-DMN-002 = %s %s %q; want %s %s mentioning %q", r.Status, r.Severity, r.Evidence, tt.status, tt.severity, tt.evidence)
			}
		})
	}
	t.Run("not a socket", func(t *testing.T) {
		root := baseRoot(t)
		writeFile(t, root, "run/docker.sock", nil, 0o600)
		writeDockerd(t, root, fakeDockerd{pid: 42, args: []string{"dockerd"}})
		if r := daemonResult(t, daemonSnap(root, ""), "HD-DMN-002"); r.Status != check.Error || !strings.Contains(r.Evidence, "not a socket") {
			t.Errorf("HD-DMN-002 = %s %q", r.Status, r.Evidence)
		}
	})
}

// The settings checks with the API unreachable: flags and daemon.json decide.
func TestSettingsChecksFromFiles(t *testing.T) {
	all := []string{"HD-DMN-003", "HD-DMN-004", "HD-DMN-005", "HD-DMN-006", "HD-DMN-007", "HD-DMN-008", "HD-DMN-009"}
	tests := []struct {
		name   string
		args   []string
		config string
		uid    int
		want   map[string]check.Status
	}{
		{name: "Docker's defaults", args: []string{"dockerd", "-H", "fd://"}, want: map[string]check.Status{
			"HD-DMN-003": check.Fail, "HD-DMN-004": check.Pass, "HD-DMN-005": check.Fail, "HD-DMN-006": check.Fail,
			"HD-DMN-007": check.Fail, "HD-DMN-008": check.Fail, "HD-DMN-009": check.Fail}},
		{name: "hardened daemon.json", args: []string{"dockerd", "-H", "fd://"},
			config: `{"ip": "127.0.0.1", "icc": false, "userns-remap": "default", "no-new-privileges": true, "live-restore": true, "userland-proxy": false}`,
			want: map[string]check.Status{"HD-DMN-003": check.Pass, "HD-DMN-004": check.Pass, "HD-DMN-005": check.Pass, "HD-DMN-006": check.Pass,
				"HD-DMN-007": check.Pass, "HD-DMN-008": check.Pass, "HD-DMN-009": check.Pass}},
		{name: "hardened flags", args: []string{"dockerd", "--ip=127.0.0.1", "--icc=false", "--userns-remap=default", "--no-new-privileges", "--live-restore", "--userland-proxy=false"},
			want: map[string]check.Status{"HD-DMN-003": check.Pass, "HD-DMN-004": check.Pass, "HD-DMN-005": check.Pass, "HD-DMN-006": check.Pass,
				"HD-DMN-007": check.Pass, "HD-DMN-008": check.Pass, "HD-DMN-009": check.Pass}},
		{name: "iptables off", args: []string{"dockerd", "--iptables=false"}, want: map[string]check.Status{"HD-DMN-004": check.Fail}},
		{name: "nftables backend", args: []string{"dockerd"}, config: `{"firewall-backend": "nftables"}`, want: map[string]check.Status{"HD-DMN-004": check.Fail}},
		{name: "iptables as a string: unknown, not a pass", args: []string{"dockerd"}, config: `{"iptables": "false"}`,
			want: map[string]check.Status{"HD-DMN-004": check.Error}},
		{name: "malformed daemon.json: defaults unknown", args: []string{"dockerd"}, config: `{"icc": false,}`,
			want: map[string]check.Status{"HD-DMN-003": check.Error, "HD-DMN-005": check.Error, "HD-DMN-009": check.Error}},
		{name: "ip bound to a private address", args: []string{"dockerd", "--ip", "10.0.0.5"}, want: map[string]check.Status{"HD-DMN-003": check.Pass}},
		{name: "rootless", args: []string{"dockerd"}, uid: 1000, want: map[string]check.Status{"HD-DMN-006": check.Pass}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := baseRoot(t)
			writeDockerd(t, root, fakeDockerd{pid: 42, args: tt.args, uid: tt.uid})
			if tt.config != "" {
				writeFile(t, root, "etc/docker/daemon.json", []byte(tt.config), 0o644)
			}
			snap := daemonSnap(root, "")
			for _, id := range all {
				want, ok := tt.want[id]
				if !ok {
					continue
				}
				r := daemonResult(t, snap, id)
				if r.Status != want {
					t.Errorf("%s = %s %q, want %s", id, r.Status, r.Evidence, want)
				}
				if r.Status == check.Fail && (r.Remediation == "" || !strings.Contains(r.Evidence, "")) {
					t.Errorf("%s: no remediation", id)
				}
			}
		})
	}
	t.Run("no dockerd, no socket: skipped", func(t *testing.T) {
		root := baseRoot(t)
		os.MkdirAll(filepath.Join(root, "proc"), 0o755)
		snap := &Snapshot{Host: DefaultHost, Err: &APIError{Host: DefaultHost, Reason: ReasonNoSocket}, Daemon: ReadDaemon(root, "")}
		for _, r := range daemonChecks(snap, Options{Root: root}) {
			if r.Status != check.Skip {
				t.Errorf("%s = %s %q; want skip", r.ID, r.Status, r.Evidence)
			}
		}
	})
}

func TestConfigFileChecks(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		config   *string
		version  string
		status   check.Status
		evidence string
	}{
		{name: "valid", config: ptr(`{"icc": false}`), status: check.Pass, evidence: "keys: icc"},
		{name: "missing, default path", status: check.Pass, evidence: "Docker's defaults apply"},
		{name: "missing, --config-file", args: []string{"--config-file", "/etc/docker/custom.json"}, status: check.Fail, evidence: "does not exist"},
		{name: "syntax error", config: ptr("{\n  \"icc\": false,\n}\n"), status: check.Fail, evidence: "line 3, column 1"},
		{name: "string boolean", config: ptr(`{"iptables": "false"}`), status: check.Fail, evidence: `the string "false", not the boolean false`},
		{name: "duplicate key", config: ptr("{\"ip\": \"127.0.0.1\",\n\"ip\": \"0.0.0.0\"}"), status: check.Fail, evidence: "line 2, column 1: \"ip\" appears more than once"},
		{name: "flag and key", args: []string{"-H", "fd://"}, config: ptr(`{"hosts": ["tcp://127.0.0.1:2375"]}`), status: check.Fail, evidence: "also given as the flag --host"},
		{name: "BOM, Docker 20.10", config: ptr("\xEF\xBB\xBF{}"), version: "20.10.24+dfsg1", status: check.Fail, evidence: "byte order mark"},
		{name: "BOM, Docker 24", config: ptr("\xEF\xBB\xBF{}"), version: "24.0.7", status: check.Pass, evidence: "accepted by this dockerd"},
		{name: "too large", config: ptr("{\"labels\": [\"" + strings.Repeat("x", maxConfigSize) + "\"]}"), status: check.Fail, evidence: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := baseRoot(t)
			writeDockerd(t, root, fakeDockerd{pid: 42, args: append([]string{"dockerd"}, tt.args...)})
			if tt.config != nil {
				writeFile(t, root, "etc/docker/daemon.json", []byte(*tt.config), 0o644)
			}
			snap := daemonSnap(root, "")
			snap.Engine.Version = tt.version
			r := daemonResult(t, snap, "HD-DMN-010")
			if r.Status != tt.status || !strings.Contains(r.Evidence, tt.evidence) {
				t.Errorf("HD-DMN-010 = %s %q; want %s mentioning %q", r.Status, r.Evidence, tt.status, tt.evidence)
			}
		})
	}
	t.Run("symlinked config", func(t *testing.T) {
		root := baseRoot(t)
		writeDockerd(t, root, fakeDockerd{pid: 42, args: []string{"dockerd"}})
		writeFile(t, root, "srv/conf/docker.json", []byte(`{"live-restore": true}`), 0o644)
		os.MkdirAll(filepath.Join(root, "etc", "docker"), 0o755)
		os.Symlink("/srv/conf/docker.json", filepath.Join(root, "etc", "docker", "daemon.json"))
		snap := daemonSnap(root, "")
		if r := daemonResult(t, snap, "HD-DMN-010"); r.Status != check.Pass || !strings.Contains(r.Evidence, "→ /srv/conf/docker.json") {
			t.Errorf("HD-DMN-010 = %s %q", r.Status, r.Evidence)
		}
		if r := daemonResult(t, snap, "HD-DMN-008"); r.Status != check.Pass {
			t.Errorf("HD-DMN-008 through the symlink = %s %q", r.Status, r.Evidence)
		}
	})
}

func ptr(s string) *string { return &s }

func TestConfigPermsCheck(t *testing.T) {
	tests := []struct {
		name     string
		mode     os.FileMode
		dirMode  os.FileMode
		uid      int
		status   check.Status
		needRoot bool
	}{
		{name: "0644 in 0755", mode: 0o644, dirMode: 0o755, status: check.Pass},
		{name: "world-writable file", mode: 0o666, dirMode: 0o755, status: check.Fail},
		{name: "world-writable directory", mode: 0o644, dirMode: 0o777, status: check.Fail},
		{name: "sticky world-writable directory", mode: 0o644, dirMode: 0o777 | os.ModeSticky, status: check.Pass},
		{name: "owned by a user", mode: 0o644, dirMode: 0o755, uid: 1000, status: check.Fail, needRoot: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("ownership checks need files owned by root")
			}
			root := baseRoot(t)
			writeDockerd(t, root, fakeDockerd{pid: 42, args: []string{"dockerd"}})
			writeFile(t, root, "etc/docker/daemon.json", []byte("{}"), tt.mode)
			os.Chmod(filepath.Join(root, "etc", "docker"), tt.dirMode)
			os.Chown(filepath.Join(root, "etc", "docker", "daemon.json"), tt.uid, 0)
			r := daemonResult(t, daemonSnap(root, ""), "HD-DMN-011")
			if r.Status != tt.status {
				t.Errorf("HD-DMN-011 = %s %q, want %s", r.Status, r.Evidence, tt.status)
			}
		})
	}
}

func TestBoolSettingSources(t *testing.T) {
	root := baseRoot(t)
	writeDockerd(t, root, fakeDockerd{pid: 42, args: []string{"dockerd", "--icc=false", "--live-restore=maybe"}})
	writeFile(t, root, "etc/docker/daemon.json", []byte("{\n\"userland-proxy\": false}"), 0o644)
	d := ReadDaemon(root, "")
	if v, from, err := d.boolSetting("icc", true); v || err != nil || !strings.Contains(from, "--icc=false") {
		t.Errorf("icc: %v %q %v", v, from, err)
	}
	if v, from, err := d.boolSetting("userland-proxy", true); v || err != nil || !strings.Contains(from, "line 2") {
		t.Errorf("userland-proxy: %v %q %v", v, from, err)
	}
	if v, from, err := d.boolSetting("no-new-privileges", false); v || err != nil || !strings.Contains(from, "default") {
		t.Errorf("no-new-privileges: %v %q %v", v, from, err)
	}
	if _, _, err := d.boolSetting("live-restore", false); err == nil {
		t.Error("live-restore=maybe accepted")
	}
	d.PID, d.FindErr = 0, errors.New("no dockerd")
	if _, _, err := d.boolSetting("icc", true); !errors.Is(err, errUnknownSetting) {
		t.Errorf("without the command line, an unset key: %v", err)
	}
	if v, _, err := d.boolSetting("userland-proxy", true); err != nil || v {
		t.Errorf("without the command line, a key in daemon.json still decides: %v %v", v, err)
	}
}
