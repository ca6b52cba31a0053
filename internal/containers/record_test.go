//go:build linux

package containers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hardend/hardend/internal/testenv"
)

// TestRecordTestdata re-records testdata/ from a real engine (testenv, Docker
// 20.10 here): for every scenario the raw GET /containers/{id}/json answer
// (testdata/inspect/NAME.json), the `docker run` that produced it (NAME.cmd),
// and the init process's /proc/PID/status, uid_map and cgroup (NAME.status,
// NAME.uid_map, NAME.cgroup); plus /info, /version, /networks and the container list
// (testdata/api/). It only runs on demand:
//
//	HARDEND_RECORD=1 go test -run TestRecordTestdata ./internal/containers
func TestRecordTestdata(t *testing.T) {
	if os.Getenv("HARDEND_RECORD") == "" {
		t.Skip("re-records testdata/ from a live engine; set HARDEND_RECORD=1")
	}
	e := testenv.StartEngine(t, testenv.EngineOptions{})
	inspectDir := filepath.Join("testdata", "inspect")
	apiDir := filepath.Join("testdata", "api")
	for _, d := range []string{inspectDir, apiDir} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hc := e.HTTPClient()
	get := func(path string) []byte {
		t.Helper()
		resp, err := hc.Get("http://docker/v1.41" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %s %s", path, err, resp.Status, b)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		out.WriteByte('\n')
		return out.Bytes()
	}
	write := func(file string, data []byte) {
		t.Helper()
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	for _, sc := range scenarios {
		args := append([]string{"run", "-d", "--name", sc.name}, sc.expand(e.Socket, e.Dir)...)
		args = append(append(args, e.Image), sc.command()...)
		id := e.Docker(t, args...)
		raw := get("/containers/" + id + "/json")
		write(filepath.Join(inspectDir, sc.name+".json"), raw)
		cmdline := "docker " + strings.Join(args, " ") + "\n"
		write(filepath.Join(inspectDir, sc.name+".cmd"), []byte(cmdline))
		var st struct{ State struct{ Pid int } }
		if err := json.Unmarshal(raw, &st); err != nil || st.State.Pid == 0 {
			t.Fatalf("%s: not running (pid %d, %v)", sc.name, st.State.Pid, err)
		}
		for _, f := range []string{"status", "uid_map", "cgroup"} {
			b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(st.State.Pid), f))
			if err != nil {
				t.Fatal(err)
			}
			write(filepath.Join(inspectDir, sc.name+"."+f), b)
		}
	}
	write(filepath.Join(apiDir, "info.json"), get("/info"))
	write(filepath.Join(apiDir, "version.json"), get("/version"))
	write(filepath.Join(apiDir, "networks.json"), get("/networks"))
	write(filepath.Join(apiDir, "containers.json"), get("/containers/json"))
	engine, _ := json.MarshalIndent(map[string]string{
		"socket": e.Socket, "dir": e.Dir, "host": e.Host,
		"recorded_with": "HARDEND_RECORD=1 go test -run TestRecordTestdata ./internal/containers",
	}, "", "  ")
	write(filepath.Join(apiDir, "engine.json"), append(engine, '\n'))
	fmt.Fprintf(os.Stderr, "recorded %d scenarios into %s\n", len(scenarios), inspectDir)
}
