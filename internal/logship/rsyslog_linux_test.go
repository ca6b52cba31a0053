//go:build linux

package logship

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardend/hardend/internal/logship/syslogtest"
	"github.com/hardend/hardend/internal/testenv"
	"github.com/sirupsen/logrus"
)

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
	syslogtest.Require(t)
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
	if syslogtest.GnuTLSAvailable() {
		ca, cert, key, _ := testPKI(t)
		tlsFiles, caFile = []string{ca, cert, key}, ca
	} else {
		t.Log("rsyslog-gnutls not installed: TLS to rsyslogd not tested (apt-get install rsyslog-gnutls)")
	}
	r := syslogtest.Start(t, ns, dir, out, syslogtest.Options{TLS: tlsFiles})

	container := `db "main" \ [x] ]` // no Docker name looks like this; the escaping must hold anyway
	tests := []struct {
		name   string
		target Target
	}{
		{"udp", Target{Type: TypeUDP, Address: "127.0.0.1:" + syslogtest.Port}},
		{"tcp", Target{Type: TypeTCP, Address: "127.0.0.1:" + syslogtest.Port}},
		{"tls", Target{Type: TypeTLS, Address: "127.0.0.1:" + syslogtest.TLSPort, CAFile: caFile, ServerName: "syslog.test"}},
		{"local", Target{Type: TypeLocal, Address: r.Socket, Format: FormatRFC5424}},
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
			lines := r.WaitLines(t, marker, 5, 15*time.Second)
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
	r := syslogtest.Start(t, ns, dir, out, syslogtest.Options{})

	s := newShipper(t, Options{
		Targets: []Target{{Type: TypeStderr}, {Type: TypeTCP, Address: "127.0.0.1:" + syslogtest.Port, QueueSize: 256}},
		Dial:    nsDialer(ns),
		// A write to the stopped receiver blocks up to 30 s: a logger that made its
		// caller wait would show it in every percentile.
		WriteTimeout: 30 * time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
	})
	l := s.NewLogger()
	payload := strings.Repeat("evidence ", 400) // ~3.6 kB
	logOne := func(marker string, i int, payload string) time.Duration {
		start := time.Now()
		l.WithFields(logrus.Fields{FieldCheck: "HD-NET-001", "container": "db", "n": i}).Warn(marker + " " + payload)
		return time.Since(start)
	}
	const n = 2000
	up := make([]time.Duration, n)
	for i := range n {
		up[i] = logOne("phase-up", i, payload)
		time.Sleep(100 * time.Microsecond)
	}
	st := s.Stats()[1]
	r.WaitLines(t, "phase-up", n-int(st.Dropped), 15*time.Second)
	t.Logf("receiver up:      p50 %v p99 %v max %v (dropped %d)", percentile(up, .5), percentile(up, .99), percentile(up, 1), st.Dropped)

	r.Signal(t, syscall.SIGSTOP)
	if err := r.WaitStopped(5 * time.Second); err != nil {
		t.Fatalf("after SIGSTOP: %v: the test would prove nothing", err)
	}
	// The kernel buffers a lot on loopback (tcp_rmem up to 32 MB here), so a
	// fixed number of records may all fit and prove nothing. Log the largest
	// records the TCP target sends (8 kB, rsyslog's default maximum) until
	// the receiver's buffers are full: records wait in the target's queue
	// and none is sent for 300 ms — what a live receiver never shows. Then
	// log n more, with the queue full and its writer blocked. Every call is
	// timed. The cap (256 MB) is far above what any socket buffers hold.
	big := strings.Repeat("evidence ", 900)
	const maxRecords = 256 << 20 / 8192
	var stopped []time.Duration
	stalled := func() bool {
		a := s.Stats()[1]
		if a.Queued == 0 {
			return false
		}
		time.Sleep(50 * time.Millisecond)
		if b := s.Stats()[1]; b.Sent != a.Sent || b.Queued == 0 {
			return false
		}
		time.Sleep(250 * time.Millisecond)
		b := s.Stats()[1]
		return b.Sent == a.Sent && b.Queued > 0
	}
	stalledAt := -1
	for i := 0; i < maxRecords && stalledAt < 0; i++ {
		stopped = append(stopped, logOne("phase-stopped", i, big))
		if i%64 == 63 && s.Stats()[1].Queued >= 256 && stalled() {
			stalledAt = i
		}
	}
	if stalledAt < 0 {
		t.Fatalf("%d records of 8 kB (%d MB) to a SIGSTOPped receiver and its queue still drains: did it really stop?", len(stopped), len(stopped)*8192>>20)
	}
	before := s.Stats()[1]
	for i := range n {
		stopped = append(stopped, logOne("phase-stopped", stalledAt+1+i, big))
	}
	st = s.Stats()[1]
	t.Logf("receiver stopped: its buffers full after %d records (%d sent); p50 %v p99 %v max %v over %d calls (stats %+v)",
		stalledAt+1, before.Sent, percentile(stopped, .5), percentile(stopped, .99), percentile(stopped, 1), len(stopped), st)
	if st.Dropped-before.Dropped < n/2 {
		t.Errorf("only %d of %d records dropped with the queue full and the receiver stopped", st.Dropped-before.Dropped, n)
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
	r.Kill()
	out2 := filepath.Join(dir, "out2.log")
	r2 := syslogtest.Start(t, ns, dir, out2, syslogtest.Options{})
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
	r2.WaitLines(t, "phase-after", 20, 15*time.Second)
	t.Logf("after the receiver returned: 20/20 new records arrived; stats %+v", s.Stats()[1])
}
