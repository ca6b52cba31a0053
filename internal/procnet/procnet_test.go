package procnet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The kernel prints each 32-bit address word in host byte order; these tables
// were captured on little-endian machines.
func littleEndian(t *testing.T) {
	t.Helper()
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	if b[0] != 1 {
		t.Skip("fixtures were captured on a little-endian machine")
	}
}

const tcp4Table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:092F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   2: 0100A8C0:0016 0200A8C0:D431 01 00000000:00000000 02:000A7D6B 00000000  1000        0 555 2 0000000000000000 20 4 29 10 -1
`

// [::]:2375, [::1]:631 and [2001:db8::1]:443 as /proc/net/tcp6 prints them.
const tcp6Table = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0947 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7002 1 0000000000000000 100 0 0 10 0
   2: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 06 00000000:00000000 00:00000000 00000000   101        0 0 1 0000000000000000 100 0 0 10 0
`

func TestParseTCP(t *testing.T) {
	littleEndian(t)
	ap := netip.MustParseAddrPort
	tests := []struct {
		name    string
		data    string
		v6      bool
		want    []Socket
		wantErr bool
	}{
		{name: "ipv4", data: tcp4Table, want: []Socket{
			{Local: ap("127.0.0.1:2351"), Remote: ap("0.0.0.0:0"), State: StateListen, Inode: 31337},
			{Local: ap("0.0.0.0:8080"), Remote: ap("0.0.0.0:0"), State: StateListen, Inode: 4242},
			{Local: ap("192.168.0.1:22"), Remote: ap("192.168.0.2:54321"), State: StateEstablished, UID: 1000, Inode: 555},
		}},
		{name: "ipv6", data: tcp6Table, v6: true, want: []Socket{
			{Local: ap("[::]:2375"), Remote: ap("[::]:0"), State: StateListen, Inode: 7001},
			{Local: ap("[::1]:631"), Remote: ap("[::]:0"), State: StateListen, Inode: 7002},
			{Local: ap("[2001:db8::1]:443"), Remote: ap("[::]:0"), State: 6, UID: 101},
		}},
		{name: "header only", data: "  sl  local_address rem_address   st\n"},
		{name: "empty", data: ""},
		{name: "CRLF and blank lines", data: "  sl local\r\n\r\n   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9 1 0 100 0 0 10 0\r\n",
			want: []Socket{{Local: ap("127.0.0.1:80"), Remote: ap("0.0.0.0:0"), State: StateListen, Inode: 9}}},
		{name: "v4 table read as v6", data: tcp4Table, v6: true, wantErr: true},
		{name: "truncated line", data: "  sl\n   0: 0100007F:0050 00000000:0000 0A\n", wantErr: true},
		{name: "bad hex", data: "  sl\n   0: 0100007G:0050 00000000:0000 0A 0:0 0:0 0 0 0 1\n", wantErr: true},
		{name: "port too large", data: "  sl\n   0: 0100007F:10000 00000000:0000 0A 0:0 0:0 0 0 0 1\n", wantErr: true},
		{name: "no slot colon", data: "  sl\n   0 0100007F:0050 00000000:0000 0A 0:0 0:0 0 0 0 1\n", wantErr: true},
		{name: "negative uid", data: "  sl\n   0: 0100007F:0050 00000000:0000 0A 0:0 0:0 0 -1 0 1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTCP([]byte(tt.data), tt.v6)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseTCP() error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("ParseTCP() (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseTCP(f *testing.F) {
	f.Add([]byte(tcp4Table), false)
	f.Add([]byte(tcp6Table), true)
	f.Add([]byte("  sl\n   0: 0100007F:0050 00000000:0000 0A 0:0 0:0 0 0 0 1\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, v6 bool) {
		socks, err := ParseTCP(data, v6)
		if err != nil {
			return
		}
		for _, s := range socks {
			if !s.Local.IsValid() || s.Local.Addr().Is6() != v6 {
				t.Fatalf("parsed an invalid local address %v (v6=%v) from %q", s.Local, v6, data)
			}
		}
	})
}

const unixTable = `Num       RefCount Protocol Flags    Type St Inode Path
0000000041d67f56: 00000003 00000000 00000000 0001 03   180
ffff8a1c: 00000002 00000000 00010000 0001 01 23456 /run/docker.sock
ffff8a1d: 00000002 00000000 00010000 0001 01 23457 /tmp/a dir/with  spaces.sock
ffff8a1e: 00000003 00000000 00000000 0001 03 23458 /run/docker.sock
ffff8a1f: 00000002 00000000 00010000 0005 01 23459 @/containerd-shim/abc.sock
`

func TestParseUnix(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []UnixSocket
		wantErr bool
	}{
		{name: "table", data: unixTable, want: []UnixSocket{
			{Inode: 180},
			{Path: "/run/docker.sock", Inode: 23456, Listening: true},
			{Path: "/tmp/a dir/with  spaces.sock", Inode: 23457, Listening: true},
			{Path: "/run/docker.sock", Inode: 23458},
			{Path: "@/containerd-shim/abc.sock", Inode: 23459, Listening: true},
		}},
		{name: "empty", data: ""},
		{name: "short line", data: "Num\nffff: 00000002 00000000\n", wantErr: true},
		{name: "bad flags", data: "Num\nffff: 00000002 00000000 0001000Z 0001 01 1 /x\n", wantErr: true},
		{name: "bad inode", data: "Num\nffff: 00000002 00000000 00010000 0001 01 x /x\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUnix([]byte(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseUnix() error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseUnix() (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseUnix(f *testing.F) {
	f.Add([]byte(unixTable))
	f.Add([]byte("Num\nffff: 1 0 10000 1 1 5 /x y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseUnix(data)
	})
}

func TestParseSocketLink(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"socket:[12345]", 12345, true},
		{"socket:[]", 0, false},
		{"socket:[12", 0, false},
		{"pipe:[12]", 0, false},
		{"/dev/null", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseSocketLink(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseSocketLink(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// Fixture tree: a missing tcp6 (IPv6 disabled) is fine, a missing tcp is not.
func TestListenersFixture(t *testing.T) {
	littleEndian(t)
	root := t.TempDir()
	dir := filepath.Join(root, "proc", "42", "net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Listeners(root, 42); err == nil {
		t.Fatal("Listeners without a tcp table: want an error")
	}
	if err := os.WriteFile(filepath.Join(dir, "tcp"), []byte(tcp4Table), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Listeners(root, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Local.Port() != 2351 || got[1].Local.Port() != 8080 {
		t.Fatalf("Listeners() = %v, want the two LISTEN sockets", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "tcp6"), []byte(tcp6Table), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = Listeners(root, 42)
	if err != nil || len(got) != 4 {
		t.Fatalf("Listeners() = %v, %v; want 4 LISTEN sockets", got, err)
	}
}

// On the live kernel: a listener this test opens is found, and this process
// holds its inode.
func TestListenersLive(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("cannot listen on loopback: %v", err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	socks, err := Listeners("/", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	inodes, err := SocketInodes("/", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if s.Local.Port() == port && s.Local.Addr() == netip.MustParseAddr("127.0.0.1") {
			if !inodes[s.Inode] {
				t.Errorf("listener inode %d not among this process's sockets", s.Inode)
			}
			return
		}
	}
	t.Fatalf("listener 127.0.0.1:%d not found in %v", port, socks)
}

func TestUnixSocketsLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("cannot listen on a unix socket: %v", err)
	}
	defer l.Close()
	socks, err := UnixSockets("/", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	inodes, err := SocketInodes("/", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if s.Path == path {
			if !s.Listening || !inodes[s.Inode] {
				t.Errorf("socket %+v: want listening and held by this process", s)
			}
			return
		}
	}
	t.Fatalf("unix listener %s not found", path)
}
