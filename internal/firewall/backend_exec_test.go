package firewall

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardend/hardend/internal/firewall/iptsave"
)

// The backend's process handling, against stand-in programs (shell scripts in a
// temporary directory pinned as Config.Dir): no root, no iptables.

// fakeTools writes the four programs of the nft variant; each runs body with
// $0 set to its name. calls counts every run in dir/calls.
func fakeTools(t *testing.T, body map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"iptables-nft-save", "ip6tables-nft-save", "iptables-nft-restore", "ip6tables-nft-restore"} {
		b, ok := body[name]
		if !ok {
			b = "exit 0"
		}
		script := "#!/bin/sh\necho x >> " + filepath.Join(dir, "calls") + "\n" + b + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func calls(t *testing.T, dir string) int {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "calls"))
	return strings.Count(string(b), "x")
}

func TestExecDeadline(t *testing.T) {
	dir := fakeTools(t, map[string]string{"iptables-nft-save": "exec sleep 30"})
	b, err := NewBackend(Config{Variant: VariantNFT, Dir: dir, ExecTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = b.Read(context.Background())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a hung iptables-save held Read for %v", took)
	}
	var ee *ExecError
	if !errors.As(err, &ee) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want an ExecError at the deadline", err)
	}
}

func TestReadRejectsBadDumps(t *testing.T) {
	tests := []struct {
		name, out string
		want      error
	}{
		{"truncated", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n", iptsave.ErrTruncated},
		{"garbage", "*filter\n:INPUT ACCEPT [0:0]\nnot a rule\nCOMMIT\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dump := filepath.Join(t.TempDir(), "dump")
			os.WriteFile(dump, []byte(tt.out), 0o644)
			dir := fakeTools(t, map[string]string{"ip6tables-nft-save": "cat " + dump})
			b, err := NewBackend(Config{Variant: VariantNFT, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			r, err := b.Read(context.Background())
			if err == nil || r != nil {
				t.Fatalf("Read = %v, %v; want an error and no rules", r, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), "ipv6") {
				t.Errorf("err %q does not say which family", err)
			}
		})
	}
}

func TestRestoreRetriesOnlyTheLock(t *testing.T) {
	lock := `echo "Another app is currently holding the xtables lock. Stopped waiting after 1s." >&2; exit 4`
	t.Run("lock: bounded retries, then ErrLocked", func(t *testing.T) {
		dir := fakeTools(t, map[string]string{"iptables-nft-restore": lock})
		b, _ := NewBackend(Config{Variant: VariantNFT, Dir: dir, Retries: 2, Backoff: 10 * time.Millisecond})
		err := b.restore(context.Background(), iptsave.IPv4, []byte("*filter\nCOMMIT\n"))
		if !errors.Is(err, ErrLocked) {
			t.Errorf("err = %v, want ErrLocked", err)
		}
		if n := calls(t, dir); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
	})
	t.Run("other failure: no retry", func(t *testing.T) {
		dir := fakeTools(t, map[string]string{"iptables-nft-restore": `echo "iptables-restore: line 2 failed" >&2; exit 1`})
		b, _ := NewBackend(Config{Variant: VariantNFT, Dir: dir, Retries: 2, Backoff: 10 * time.Millisecond})
		err := b.restore(context.Background(), iptsave.IPv4, []byte("*filter\nCOMMIT\n"))
		if err == nil || errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "line 2 failed") {
			t.Errorf("err = %v", err)
		}
		if n := calls(t, dir); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("argv: --noflush and a bounded --wait, the batch on stdin", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "got")
		dir := fakeTools(t, map[string]string{"iptables-nft-restore": `echo "$@" > ` + out + `; cat >> ` + out})
		b, _ := NewBackend(Config{Variant: VariantNFT, Dir: dir, LockWait: 3 * time.Second})
		if err := b.restore(context.Background(), iptsave.IPv4, []byte("*filter\nCOMMIT\n")); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		if want := "--noflush --wait 3\n*filter\nCOMMIT\n"; string(got) != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

func TestDetectVariantPure(t *testing.T) {
	docker, _ := iptsave.Parse([]byte("*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\nCOMMIT\n"), iptsave.IPv4)
	empty, _ := iptsave.Parse(nil, iptsave.IPv4)
	tests := []struct {
		name        string
		legacy, nft *iptsave.Ruleset
		want        Variant
		err         error
	}{
		{"nft", empty, docker, VariantNFT, nil},
		{"legacy", docker, empty, VariantLegacy, nil},
		{"legacy, nft unreadable", docker, nil, VariantLegacy, nil},
		{"both", docker, docker, "", ErrBothVariants},
		{"neither", empty, empty, "", ErrNoDockerChains},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectVariant(tt.legacy, tt.nft)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("DetectVariant = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
