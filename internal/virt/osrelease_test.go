package virt

import "testing"

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		in, release string
		wsl         bool
	}{
		{"5.15.153.1-microsoft-standard-WSL2\n", "5.15.153.1-microsoft-standard-WSL2", true},
		{"4.4.0-19041-Microsoft\n", "4.4.0-19041-Microsoft", true},
		{"6.6.36.3-microsoft-standard-WSL2+\n", "6.6.36.3-microsoft-standard-WSL2+", true},
		{"5.10.0-microsoft\n", "5.10.0-microsoft", false}, // case-sensitive, as systemd's strstr()
		{"6.1.0-18-amd64\n", "6.1.0-18-amd64", false},
		{"6.1.0\nWSL\n", "6.1.0", false}, // first line only
		{"", "", false},
	}
	for _, tt := range tests {
		release, wsl, err := parseOSRelease([]byte(tt.in))
		if err != nil || release != tt.release || wsl != tt.wsl {
			t.Errorf("parseOSRelease(%q) = %q, %t, %v; want %q, %t", tt.in, release, wsl, err, tt.release, tt.wsl)
		}
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("5.15.153.1-microsoft-standard-WSL2\n"))
	f.Add([]byte("4.4.0-Microsoft"))
	f.Fuzz(func(t *testing.T, data []byte) {
		release, wsl, err := parseOSRelease(data)
		if err != nil {
			t.Fatal(err)
		}
		if wsl != (contains(release, "Microsoft") || contains(release, "WSL")) {
			t.Fatalf("%q: wsl=%t", release, wsl)
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
