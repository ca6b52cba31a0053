package logship

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus"
)

// syncBuffer is a bytes.Buffer safe for the stderr goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// collector is an in-process syslog receiver: every record it gets, unframed,
// goes to C.
type collector struct {
	Addr string
	C    chan string
	ln   net.Listener
	mu   sync.Mutex
	conn []net.Conn
}

// readOctetCounted reads RFC 6587 octet-counted frames.
func readOctetCounted(r *bufio.Reader, out chan<- string) error {
	for {
		n, err := r.ReadString(' ')
		if err != nil {
			return err
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil {
			return fmt.Errorf("bad frame length %q", n)
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(r, msg); err != nil {
			return err
		}
		out <- string(msg)
	}
}

func newStreamCollector(t *testing.T, ln net.Listener, read func(*bufio.Reader, chan<- string) error) *collector {
	t.Helper()
	c := &collector{Addr: ln.Addr().String(), C: make(chan string, 10000), ln: ln}
	t.Cleanup(func() { c.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conn = append(c.conn, conn)
			c.mu.Unlock()
			go read(bufio.NewReader(conn), c.C)
		}
	}()
	return c
}

// dropConns closes every accepted connection (the receiver restarts).
func (c *collector) dropConns() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conn {
		conn.Close()
	}
	c.conn = nil
}

func (c *collector) Close() {
	c.ln.Close()
	c.dropConns()
}

func newTCPCollector(t *testing.T) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newStreamCollector(t, ln, readOctetCounted)
}

func newUDPCollector(t *testing.T) *collector {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	c := &collector{Addr: pc.LocalAddr().String(), C: make(chan string, 10000)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			c.C <- string(buf[:n])
		}
	}()
	return c
}

func (c *collector) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-c.C:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("collector: no record within 10s")
		return ""
	}
}

// testPKI writes a CA and a server certificate for "syslog.test" and 127.0.0.1
// and returns the CA file and the server's TLS config.
func testPKI(t *testing.T) (caFile, certFile, keyFile string, server *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hardend test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "syslog.test"},
		DNSNames: []string{"syslog.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		name, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", srvDER}, {keyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.name, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	server = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	return caFile, certFile, keyFile, server
}

func newShipper(t *testing.T, opts Options) *Shipper {
	t.Helper()
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.Hostname == "" {
		opts.Hostname = "vps1"
	}
	opts.ProcID = "42"
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

func logFinding(l *logrus.Logger, container string) {
	l.WithFields(logrus.Fields{
		FieldCheck: "HD-NET-001", FieldMsgID: "finding", "severity": "high", "container": container,
		"port": "8080/tcp", "status": "fail",
	}).Warn("port 8080/tcp of " + container + " is reachable from outside")
}

// wantFinding is the structured data logFinding produces.
func wantFinding(container string) []Element {
	return finding("id", "HD-NET-001", "severity", "high", "container", container, "port", "8080/tcp", "status", "fail")
}

func TestShipToEachTransport(t *testing.T) {
	caFile, certFile, keyFile, serverTLS := testPKI(t)
	tlsLn, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	tlsC := newStreamCollector(t, tlsLn, readOctetCounted)
	// A server that insists on a client certificate.
	mtls := serverTLS.Clone()
	mtls.ClientAuth = tls.RequireAndVerifyClientCert
	mtlsLn, err := tls.Listen("tcp", "127.0.0.1:0", mtls)
	if err != nil {
		t.Fatal(err)
	}
	mtlsC := newStreamCollector(t, mtlsLn, readOctetCounted)
	tcpC := newTCPCollector(t)
	udpC := newUDPCollector(t)

	tests := []struct {
		name   string
		target Target
		c      *collector
	}{
		{"udp", Target{Type: TypeUDP, Address: udpC.Addr}, udpC},
		{"tcp", Target{Type: TypeTCP, Address: tcpC.Addr, Facility: "local3"}, tcpC},
		{"tls by name", Target{Type: TypeTLS, Address: tlsC.Addr, CAFile: caFile, ServerName: "syslog.test"}, tlsC},
		{"tls by address, client cert", Target{Type: TypeTLS, Address: mtlsC.Addr, CAFile: caFile, CertFile: certFile, KeyFile: keyFile}, mtlsC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newShipper(t, Options{Targets: []Target{tt.target}})
			l := s.NewLogger()
			logFinding(l, `db "main"`)
			got := tt.c.next(t)
			p, err := parse5424(got)
			if err != nil {
				t.Fatalf("parse %q: %v", got, err)
			}
			fac := FacilityDaemon
			if tt.target.Facility == "local3" {
				fac = 19
			}
			if p.Pri != int(fac)*8+int(SevWarning) || p.Hostname != "vps1" || p.AppName != "hardend" || p.ProcID != "42" || p.MsgID != "finding" {
				t.Errorf("header: %+v", p)
			}
			if diff := cmp.Diff(wantFinding(`db "main"`), p.SD); diff != "" {
				t.Errorf("structured data (-want +got):\n%s", diff)
			}
			if p.Msg != `port 8080/tcp of db "main" is reachable from outside` || p.BOM {
				t.Errorf("msg %q bom %v", p.Msg, p.BOM)
			}
		})
	}
}

