package containers

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorded is the testdata recorded from a real Docker 20.10 engine (see
// record_test.go): the engine's paths, and per scenario its inspect JSON,
// /proc/PID/status, uid_map and cgroup.
type recorded struct {
	EngineDir, EngineSocket string
	Info, Version, Networks []byte
	Inspect                 map[string][]byte // scenario name -> GET /containers/{id}/json
	IDs                     map[string]string // scenario name -> full ID
	Pids                    map[string]int
	Status, UIDMap, Cgroup  map[string][]byte
}

func loadRecorded(t testing.TB) *recorded {
	t.Helper()
	read := func(p ...string) []byte {
		b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, p...)...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var engine struct{ Socket, Dir string }
	if err := json.Unmarshal(read("api", "engine.json"), &engine); err != nil {
		t.Fatal(err)
	}
	r := &recorded{EngineDir: engine.Dir, EngineSocket: engine.Socket,
		Info: read("api", "info.json"), Version: read("api", "version.json"), Networks: read("api", "networks.json"),
		Inspect: map[string][]byte{}, IDs: map[string]string{}, Pids: map[string]int{},
		Status: map[string][]byte{}, UIDMap: map[string][]byte{}, Cgroup: map[string][]byte{}}
	for _, sc := range scenarios {
		raw := read("inspect", sc.name+".json")
		var head struct {
			ID    string `json:"Id"`
			State struct{ Pid int }
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			t.Fatalf("%s.json: %v", sc.name, err)
		}
		r.Inspect[sc.name], r.IDs[sc.name], r.Pids[sc.name] = raw, head.ID, head.State.Pid
		r.Status[sc.name] = read("inspect", sc.name+".status")
		r.UIDMap[sc.name] = read("inspect", sc.name+".uid_map")
		r.Cgroup[sc.name] = read("inspect", sc.name+".cgroup")
	}
	return r
}

// fakeEngine serves recorded answers on a unix socket, with the recorded
// engine directory rewritten to Dir, and faults on demand.
type fakeEngine struct {
	Dir, Socket, Host string
	rec               *recorded
	srv               *http.Server

	mu         sync.Mutex
	containers []string // scenario names listed as running
	// hang makes every matching request block until the test ends.
	hang func(r *http.Request) bool
	// failInspect answers inspects with this status (0: normal).
	failInspect int
	// dropInspect closes the connection of every inspect after the first n.
	dropInspectAfter int
	inspects         atomic.Int64
	requests         atomic.Int64
	done             chan struct{}
}

func newFakeEngine(t testing.TB, rec *recorded, names ...string) *fakeEngine {
	t.Helper()
	dir, err := os.MkdirTemp("", "hdf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeEngine{Dir: dir, Socket: filepath.Join(dir, "d.sock"), rec: rec, containers: names,
		dropInspectAfter: -1, done: make(chan struct{})}
	f.Host = "unix://" + f.Socket
	l, err := net.Listen("unix", f.Socket)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve)}
	go f.srv.Serve(l)
	t.Cleanup(func() {
		close(f.done)
		f.srv.Close()
	})
	return f
}

func (f *fakeEngine) rewrite(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte(f.rec.EngineSocket), []byte(f.Socket))
	return bytes.ReplaceAll(b, []byte(f.rec.EngineDir), []byte(f.Dir))
}

func (f *fakeEngine) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	hang, failInspect, dropAfter, names := f.hang, f.failInspect, f.dropInspectAfter, append([]string{}, f.containers...)
	f.mu.Unlock()
	if hang != nil && hang(r) {
		select {
		case <-f.done:
		case <-r.Context().Done():
		}
		return
	}
	w.Header().Set("Api-Version", "1.41")
	w.Header().Set("Content-Type", "application/json")
	p := r.URL.Path
	if p == "/_ping" {
		w.Write([]byte("OK"))
		return
	}
	if !strings.HasPrefix(p, "/v1.41/") {
		http.Error(w, `{"message":"client version too new"}`, http.StatusBadRequest)
		return
	}
	p = strings.TrimPrefix(p, "/v1.41")
	switch {
	case p == "/info":
		w.Write(f.rewrite(f.rec.Info))
	case p == "/version":
		w.Write(f.rec.Version)
	case p == "/networks":
		w.Write(f.rec.Networks)
	case p == "/containers/json":
		var list []map[string]any
		for _, n := range names {
			id := f.rec.IDs[n]
			if id == "" {
				id = n // not a recorded scenario: a raw ID
			}
			list = append(list, map[string]any{"Id": id, "Names": []string{"/" + n}, "State": "running"})
		}
		json.NewEncoder(w).Encode(list)
	case strings.HasPrefix(p, "/containers/") && strings.HasSuffix(p, "/json"):
		n := f.inspects.Add(1)
		if dropAfter >= 0 && n > int64(dropAfter) {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		if failInspect != 0 {
			w.WriteHeader(failInspect)
			w.Write([]byte(`{"message":"injected failure"}`))
			return
		}
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/json")
		for name, full := range f.rec.IDs {
			if full == id {
				w.Write(f.rewrite(f.rec.Inspect[name]))
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"No such container: ` + id + `"}`))
	default:
		http.Error(w, `{"message":"not recorded"}`, http.StatusNotFound)
	}
}

// fixtureRoot builds a host root for the recorded containers: their init
// processes' status and uid_map under proc/PID, cap_last_cap, /var/run -> /run.
func fixtureRoot(t testing.TB, rec *recorded) string {
	t.Helper()
	root := t.TempDir()
	write := func(p string, b []byte) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, pid := range rec.Pids {
		write(filepath.Join("proc", strconv.Itoa(pid), "status"), rec.Status[name])
		write(filepath.Join("proc", strconv.Itoa(pid), "uid_map"), rec.UIDMap[name])
		write(filepath.Join("proc", strconv.Itoa(pid), "cgroup"), rec.Cgroup[name])
	}
	write("proc/sys/kernel/cap_last_cap", []byte("40\n"))
	write("etc/group", []byte("root:x:0:\ndocker:x:105:\n"))
	for _, d := range []string{"run", "usr/lib/modules", "root", "boot", "dev", "sys", "var/lib/docker"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for link, target := range map[string]string{"var/run": "/run", "lib": "usr/lib"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func waitFor(t testing.TB, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
