//go:build linux

package logship

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/testenv"
	"github.com/sirupsen/logrus"
)

// rsyslog is a real rsyslogd (Debian package) listening on loopback inside a
// test network namespace (TESTING.md), writing every raw message it receives to
// a file, one per line.
type rsyslog struct {
	ns   *testenv.Netns
	dir  string
	conf string
	out  string
	tls  bool
	cmd  *exec.Cmd
}

const (
	rsyslogPort    = "5514" // imudp and imtcp
	rsyslogTLSPort = "6514"
)

// gtlsAvailable reports whether rsyslog's GnuTLS stream driver (Debian package
// rsyslog-gnutls) is installed.
func gtlsAvailable() bool {
	m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so")
	m2, _ := filepath.Glob("/usr/lib/rsyslog/lmnsd_gtls.so")
	return len(m)+len(m2) > 0
}

func startRsyslog(t *testing.T, ns *testenv.Netns, dir, out string, tlsFiles []string) *rsyslog {
	t.Helper()
	r := &rsyslog{ns: ns, dir: dir, out: out, conf: filepath.Join(dir, "rsyslog.conf"), tls: tlsFiles != nil}
	var conf strings.Builder
	fmt.Fprintf(&conf, "global(workDirectory=%q", dir)
	if r.tls {
		fmt.Fprintf(&conf, " defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q",
			tlsFiles[0], tlsFiles[1], tlsFiles[2])
	}
	conf.WriteString(")\n")
	// SysSock.Use="off": this rsyslogd must never take the machine's /dev/log
	// (a network namespace does not separate the filesystem).
	fmt.Fprintf(&conf, `module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%q)
module(load="imudp")
module(load="imtcp" maxSessions="1000")
input(type="imudp" address="127.0.0.1" port=%q)
input(type="imtcp" address="127.0.0.1" port=%q)
`, filepath.Join(dir, "log"), rsyslogPort, rsyslogPort)
	if r.tls {
		fmt.Fprintf(&conf, `input(type="imtcp" address="127.0.0.1" port=%q streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
`, rsyslogTLSPort)
	}
	fmt.Fprintf(&conf, `template(name="raw" type="string" string="%%rawmsg%%\n")
*.* action(type="omfile" file=%q template="raw")
`, out)
	if err := os.WriteFile(r.conf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r.start(t)
	return r
}

func (r *rsyslog) start(t *testing.T) {
	t.Helper()
	pidfile := filepath.Join(r.dir, "rsyslogd.pid")
	os.Remove(pidfile)
	cmd := r.ns.Command(context.Background(), "rsyslogd", "-n", "-f", r.conf, "-i", pidfile)
	logf, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("rsyslogd-%d.log", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	r.cmd = cmd
	t.Cleanup(func() { r.kill() })
	// Ready when imtcp accepts and a UDP probe reaches the file.
	deadline := time.Now().Add(20 * time.Second)
	probe := fmt.Sprintf("<14>1 - - - - - - probe-%d", time.Now().UnixNano())
	for {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("rsyslogd not ready after 20s; its output:\n%s", b)
		}
		if c, err := r.ns.Dial("udp", "127.0.0.1:"+rsyslogPort, time.Second); err == nil {
			c.Write([]byte(probe))
			c.Close()
		}
		time.Sleep(50 * time.Millisecond)
		if b, _ := os.ReadFile(r.out); strings.Contains(string(b), probe) {
			if c, err := r.ns.Dial("tcp", "127.0.0.1:"+rsyslogPort, time.Second); err == nil {
				c.Close()
				return
			}
		}
	}
}

// kill SIGKILLs the rsyslogd this test started (by pid; works when stopped too).
func (r *rsyslog) kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

func (r *rsyslog) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal rsyslogd: %v", err)
	}
}

// lines returns the RFC 5424 lines of the output file (probes left out).
func readLines(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); !strings.Contains(l, " probe-") {
			out = append(out, l)
		}
	}
	return out
}

// waitLines waits until the file holds n lines containing marker.
func waitLines(t *testing.T, file, marker string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got []string
		for _, l := range readLines(t, file) {
			if strings.Contains(l, marker) {
				got = append(got, l)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines with %q after 15s, want %d", file, len(got), marker, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nsDialer(ns *testenv.Netns) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		timeout := 5 * time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = time.Until(d)
		}
		return ns.Dial(network, addr, timeout)
	}
}

func requireRsyslog(t *testing.T) *testenv.Netns {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("rsyslogd"); err != nil {
		t.Skip("needs rsyslogd (Debian package rsyslog)")
	}
	return testenv.NewNetns(t)
}