func TestShipTLSRejectsUnknownCA(t *testing.T) {
	_, _, _, serverTLS := testPKI(t)
	otherCA, _, _, _ := testPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	c := newStreamCollector(t, ln, readOctetCounted)
	var stderr syncBuffer
	s := newShipper(t, Options{Targets: []Target{{Type: TypeTLS, Address: c.Addr, CAFile: otherCA}}, Stderr: &stderr, BackoffMin: time.Hour})
	s.NewLogger().Info("secret")
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "certificate signed by unknown authority") })
	select {
	case m := <-c.C:
		t.Fatalf("a receiver with an unknown certificate got %q", m)
	default:
	}
}

func TestShipLocalSocket(t *testing.T) {
	dir := t.TempDir()
	t.Run("datagram", func(t *testing.T) {
		path := filepath.Join(dir, "log")
		pc, err := net.ListenPacket("unixgram", path)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		s := newShipper(t, Options{Targets: []Target{{Type: TypeLocal, Address: path}}})
		logFinding(s.NewLogger(), "web")
		buf := make([]byte, 4096)
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		got := string(buf[:n])
		// RFC 3164 on the local socket: no hostname, the daemon adds it.
		want := `hardend[42]: [hardend@32473 id="HD-NET-001" severity="high" container="web" port="8080/tcp" status="fail"] port 8080/tcp of web is reachable from outside`
		if !strings.HasPrefix(got, "<28>") || !strings.HasSuffix(got, " "+want) {
			t.Errorf("got %q, want <28>TIMESTAMP %s", got, want)
		}
	})
	t.Run("stream fallback", func(t *testing.T) {
		path := filepath.Join(dir, "stream")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c := newStreamCollector(t, ln, func(r *bufio.Reader, out chan<- string) error {
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return err
				}
				out <- strings.TrimSuffix(line, "\n")
			}
		})
		s := newShipper(t, Options{Targets: []Target{{Type: TypeLocal, Address: path, Format: FormatRFC5424}}})
		logFinding(s.NewLogger(), "web")
		p, err := parse5424(c.next(t))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantFinding("web"), p.SD); diff != "" {
			t.Errorf("structured data (-want +got):\n%s", diff)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freePort returns a loopback address nobody listens on (any more).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A target that is down: its records go to stderr (stderr is not a target), the
// outage is said once, and when the receiver comes up the target is back, said
// once, and new records reach it.
func TestFallbackToStderrSaidOnce(t *testing.T) {
	addr := freePort(t)
	var stderr syncBuffer
	s := newShipper(t, Options{
		Targets: []Target{{Type: TypeTCP, Address: addr}},
		Stderr:  &stderr, BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	})
	l := s.NewLogger()
	for i := range 50 {
		l.WithField("n", i).Info("while down")
	}
	waitFor(t, func() bool { return strings.Count(stderr.String(), "while down") == 50 })
	time.Sleep(200 * time.Millisecond) // several reconnection attempts
	if n := strings.Count(stderr.String(), "unavailable"); n != 1 {
		t.Errorf("outage said %d times, want once:\n%s", n, stderr.String())
	}
	if st := s.Stats()[0]; st.Up || st.Failed != 50 {
		t.Errorf("stats while down: %+v, want Up=false Failed=50", st)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	c := newStreamCollector(t, ln, readOctetCounted)
	// The sink may be in a backoff sleep: the first records after the return may
	// still go to stderr. Keep logging until one arrives.
	var got string
	for got == "" {
		l.Info("after return")
		select {
		case got = <-c.C:
		case <-time.After(20 * time.Millisecond):
		}
	}
	if p, err := parse5424(got); err != nil || p.Msg != "after return" {
		t.Fatalf("got %q (%v)", got, err)
	}
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "is back after") })
	if n := strings.Count(stderr.String(), "is back after"); n != 1 {
		t.Errorf("return said %d times, want once", n)
	}
	if !s.Stats()[0].Up {
		t.Error("target not up after the return")
	}
}

