//go:build linux

package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/testenv"
)

// TestBenchCheck is the container benchmark (scripts/bench-check.sh): in one
// test engine it grows the number of running containers to each N of
// HARDEND_BENCH_N (default "10 100 500") — a mix of the guide's patterns, each
// publishing a port — and measures the audit at each N:
//
//   - `hardend --check --format json` as a child process (DOCKER_HOST = the
//     engine): wall time, CPU time (user+sys) and peak RSS from its rusage;
//   - in-process Connect+Collect+Checks: wall time and CPU time of this process.
//
// Each measurement is repeated (HARDEND_BENCH_RUNS, default 5) and the median
// reported; HARDEND_BENCH_PROFILE=FILE writes a CPU profile of the in-process
// runs at the largest N; HARDEND_BENCH_CONCURRENCY="4 16" repeats the
// in-process audit at the largest N with those inspect concurrency bounds.
// Numbers, not assertions: it never runs in CI.
//
//	sudo HARDEND_BENCH=1 go test -run '^TestBenchCheck$' -v -timeout 60m ./internal/containers
func TestBenchCheck(t *testing.T) {
	if os.Getenv("HARDEND_BENCH") == "" {
		t.Skip("benchmark; run scripts/bench-check.sh (HARDEND_BENCH=1)")
	}
	var ns []int
	for _, f := range strings.Fields(envOr("HARDEND_BENCH_N", "10 100 500")) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			t.Fatalf("HARDEND_BENCH_N: %q", f)
		}
		ns = append(ns, n)
	}
	slices.Sort(ns)
	runs, _ := strconv.Atoi(envOr("HARDEND_BENCH_RUNS", "5"))
	if runs < 1 {
		runs = 1
	}
	e := testenv.StartEngine(t, testenv.EngineOptions{})
	// Remove the containers in parallel before the engine's teardown (cleanups
	// run last-in first-out): a single `docker rm -f` of hundreds of containers
	// outlasts testenv's deadline for one CLI call.
	t.Cleanup(func() { e.RemoveAllContainers(t) })
	// hardend --check needs cmd/hardend to build (the tree is shared work in
	// progress); HARDEND_BIN names a binary built elsewhere.
	hardend := os.Getenv("HARDEND_BIN")
	if hardend == "" {
		bin := filepath.Join(t.TempDir(), "hardend")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/hardend")
		cmd.Dir = testenv.ModuleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("cmd/hardend does not build; measuring in-process only: %v\n%s", err, out)
		} else {
			hardend = bin
		}
	}
	type row struct {
		n                       int
		childWall, childCPU     time.Duration
		childRSS                int64 // KiB
		childOK                 bool
		inWall, inCPU           time.Duration
		startWall               time.Duration
		inspected, failedChecks int
	}
	var rows []row
	running := 0
	for _, n := range ns {
		start := time.Now()
		startContainers(t, e, running, n)
		r := row{n: n, startWall: time.Since(start)}
		running = n

		// In-process: Connect+Collect+Checks.
		var walls, cpus []time.Duration
		if prof := os.Getenv("HARDEND_BENCH_PROFILE"); prof != "" && n == ns[len(ns)-1] {
			f, err := os.Create(prof)
			if err != nil {
				t.Fatal(err)
			}
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		for i := 0; i < runs; i++ {
			cpu0 := selfCPU()
			t0 := time.Now()
			opts := Options{Host: e.Host, Root: "/", Timeout: 30 * time.Second}
			c, err := Connect(opts)
			if err != nil {
				t.Fatal(err)
			}
			snap := Collect(context.Background(), c, opts)
			res := Checks(snap, opts)
			c.Close()
			walls, cpus = append(walls, time.Since(t0)), append(cpus, selfCPU()-cpu0)
			if snap.Err != nil || len(snap.Containers) != n {
				t.Fatalf("N=%d: inspected %d (%d failed): %v", n, len(snap.Containers), len(snap.Failed), snap.Err)
			}
			r.inspected = len(snap.Containers)
			r.failedChecks = 0
			for _, x := range res {
				if x.Status == "fail" {
					r.failedChecks++
				}
			}
		}
		r.inWall, r.inCPU = median(walls), median(cpus)

		// hardend --check as a child.
		if hardend != "" {
			var cw, cc []time.Duration
			var rss []int64
			for i := 0; i < runs; i++ {
				cmd := exec.Command(hardend, "--check", "--format", "json", "--docker-timeout", "30s")
				cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.Host)
				t0 := time.Now()
				out, err := cmd.Output()
				wall := time.Since(t0)
				if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() > 1) {
					t.Fatalf("hardend --check: %v: %s", err, out)
				}
				var doc struct {
					Host struct {
						Docker Facts `json:"docker"`
					} `json:"host"`
				}
				if err := json.Unmarshal(out, &doc); err != nil {
					t.Fatalf("hardend --check output: %v", err)
				}
				if doc.Host.Docker.Containers != n {
					t.Fatalf("hardend --check saw %d containers, want %d (%s)", doc.Host.Docker.Containers, n, doc.Host.Docker.Error)
				}
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				cw = append(cw, wall)
				cc = append(cc, tv(ru.Utime)+tv(ru.Stime))
				rss = append(rss, ru.Maxrss)
			}
			r.childWall, r.childCPU, r.childOK = median(cw), median(cc), true
			slices.Sort(rss)
			r.childRSS = rss[len(rss)/2]
		}
		rows = append(rows, r)
		t.Logf("N=%d done (containers started in %v)", n, r.startWall.Round(time.Millisecond))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\ncontainer audit benchmark: Docker %s, %d CPUs, median of %d runs\n", engineVersion(e), numCPU(), runs)
	if hardend != "" {
		fmt.Fprintf(&b, "%6s | %12s %12s %10s %14s | %12s %12s %14s\n", "N", "check wall", "check CPU", "check RSS", "wall/container", "in-proc wall", "in-proc CPU", "CPU/container")
		for _, r := range rows {
			fmt.Fprintf(&b, "%6d | %12s %12s %7d MiB %14s | %12s %12s %14s\n", r.n,
				ms(r.childWall), ms(r.childCPU), r.childRSS/1024, us(r.childWall/time.Duration(r.n)),
				ms(r.inWall), ms(r.inCPU), us(r.inCPU/time.Duration(r.n)))
		}
	} else {
		fmt.Fprintf(&b, "cmd/hardend does not build: in-process Collect+Checks only (no peak RSS of its own)\n")
		fmt.Fprintf(&b, "%6s | %12s %12s %14s\n", "N", "wall", "CPU", "CPU/container")
		for _, r := range rows {
			fmt.Fprintf(&b, "%6d | %12s %12s %14s\n", r.n, ms(r.inWall), ms(r.inCPU), us(r.inCPU/time.Duration(r.n)))
		}
	}
	if len(rows) >= 2 {
		a, z := rows[0], rows[len(rows)-1]
		dn := time.Duration(z.n - a.n)
		fmt.Fprintf(&b, "marginal cost per container (N %d→%d): in-process wall %s, CPU %s", a.n, z.n, us((z.inWall-a.inWall)/dn), us((z.inCPU-a.inCPU)/dn))
		if hardend != "" {
			fmt.Fprintf(&b, "; hardend --check wall %s, CPU %s", us((z.childWall-a.childWall)/dn), us((z.childCPU-a.childCPU)/dn))
		}
		b.WriteString("\n")
	}
	// Inspect concurrency against the largest N, in-process.
	for _, f := range strings.Fields(os.Getenv("HARDEND_BENCH_CONCURRENCY")) {
		conc, err := strconv.Atoi(f)
		if err != nil || conc < 1 {
			t.Fatalf("HARDEND_BENCH_CONCURRENCY: %q", f)
		}
		var walls, cpus []time.Duration
		for i := 0; i < runs; i++ {
			cpu0 := selfCPU()
			t0 := time.Now()
			opts := Options{Host: e.Host, Root: "/", Timeout: 30 * time.Second, Concurrency: conc}
			c, err := Connect(opts)
			if err != nil {
				t.Fatal(err)
			}
			Checks(Collect(context.Background(), c, opts), opts)
			c.Close()
			walls, cpus = append(walls, time.Since(t0)), append(cpus, selfCPU()-cpu0)
		}
		fmt.Fprintf(&b, "N=%d, inspect concurrency %2d: in-process wall %s, CPU %s\n", running, conc, ms(median(walls)), ms(median(cpus)))
	}
	fmt.Print(b.String())
}