// The structured data of findings arrives intact at a real rsyslogd over UDP,
// TCP (octet counting), TLS and the local socket, whatever quotes, backslashes
// and brackets the values hold.
func TestRsyslogReceivesFindings(t *testing.T) {
	ns := requireRsyslog(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	var tlsFiles []string
	caFile := ""
	if gtlsAvailable() {
		ca, cert, key, _ := testPKI(t)
		tlsFiles, caFile = []string{ca, cert, key}, ca
	} else {
		t.Log("rsyslog-gnutls not installed: TLS to rsyslogd not tested (apt-get install rsyslog-gnutls)")
	}
	startRsyslog(t, ns, dir, out, tlsFiles)

	container := `db "main" \ [x] ]` // no Docker name looks like this; the escaping must hold anyway
	tests := []struct {
		name   string
		target Target
	}{
		{"udp", Target{Type: TypeUDP, Address: "127.0.0.1:" + rsyslogPort}},
		{"tcp", Target{Type: TypeTCP, Address: "127.0.0.1:" + rsyslogPort}},
		{"tls", Target{Type: TypeTLS, Address: "127.0.0.1:" + rsyslogTLSPort, CAFile: caFile, ServerName: "syslog.test"}},
		{"local", Target{Type: TypeLocal, Address: filepath.Join(dir, "log"), Format: FormatRFC5424}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "tls" && caFile == "" {
				t.Skip("rsyslog-gnutls not installed")
			}
			s := newShipper(t, Options{Targets: []Target{tt.target}, Dial: nsDialer(ns)})
			l := s.NewLogger()
			marker := "via-" + tt.name
			for i := range 5 {
				l.WithFields(logrus.Fields{
					FieldCheck: "HD-NET-001", FieldMsgID: "finding", "severity": "high", "container": container,
					"port": "8080/tcp", "status": "fail", "n": i,
				}).Warn(marker + " port 8080/tcp reachable — from outside")
			}
			lines := waitLines(t, out, marker, 5)
			t.Logf("rsyslogd wrote: %s", lines[0])
			for i, line := range lines {
				p, err := parse5424(line)
				if err != nil {
					t.Fatalf("rsyslog wrote a line that does not parse: %v\n%q", err, line)
				}
				want := finding("id", "HD-NET-001", "severity", "high", "container", container, "port", "8080/tcp", "status", "fail", "n", fmt.Sprint(i))
				if diff := cmp.Diff(want, p.SD); diff != "" {
					t.Errorf("structured data (-want +got):\n%s", diff)
				}
				if !p.BOM || p.Msg != marker+" port 8080/tcp reachable — from outside" || p.MsgID != "finding" || p.Pri != 28 {
					t.Errorf("line %q: %+v", line, p)
				}
			}
		})
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// FAULTS.md 17: a SIGSTOPped receiver must not slow the caller at all, and once
// a receiver is back, new records reach it.
func TestRsyslogStoppedReceiver(t *testing.T) {
	ns := requireRsyslog(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	r := startRsyslog(t, ns, dir, out, nil)

	s := newShipper(t, Options{
		Targets: []Target{{Type: TypeStderr}, {Type: TypeTCP, Address: "127.0.0.1:" + rsyslogPort, QueueSize: 256}},
		Dial:    nsDialer(ns),
		// A write to the stopped receiver blocks up to 30 s: a logger that made its
		// caller wait would show it in every percentile.
		WriteTimeout: 30 * time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
	})
	l := s.NewLogger()
	payload := strings.Repeat("evidence ", 400) // ~3.6 kB: fills socket buffers fast
	const n = 2000
	measure := func(marker string) []time.Duration {
		d := make([]time.Duration, n)
		for i := range n {
			start := time.Now()
			l.WithFields(logrus.Fields{FieldCheck: "HD-NET-001", "container": "db", "n": i}).Warn(marker + " " + payload)
			d[i] = time.Since(start)
			time.Sleep(100 * time.Microsecond)
		}
		return d
	}

	up := measure("phase-up")
	st := s.Stats()[1]
	waitLines(t, out, "phase-up", n-int(st.Dropped))
	t.Logf("receiver up:      p50 %v p99 %v max %v (dropped %d)", percentile(up, .5), percentile(up, .99), percentile(up, 1), st.Dropped)

	r.signal(t, syscall.SIGSTOP)
	stopped := measure("phase-stopped")
	st = s.Stats()[1]
	t.Logf("receiver stopped: p50 %v p99 %v max %v (stats %+v)", percentile(stopped, .5), percentile(stopped, .99), percentile(stopped, 1), st)
	if st.Dropped == 0 {
		t.Error("nothing dropped while the receiver was stopped: did it really stop?")
	}
	// A blocking writer would hold the caller for the 30 s write timeout; the
	// bounds are loose so a loaded CI machine (scheduling stalls of a second
	// were seen with fuzzers running) never fails them for noise.
	if worst := percentile(stopped, 1); worst > 5*time.Second {
		t.Errorf("a log call took %v while the receiver was stopped", worst)
	}
	if p99up, p99 := percentile(up, .99), percentile(stopped, .99); p99 > 10*p99up+50*time.Millisecond {
		t.Errorf("p99 of a log call rose from %v to %v while the receiver was stopped", p99up, p99)
	}

	// The receiver dies and a new one starts on the same port.
	r.kill()
	out2 := filepath.Join(dir, "out2.log")
	r2 := startRsyslog(t, ns, dir, out2, nil)
	defer r2.kill()
	deadline := time.Now().Add(15 * time.Second)
	for st := s.Stats()[1]; st.Queued > 0 || !st.Up; st = s.Stats()[1] {
		if time.Now().After(deadline) {
			t.Fatalf("the target did not recover within 15s: %+v", st)
		}
		l.Info("nudge") // a write notices the dead connection sooner
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 20 {
		l.WithField("n", i).Warn("phase-after")
	}
	waitLines(t, out2, "phase-after", 20)
	t.Logf("after the receiver returned: 20/20 new records arrived; stats %+v", s.Stats()[1])
}
