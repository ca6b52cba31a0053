//go:build linux

package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// runtimeName is the file name under which a test binary acts as the OCI runtime
// of the test engine instead of running tests (see init below).
const runtimeName = "hardend-test-runc"

// On these machines root's capability bounding set lacks CAP_SYS_RESOURCE, so runc
// refuses to start a container that asks for it ("unable to apply caps"), which is
// every --privileged or --cap-add ALL container (TESTING.md). The test engine's
// default runtime is therefore a link to the test binary itself: started under
// that name it removes CAP_SYS_RESOURCE from the OCI spec runc is about to apply
// and execs runc. Docker's inspect data stays exactly what the test asked for,
// which is all hardend reads. Doing it in init, before the testing package parses
// flags, keeps the wrapper in the one binary that exists for sure while tests run.
func init() {
	if filepath.Base(os.Args[0]) != runtimeName {
		return
	}
	if err := stripSysResource(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", runtimeName, err)
		os.Exit(1)
	}
	runc, err := findRunc()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", runtimeName, err)
		os.Exit(1)
	}
	err = syscall.Exec(runc, append([]string{"runc"}, os.Args[1:]...), os.Environ())
	fmt.Fprintf(os.Stderr, "%s: exec %s: %v\n", runtimeName, runc, err)
	os.Exit(1)
}

func findRunc() (string, error) {
	if p, err := exec.LookPath("runc"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("runc not found")
}

// stripSysResource edits the spec a runc invocation will read: the bundle's
// config.json for create/run, the --process file for exec.
func stripSysResource(args []string) error {
	var sub, bundle, process string
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "--bundle" || a == "-b":
			bundle = next()
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		case a == "--process" || (a == "-p" && sub == "exec"):
			process = next()
		case strings.HasPrefix(a, "--process="):
			process = strings.TrimPrefix(a, "--process=")
		case a == "--root" || a == "--log" || a == "--log-format" || a == "--criu" || a == "--rootless":
			if sub == "" {
				next()
			}
		case sub == "" && !strings.HasPrefix(a, "-"):
			sub = a
		}
	}
	switch sub {
	case "create", "run":
		if bundle == "" {
			bundle = "."
		}
		return editJSON(filepath.Join(bundle, "config.json"), func(doc map[string]any) {
			if p, ok := doc["process"].(map[string]any); ok {
				dropCap(p)
			}
		})
	case "exec":
		if process != "" {
			return editJSON(process, dropCap)
		}
	}
	return nil
}

func dropCap(process map[string]any) {
	caps, ok := process["capabilities"].(map[string]any)
	if !ok {
		return
	}
	for set, v := range caps {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		caps[set] = slices.DeleteFunc(list, func(c any) bool { return c == "CAP_SYS_RESOURCE" })
	}
}

func editJSON(file string, edit func(map[string]any)) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("parse %s: %w", file, err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(file, out, 0o600)
}
