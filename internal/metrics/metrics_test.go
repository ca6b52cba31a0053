package metrics

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sampleLine is the exposition format's sample syntax (no timestamps).
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$`)

// parseExposition checks the text format strictly and returns every sample by
// its series ("name{labels}").
func parseExposition(t *testing.T, r io.Reader) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || (f[1] != "gauge" && f[1] != "counter") || typed[f[0]] {
				t.Fatalf("bad or repeated TYPE line %q", line)
			}
			typed[f[0]] = true
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not an exposition line: %q", line)
		}
		if !typed[m[1]] {
			t.Fatalf("sample before its TYPE: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("bad value in %q", line)
		}
		series := m[1] + m[2]
		if _, dup := out[series]; dup {
			t.Fatalf("duplicate series %s", series)
		}
		out[series] = v
	}
	return out
}

func TestScrapeOverLoopback(t *testing.T) {
	m := New("1.2.3")
	at := time.Unix(1767225600, 500_000_000)
	m.SetFindings(map[FindingKey]int{{"HD-NET-001", "high"}: 2, {"HD-CTR-002", "critical"}: 1})
	m.SetFindings(map[FindingKey]int{{"HD-NET-001", "high"}: 3}) // HD-CTR-002 cleared
	m.ScanDone("full", at, 1500*time.Millisecond, nil)
	m.ScanDone("event", at.Add(time.Hour), time.Second, errors.New("docker gone")) // not the last scan
	m.ReconcileDone(nil)
	m.ReconcileDone(errors.New("xtables lock"))
	m.DriftRepaired()
	m.SetDockerUp(true)
	m.SetLogStats(func() []LogTarget {
		return []LogTarget{{Target: "stderr", Sent: 10, Up: true}, {Target: `tcp://"odd"\host:514`, Sent: 4, Dropped: 5, Failed: 6}}
	})

	ln, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	got := parseExposition(t, resp.Body)
	want := map[string]float64{
		`hardend_build_info{version="1.2.3"}`:                                                       1,
		`hardend_findings{check="HD-CTR-002",severity="critical"}`:                                  0,
		`hardend_findings{check="HD-NET-001",severity="high"}`:                                      3,
		`hardend_last_scan_timestamp_seconds`:                                                       1767225600.5,
		`hardend_last_scan_duration_seconds`:                                                        1.5,
		`hardend_scans_total{kind="event"}`:                                                         1,
		`hardend_scans_total{kind="full"}`:                                                          1,
		`hardend_scan_errors_total`:                                                                 1,
		`hardend_reconciles_total`:                                                                  2,
		`hardend_reconcile_errors_total`:                                                            1,
		`hardend_firewall_drift_total`:                                                              1,
		`hardend_docker_up`:                                                                         1,
		`hardend_log_messages_sent_total{target="stderr"}`:                                          10,
		`hardend_log_messages_sent_total{target="tcp://\"odd\"\\host:514"}`:                         4,
		`hardend_log_messages_dropped_total{target="stderr",reason="queue_full"}`:                   0,
		`hardend_log_messages_dropped_total{target="stderr",reason="undelivered"}`:                  0,
		`hardend_log_messages_dropped_total{target="tcp://\"odd\"\\host:514",reason="queue_full"}`:  5,
		`hardend_log_messages_dropped_total{target="tcp://\"odd\"\\host:514",reason="undelivered"}`: 6,
		`hardend_log_target_up{target="stderr"}`:                                                    1,
		`hardend_log_target_up{target="tcp://\"odd\"\\host:514"}`:                                   0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scrape (-want +got):\n%s", diff)
	}

	for _, path := range []string{"/", "/debug/pprof/"} {
		r, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, r.StatusCode)
		}
	}
	r, err := http.Post("http://"+ln.Addr().String()+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", r.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

func TestCheckAddress(t *testing.T) {
	tests := []struct {
		addr        string
		allowRemote bool
		wantErr     string
	}{
		{"127.0.0.1:9641", false, ""},
		{"127.0.0.53:9641", false, ""},
		{"[::1]:9641", false, ""},
		{"localhost:9641", false, ""},
		{":9641", false, "not a loopback address"},
		{"0.0.0.0:9641", false, "not a loopback address"},
		{"192.0.2.1:9641", false, "not a loopback address"},
		{"[::]:9641", false, "not a loopback address"},
		{"192.0.2.1:9641", true, ""},
		{"127.0.0.1", false, "want host:port"},
		{"127.0.0.1:http", false, "bad port"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := CheckAddress(tt.addr, tt.allowRemote)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}
