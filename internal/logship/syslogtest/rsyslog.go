//go:build linux

package syslogtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/testenv"
)

// Ports rsyslogd listens on, on 127.0.0.1 of its namespace.
const (
	Port    = "5514" // imudp and imtcp
	TLSPort = "6514" // imtcp with the gtls driver, when Options.TLS is set
)

// Options shape the rsyslogd.
type Options struct {
	// TLS, when set, are the CA, certificate and key files of a TLS input on
	// TLSPort (needs the rsyslog-gnutls package: GnuTLSAvailable).
	TLS []string
	// WithInput prefixes every line of Out with the input module that
	// received it ("imudp ", "imtcp ", "imuxsock "), so a test tells the
	// transports apart.
	WithInput bool
}

// Rsyslog is one rsyslogd process the test started.
type Rsyslog struct {
	NS *testenv.Netns
	// Out is the file every received message is written to.
	Out string
	// Socket is the path of its local (imuxsock) socket; never /dev/log.
	Socket string

	dir, conf string
	cmd       *exec.Cmd
}

// GnuTLSAvailable reports whether rsyslog's GnuTLS stream driver (Debian
// package rsyslog-gnutls) is installed.
func GnuTLSAvailable() bool {
	m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so")
	m2, _ := filepath.Glob("/usr/lib/rsyslog/lmnsd_gtls.so")
	return len(m)+len(m2) > 0
}

// Require skips the test unless it runs as root with rsyslogd installed.
func Require(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("rsyslogd"); err != nil {
		t.Skip("needs rsyslogd (Debian package rsyslog)")
	}
}

// Start writes a configuration under dir and starts rsyslogd in ns, writing
// to out; it returns once rsyslogd receives over UDP and accepts TCP. The
// process is killed when the test ends.
func Start(t testing.TB, ns *testenv.Netns, dir, out string, opts Options) *Rsyslog {
	t.Helper()
	Require(t)
	r := &Rsyslog{NS: ns, Out: out, Socket: filepath.Join(dir, "log"), dir: dir,
		conf: filepath.Join(dir, fmt.Sprintf("rsyslog-%d.conf", time.Now().UnixNano()))}
	var conf strings.Builder
	fmt.Fprintf(&conf, "global(workDirectory=%q", dir)
	if opts.TLS != nil {
		fmt.Fprintf(&conf, " defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q",
			opts.TLS[0], opts.TLS[1], opts.TLS[2])
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
`, r.Socket, Port, Port)
	if opts.TLS != nil {
		fmt.Fprintf(&conf, `input(type="imtcp" address="127.0.0.1" port=%q streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
`, TLSPort)
	}
	tmpl := "%rawmsg%\\n"
	if opts.WithInput {
		tmpl = "%inputname% %rawmsg%\\n"
	}
	fmt.Fprintf(&conf, `template(name="raw" type="string" string="%s")
*.* action(type="omfile" file=%q template="raw")
`, tmpl, out)
	if err := os.WriteFile(r.conf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r.start(t)
	return r
}

func (r *Rsyslog) start(t testing.TB) {
	t.Helper()
	pidfile := filepath.Join(r.dir, "rsyslogd.pid")
	os.Remove(pidfile)
	cmd := r.NS.Command(context.Background(), "rsyslogd", "-n", "-f", r.conf, "-i", pidfile)
	logf, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("rsyslogd-%d.log", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	r.cmd = cmd
	t.Cleanup(r.Kill)
	// Ready when a UDP probe reaches the file and imtcp accepts.
	deadline := time.Now().Add(20 * time.Second)
	probe := fmt.Sprintf("<14>1 - - - - - - probe-%d", time.Now().UnixNano())
	for {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("rsyslogd not ready after 20s; its output:\n%s", b)
		}
		if c, err := r.NS.Dial("udp", "127.0.0.1:"+Port, time.Second); err == nil {
			c.Write([]byte(probe))
			c.Close()
		}
		time.Sleep(50 * time.Millisecond)
		if b, _ := os.ReadFile(r.Out); strings.Contains(string(b), probe) {
			if c, err := r.NS.Dial("tcp", "127.0.0.1:"+Port, time.Second); err == nil {
				c.Close()
				return
			}
		}
	}
}

// PID is rsyslogd's pid (0 once killed).
func (r *Rsyslog) PID() int {
	if r.cmd == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Signal sends sig to rsyslogd (SIGSTOP and SIGCONT freeze and thaw it).
func (r *Rsyslog) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if r.cmd == nil {
		t.Fatal("syslogtest: rsyslogd not running")
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal rsyslogd: %v", err)
	}
}

// WaitStopped waits up to timeout until every thread of rsyslogd is stopped
// by a signal (state T in /proc/PID/task/*/stat): the proof that a SIGSTOP
// took effect, which the kernel completes asynchronously.
func (r *Rsyslog) WaitStopped(timeout time.Duration) error {
	if r.cmd == nil {
		return fmt.Errorf("rsyslogd not running")
	}
	deadline := time.Now().Add(timeout)
	for {
		running, err := runningThreads(r.cmd.Process.Pid)
		if err != nil {
			return err
		}
		if running == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d threads of rsyslogd (pid %d) still not stopped after %v", running, r.cmd.Process.Pid, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runningThreads counts the threads of pid not in state T (stopped).
func runningThreads(pid int) (int, error) {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return 0, fmt.Errorf("threads of pid %d: %v", pid, err)
	}
	n := 0
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		// pid (comm) STATE ...: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) {
			return 0, fmt.Errorf("unexpected %s: %q", f, s)
		}
		if s[i+2] != 'T' {
			n++
		}
	}
	return n, nil
}

// Kill SIGKILLs the rsyslogd (by pid; works when stopped too) and reaps it.
func (r *Rsyslog) Kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

// Restart kills the rsyslogd and starts a new one with the same
// configuration, ports and output file.
func (r *Rsyslog) Restart(t testing.TB) {
	t.Helper()
	r.Kill()
	r.start(t)
}

// Lines returns the lines of the output file, rsyslogd's own readiness probes
// left out.
func (r *Rsyslog) Lines(t testing.TB) []string {
	t.Helper()
	return ReadLines(t, r.Out)
}

// ReadLines returns the lines of an output file, readiness probes left out.
func ReadLines(t testing.TB, file string) []string {
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

// WaitLines waits up to timeout until the output file holds n lines
// containing marker, and returns them.
func (r *Rsyslog) WaitLines(t testing.TB, marker string, n int, timeout time.Duration) []string {
	t.Helper()
	return WaitLines(t, r.Out, marker, n, timeout)
}

// WaitLines waits up to timeout until file holds n lines containing marker.
func WaitLines(t testing.TB, file, marker string, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var got []string
		for _, l := range ReadLines(t, file) {
			if strings.Contains(l, marker) {
				got = append(got, l)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines with %q after %v, want %d", file, len(got), marker, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