// startContainers grows the engine from have to want running containers,
// cycling through the scenarios (minus their fixed host ports), each
// publishing its own port: even ones on every address, odd ones on loopback.
func startContainers(t *testing.T, e *testenv.Engine, have, want int) {
	t.Helper()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				sc := scenarios[i%len(scenarios)]
				var args []string
				src := sc.expand(e.Socket, e.Dir)
				for j := 0; j < len(src); j++ {
					if src[j] == "-p" {
						j++
						continue
					}
					if src[j] == "--network" && j+1 < len(src) && src[j+1] == "host" {
						j++ // host network cannot publish; keep the mix publishing
						continue
					}
					args = append(args, src[j])
				}
				port := fmt.Sprintf("%d:80", 20000+i)
				if i%2 == 1 {
					port = "127.0.0.1:" + port
				}
				name := fmt.Sprintf("bench-%04d-%s", i, sc.name)
				full := append(append([]string{"run", "-d", "--name", name, "-p", port}, args...), e.Image, "sleep", "86400")
				if _, err := e.DockerErr(full...); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("docker %s: %w", strings.Join(full, " "), err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := have; i < want; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

func engineVersion(e *testenv.Engine) string {
	out, err := e.DockerErr("version", "--format", "{{.Server.Version}}")
	if err != nil {
		return "?"
	}
	return out
}

func numCPU() int {
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "\nprocessor") + strings.Count(string(b[:min(len(b), 9)]), "processor")
	}
	return n
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