// With stderr a target, a down syslog target keeps its records queued (they are
// in the journal anyway) and delivers them when the receiver comes back.
func TestQueuedWhileDownDeliveredOnReturn(t *testing.T) {
	addr := freePort(t)
	var stderr syncBuffer
	s := newShipper(t, Options{
		Targets: []Target{{Type: TypeStderr}, {Type: TypeTCP, Address: addr}},
		Stderr:  &stderr, BackoffMin: 20 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
	})
	l := s.NewLogger()
	for i := range 10 {
		l.WithField("n", i).Info("queued")
	}
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "unavailable") })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	c := newStreamCollector(t, ln, readOctetCounted)
	for i := range 10 {
		p, err := parse5424(c.next(t))
		if err != nil || p.Msg != "queued" || p.SD[0].Params[0].Value != strconv.Itoa(i) {
			t.Fatalf("record %d: %+v %v", i, p, err)
		}
	}
	if n := strings.Count(stderr.String(), "msg=queued"); n != 10 {
		t.Errorf("stderr got %d records, want 10", n)
	}
}

// A receiver that closed its end (restarted) is noticed before the next record
// is written into the void: nothing is lost.
func TestReconnectAfterReceiverRestart(t *testing.T) {
	c := newTCPCollector(t)
	s := newShipper(t, Options{Targets: []Target{{Type: TypeTCP, Address: c.Addr}}})
	l := s.NewLogger()
	l.Info("one")
	c.next(t)
	c.dropConns()
	time.Sleep(50 * time.Millisecond) // the FIN arrives
	for _, m := range []string{"two", "three"} {
		l.Info(m)
		if p, err := parse5424(c.next(t)); err != nil || p.Msg != m {
			t.Fatalf("got %+v (%v), want %q", p, err, m)
		}
	}
	// The receiver can read a record before the write that sent it returns and
	// is counted: wait for the count, then check it exactly.
	waitFor(t, func() bool { return s.Stats()[0].Sent >= 3 })
	if st := s.Stats()[0]; st.Reconnects != 1 || st.Sent != 3 {
		t.Errorf("stats %+v, want 1 reconnect, 3 sent", st)
	}
}

// A receiver that accepts and never reads (a SIGSTOPped rsyslogd, in-process):
// the queue fills, records are dropped and counted, and no log call waits.
func TestStalledReceiverNeverBlocksCaller(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // never read
		}
	}()
	s := newShipper(t, Options{Targets: []Target{{Type: TypeTCP, Address: ln.Addr().String(), QueueSize: 64}}, WriteTimeout: time.Minute})
	l := s.NewLogger()
	big := strings.Repeat("x", 4000)
	var worst time.Duration
	for i := range 20000 {
		start := time.Now()
		l.WithFields(logrus.Fields{FieldCheck: "HD-NET-001", "n": i}).Warn(big)
		worst = max(worst, time.Since(start))
	}
	st := s.Stats()[0]
	t.Logf("worst log call %v; stats %+v", worst, st)
	if st.Dropped == 0 {
		t.Errorf("no record dropped: the receiver cannot have taken 80 MB")
	}
	// A blocked caller would wait the minute-long write timeout; scheduling noise
	// on a loaded machine stays far below the bound.
	if worst > 10*time.Second {
		t.Errorf("a log call took %v with a stalled receiver", worst)
	}
}

