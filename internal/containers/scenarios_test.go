package containers

import "strings"

// scenario is one `docker run` of the hardening guide's patterns and the exact
// set of HD-CTR checks it must fail. The same table drives the recording of
// testdata/inspect (record_test.go), the unit tests on those recordings and the
// end-to-end tests on a live engine.
type scenario struct {
	name string
	// args are the `docker run -d` flags before the image. "{{socket}}" and
	// "{{socketdir}}" stand for the test engine's API socket and its directory.
	args []string
	cmd  []string // the command after the image; default: sleep
	// fail is the full set of HD-CTR IDs that must fail, nothing more.
	fail []string
}

// hardened is the guide's hardened run plus resource limits: it fails no
// container check at all. Most scenarios are it with one thing changed, so each
// pattern is seen alone.
var hardened = []string{"-u", "1000:1000", "--cap-drop=ALL", "--cap-add=NET_BIND_SERVICE", "--read-only",
	"--security-opt", "no-new-privileges", "--memory", "64m", "--pids-limit", "100"}

func withHardened(extra ...string) []string {
	return append(append([]string{}, hardened...), extra...)
}

// without returns hardened minus the given flags (a flag taking a value is
// removed with its value).
func without(flags ...string) []string {
	var out []string
	for i := 0; i < len(hardened); i++ {
		a := hardened[i]
		drop := false
		for _, f := range flags {
			if a == f || strings.HasPrefix(a, f+"=") {
				drop = true
			}
		}
		if !drop {
			out = append(out, a)
			continue
		}
		if !strings.Contains(a, "=") && i+1 < len(hardened) && !strings.HasPrefix(hardened[i+1], "-") {
			i++ // its value
		}
	}
	return out
}

var httpd = []string{"httpd", "-f", "-p", "80", "-h", "/www"}

var scenarios = []scenario{
	// The guide's insecure defaults: `docker run -d my-app` and `-p 8080:80`.
	{name: "default", args: nil, fail: []string{"HD-CTR-001", "HD-CTR-004", "HD-CTR-006", "HD-CTR-010", "HD-CTR-011"}},
	{name: "publish-all", args: []string{"-p", "8080:80"}, cmd: httpd, fail: []string{"HD-CTR-001", "HD-CTR-004", "HD-CTR-006", "HD-CTR-010", "HD-CTR-011"}},
	// The guide's hardened run, exactly: only the resource limits are missing.
	{name: "guide-hardened", args: []string{"-u", "1000:1000", "--cap-drop=ALL", "--cap-add=NET_BIND_SERVICE", "--read-only",
		"--security-opt", "no-new-privileges", "-p", "127.0.0.1:8081:80"}, cmd: httpd, fail: []string{"HD-CTR-011"}},
	{name: "hardened", args: withHardened("-p", "127.0.0.1:8082:80"), cmd: httpd, fail: nil},
	{name: "hardened-named-user", args: append(without("-u"), "-u", "app"), fail: nil},
	{name: "hardened-volume", args: withHardened("-v", "hdt-data:/data"), fail: nil},
	{name: "hardened-publish-all", args: withHardened("-p", "8083:80"), cmd: httpd, fail: nil},
	// One insecure pattern each, on top of the hardened run.
	{name: "root-user", args: append(without("-u"), "-u", "0:0"), fail: []string{"HD-CTR-001"}},
	{name: "image-user-root", args: without("-u"), fail: []string{"HD-CTR-001"}},
	{name: "privileged", args: withHardened("--privileged"), fail: []string{"HD-CTR-002", "HD-CTR-004", "HD-CTR-005", "HD-CTR-009", "HD-CTR-012"}},
	{name: "no-cap-drop", args: without("--cap-drop", "--cap-add"), fail: []string{"HD-CTR-004"}},
	{name: "cap-add-sys-admin", args: withHardened("--cap-add", "SYS_ADMIN"), fail: []string{"HD-CTR-005"}},
	{name: "default-cap-add-sys-admin", args: []string{"--cap-add", "SYS_ADMIN"}, fail: []string{"HD-CTR-001", "HD-CTR-004", "HD-CTR-005", "HD-CTR-006", "HD-CTR-010", "HD-CTR-011"}},
	{name: "cap-add-all", args: withHardened("--cap-add", "ALL"), fail: []string{"HD-CTR-004", "HD-CTR-005"}},
	{name: "docker-socket", args: withHardened("-v", "{{socket}}:/var/run/docker.sock"), fail: []string{"HD-CTR-003"}},
	{name: "socket-dir", args: withHardened("-v", "{{socketdir}}:/engine:ro"), fail: []string{"HD-CTR-003"}},
	{name: "var-run", args: withHardened("-v", "/var/run:/hostrun:ro"), fail: []string{"HD-CTR-003"}},
	{name: "host-root", args: withHardened("-v", "/:/host:ro"), fail: []string{"HD-CTR-003", "HD-CTR-007"}},
	{name: "host-etc", args: withHardened("-v", "/etc:/hostetc:ro"), fail: []string{"HD-CTR-007"}},
	{name: "writable-rootfs", args: without("--read-only"), fail: []string{"HD-CTR-006"}},
	{name: "host-network", args: withHardened("--network", "host"), fail: []string{"HD-CTR-008"}},
	{name: "host-network-publish", args: withHardened("--network", "host", "-p", "8084:80"), fail: []string{"HD-CTR-008"}},
	{name: "host-namespaces", args: withHardened("--pid", "host", "--ipc", "host", "--uts", "host"), fail: []string{"HD-CTR-008"}},
	{name: "seccomp-unconfined", args: withHardened("--security-opt", "seccomp=unconfined"), fail: []string{"HD-CTR-009"}},
	{name: "no-new-privileges-missing", args: without("--security-opt"), fail: []string{"HD-CTR-010"}},
	{name: "no-limits", args: without("--memory", "--pids-limit"), fail: []string{"HD-CTR-011"}},
	{name: "device", args: withHardened("--device", "/dev/zero:/dev/hostzero"), fail: []string{"HD-CTR-012"}},
}

// expand replaces the engine placeholders in a scenario's flags.
func (s scenario) expand(socket, socketDir string) []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		a = strings.ReplaceAll(a, "{{socketdir}}", socketDir)
		out[i] = strings.ReplaceAll(a, "{{socket}}", socket)
	}
	return out
}

func (s scenario) command() []string {
	if s.cmd == nil {
		return []string{"sleep", "600"}
	}
	return s.cmd
}
