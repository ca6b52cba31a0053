package kernel

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func gz(t testing.TB, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestParseKernelConfig(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want kconfig
	}{
		{"empty", "", kconfig{}},
		{"values", "CONFIG_BRIDGE=m\nCONFIG_VETH=y\nCONFIG_NR_CPUS=64\nCONFIG_LSM=\"lockdown,yama\"\n",
			kconfig{"CONFIG_BRIDGE": "m", "CONFIG_VETH": "y", "CONFIG_NR_CPUS": "64", "CONFIG_LSM": "lockdown,yama"}},
		{"not set", "# CONFIG_SECURITY_APPARMOR is not set\n# CONFIG_MODULES is not set\n",
			kconfig{"CONFIG_SECURITY_APPARMOR": "n", "CONFIG_MODULES": "n"}},
		{"comments and junk", "#\n# Automatically generated file\n#\nfoo=bar\n=y\nCONFIG_=y\nCONFIG-X=y\n# CONFIG_X is set\nCONFIG_OK=y",
			kconfig{"CONFIG_OK": "y"}},
		{"crlf and spaces", "  CONFIG_A=y\r\n\tCONFIG_B=m  \r\n", kconfig{"CONFIG_A": "y", "CONFIG_B": "m"}},
		{"escaped string", `CONFIG_CMDLINE="a \"b\" c"` + "\n", kconfig{"CONFIG_CMDLINE": `a "b" c`}},
		{"bad quotes kept trimmed", `CONFIG_X="abc` + "\n", kconfig{"CONFIG_X": "abc"}},
		{"last wins", "CONFIG_A=m\nCONFIG_A=y\n", kconfig{"CONFIG_A": "y"}},
		{"binary", "\x00\xff\xfeCONFIG_A=y\n\x00", kconfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseKernelConfig([]byte(tt.in))); diff != "" {
				t.Errorf("parseKernelConfig (-want +got):\n%s", diff)
			}
		})
	}
	cfg := kconfig{"CONFIG_A": "y", "CONFIG_B": "m", "CONFIG_C": "n", "CONFIG_D": "64"}
	for sym, want := range map[string]string{"CONFIG_A": "y", "CONFIG_B": "m", "CONFIG_C": "n", "CONFIG_D": "n", "CONFIG_E": "n"} {
		if got := cfg.tristate(sym); got != want {
			t.Errorf("tristate(%s) = %q, want %q", sym, got, want)
		}
	}
}

func TestReadKernelConfig(t *testing.T) {
	real, err := os.ReadFile(fixture("fc-6.18-builtin/proc/config.gz"))
	if err != nil {
		t.Fatal(err)
	}
	bomb := gz(t, bytes.Repeat([]byte("#"), limitConfig+1024)) // ~8 KiB compressed, 8 MiB inflated
	const rel = "6.1.0-28-amd64"
	tests := []struct {
		name    string
		files   map[string]string
		wantSrc string
		wantErr string // substring
	}{
		{"proc/config.gz", map[string]string{"proc/config.gz": string(real)}, "proc/config.gz", ""},
		{"proc first", map[string]string{"proc/config.gz": gz(t, []byte("CONFIG_A=y\n")), "boot/config-" + rel: "CONFIG_A=m\n"}, "proc/config.gz", ""},
		{"boot fallback", map[string]string{"boot/config-" + rel: "CONFIG_A=m\n"}, "boot/config-" + rel, ""},
		{"lib/modules fallback", map[string]string{"lib/modules/" + rel + "/config": "CONFIG_A=m\n"}, "lib/modules/" + rel + "/config", ""},
		{"truncated gzip falls back", map[string]string{"proc/config.gz": string(real[:200]), "boot/config-" + rel: "CONFIG_A=m\n"}, "boot/config-" + rel, ""},
		{"truncated gzip alone", map[string]string{"proc/config.gz": string(real[:200])}, "", "unexpected EOF"},
		{"gzip bomb", map[string]string{"proc/config.gz": bomb}, "", "read limit"},
		{"no CONFIG lines", map[string]string{"boot/config-" + rel: "hello\n"}, "", "no CONFIG_ lines"},
		{"directory", map[string]string{"proc/config.gz/": "", "boot/config-" + rel + "/": ""}, "", "is a directory"},
		{"nothing", nil, "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := writeTree(t, tt.files)
			cfg, src, err := readKernelConfig(h, rel)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if cfg != nil {
					t.Errorf("a config returned with the error")
				}
				return
			}
			if err != nil || src != tt.wantSrc || len(cfg) == 0 {
				t.Fatalf("readKernelConfig = %d symbols from %q, %v; want %q", len(cfg), src, err, tt.wantSrc)
			}
		})
	}
}

func TestReadGzipCompressedLimit(t *testing.T) {
	// A stored file bigger than the compressed limit is refused before inflating.
	h := writeTree(t, map[string]string{"proc/config.gz": strings.Repeat("x", limitConfigZ+1)})
	if _, err := h.readGzip("proc/config.gz"); !errors.Is(err, errTooLarge) {
		t.Errorf("readGzip of an oversized file: %v, want errTooLarge", err)
	}
}

func FuzzParseKernelConfig(f *testing.F) {
	f.Add([]byte("CONFIG_BRIDGE=m\n# CONFIG_X is not set\nCONFIG_LSM=\"a,b\"\n"))
	f.Add([]byte("#\n# comment\nCONFIG_=y\n=\n\"\n"))
	f.Add([]byte(`CONFIG_S="\"\\"` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := parseKernelConfig(data)
		for k := range cfg {
			if !validSymbol(k) {
				t.Fatalf("invalid symbol %q kept", k)
			}
			if v := cfg.tristate(k); v != "y" && v != "m" && v != "n" {
				t.Fatalf("tristate(%s) = %q", k, v)
			}
			_ = cfg.describe(k)
		}
	})
}