func TestCloseDeliversQueued(t *testing.T) {
	c := newTCPCollector(t)
	s, err := New(Options{Targets: []Target{{Type: TypeTCP, Address: c.Addr}}, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	l := s.NewLogger()
	for i := range 500 {
		l.WithField("n", i).Info("bye")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		c.next(t)
	}
	if st := s.Stats()[0]; st.Sent != 500 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
	l.Info("after close") // must neither block nor panic
}

func TestStderrFormats(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 89e6, time.UTC)
	tests := []struct {
		name    string
		format  string
		journal bool
		check   func(t *testing.T, out string)
	}{
		{"text", FormatText, false, func(t *testing.T, out string) {
			want := `time="2026-03-04T05:06:07.089Z" level=warning msg="port open" check=HD-NET-001 container=db msgid=finding` + "\n"
			if out != want {
				t.Errorf("got %q, want %q", out, want)
			}
		}},
		{"journal", FormatText, true, func(t *testing.T, out string) {
			want := `<4>level=warning msg="port open" check=HD-NET-001 container=db msgid=finding` + "\n"
			if out != want {
				t.Errorf("got %q, want %q", out, want)
			}
		}},
		{"json", FormatJSON, false, func(t *testing.T, out string) {
			var got map[string]string
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"time": "2026-03-04T05:06:07.089Z", "level": "warning", "msg": "port open", "check": "HD-NET-001", "container": "db", "msgid": "finding"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			s, err := New(Options{Targets: []Target{{Type: TypeStderr, Format: tt.format}}, Stderr: &out, Journal: tt.journal})
			if err != nil {
				t.Fatal(err)
			}
			s.NewLogger().WithTime(at).WithFields(logrus.Fields{FieldCheck: "HD-NET-001", "container": "db", FieldMsgID: "finding"}).Warn("port open")
			s.Close(context.Background())
			tt.check(t, out.String())
		})
	}
}

func TestStderrIsJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	sys := st.Sys().(*syscall.Stat_t)
	match := fmt.Sprintf("%d:%d", sys.Dev, sys.Ino)
	for _, tt := range []struct {
		env  string
		want bool
	}{{match, true}, {"", false}, {fmt.Sprintf("%d:%d", sys.Dev, sys.Ino+1), false}, {"junk", false}} {
		got := StderrIsJournal(func(string) string { return tt.env }, f)
		if got != tt.want {
			t.Errorf("JOURNAL_STREAM=%q: got %v, want %v", tt.env, got, tt.want)
		}
	}
}

func TestNewRejectsBadTargets(t *testing.T) {
	tests := []struct {
		name   string
		target Target
		want   string
	}{
		{"unknown type", Target{Type: "kafka"}, "want stderr, local, udp, tcp or tls"},
		{"no port", Target{Type: TypeTCP, Address: "collector"}, "want host:port"},
		{"bad facility", Target{Type: TypeUDP, Address: "h:514", Facility: "local9"}, "unknown syslog facility"},
		{"bad stderr format", Target{Type: TypeStderr, Format: FormatRFC5424}, "want text or json"},
		{"bad syslog format", Target{Type: TypeTCP, Address: "h:514", Format: FormatJSON}, "want rfc5424 or rfc3164"},
		{"tls key on tcp", Target{Type: TypeTCP, Address: "h:514", CAFile: "/x"}, "only apply to tls"},
		{"cert without key", Target{Type: TypeTLS, Address: "h:6514", CertFile: "/x"}, "go together"},
		{"missing ca file", Target{Type: TypeTLS, Address: "h:6514", CAFile: "/nonexistent/ca.pem"}, "read ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{Targets: []Target{tt.target}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := New(Options{Targets: []Target{{Type: TypeStderr}, {Type: TypeStderr}}}); err == nil {
		t.Error("stderr twice: want an error")
	}
}

func TestRecordFieldOrder(t *testing.T) {
	l := logrus.New()
	e := logrus.NewEntry(l).WithFields(logrus.Fields{
		"zeta": 1, "status": "fail", FieldCheck: "HD-CTR-002", "alpha": errTest("boom"), "port": "80/tcp",
		"container": "web", "severity": "critical", FieldMsgID: "finding", "lasted": 90 * time.Second,
	})
	e.Message = "m"
	r := newRecord(e)
	var names []string
	for _, p := range r.message(FacilityDaemon, "h", "a", "1").Data[0].Params {
		names = append(names, p.Name+"="+p.Value)
	}
	want := []string{"id=HD-CTR-002", "severity=critical", "container=web", "port=80/tcp", "status=fail", "alpha=boom", "lasted=1m30s", "zeta=1"}
	if !slices.Equal(names, want) || r.msgID != "finding" {
		t.Errorf("params %v msgid %q, want %v", names, r.msgID, want)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

// A receiver that accepts every connection and closes it at once is not
// hammered: reconnections back off.
func TestReconnectBacksOff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
			c.Close()
		}
	}()
	s := newShipper(t, Options{Targets: []Target{{Type: TypeStderr}, {Type: TypeTCP, Address: ln.Addr().String()}},
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	l := s.NewLogger()
	for range 50 {
		l.Info("into the void")
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	n := accepted
	mu.Unlock()
	// 50 records in 500 ms: about one connection per record at most (a write
	// into a connection whose FIN has not arrived yet counts as sent), never a
	// spin of thousands.
	if n > 60 {
		t.Errorf("%d connections in 500 ms", n)
	}
	t.Logf("%d connections in 500 ms", n)
}
