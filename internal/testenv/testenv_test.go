//go:build linux

package testenv

import (
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestRuntimeWrapperArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"create", []string{"--root", "/r", "--log", "/l", "--log-format", "json", "create", "--bundle", "B", "--pid-file", "p", "id"}},
		{"exec", []string{"--root", "/r", "exec", "--process", "P", "--detach", "id"}},
		{"state", []string{"--root", "/r", "state", "id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Non-existent files: create and exec must fail on them (they were
			// found), state must not touch anything.
			err := stripSysResource(tt.args)
			if (err != nil) != (tt.name != "state") {
				t.Fatalf("stripSysResource(%v) = %v", tt.args, err)
			}
		})
	}
}

// TestEngine proves the whole environment: a dockerd in its own namespace, a
// privileged container (the runtime wrapper), a published port reachable from the
// outsider, and the host's loopback-only port not reachable.
func TestEngine(t *testing.T) {
	e := StartEngine(t, EngineOptions{})
	o := e.Outsider(t)
	e.Docker(t, "run", "-d", "--name", "web", "-p", "8080:80", Image, "httpd", "-f", "-p", "80", "-h", "/www")
	e.Docker(t, "run", "-d", "--name", "lo", "-p", "127.0.0.1:8081:80", Image, "httpd", "-f", "-p", "80", "-h", "/www")
	e.Docker(t, "run", "-d", "--name", "priv", "--privileged", Image, "sleep", "600")
	if got := e.Docker(t, "inspect", "-f", "{{.HostConfig.Privileged}}", "priv"); got != "true" {
		t.Fatalf("privileged container inspect: %q", got)
	}

	o.WaitReachable(t, "192.0.2.1:8080", true)
	if o.Reachable("192.0.2.1:8081") {
		t.Error("127.0.0.1-published port reachable through the host address")
	}
	c, err := o.NS.Dial("tcp", "192.0.2.1:8080", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	body, _ := io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(body), "hardend-test") {
		t.Fatalf("GET / through the published port: %q", body)
	}

	// A listener in the engine's namespace (the stand-in for sshd).
	l, err := e.NS.Listen("tcp", "0.0.0.0:22")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if !o.Reachable("192.0.2.1:22") || !o.Reachable("[2001:db8:ff::1]:22") {
		t.Error("host listener not reachable from the outsider")
	}

	e.Restart(t)
	if out := e.Docker(t, "ps", "-aq"); len(strings.Fields(out)) != 3 {
		t.Fatalf("after restart: containers %q", out)
	}
}

// The machine's own namespace is never touched: dockerd's bridge exists only in
// the engine's namespace.
func TestEngineStaysInItsNamespace(t *testing.T) {
	e := StartEngine(t, EngineOptions{})
	if out := e.NS.Run(t, "ip", "-br", "link", "show", "docker0"); !strings.Contains(out, "docker0") {
		t.Fatalf("docker0 missing in the engine namespace: %q", out)
	}
	if err := exec.Command("ip", "link", "show", "docker0").Run(); err == nil {
		t.Skip("a docker0 exists in the root namespace (not ours); cannot prove isolation here")
	}
}
