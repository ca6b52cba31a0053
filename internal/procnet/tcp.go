package procnet

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
)

// TCPState is the kernel's TCP state number as printed in /proc/net/tcp (the
// "st" column, include/net/tcp_states.h).
type TCPState uint8

// TCP states hardend cares about; the others keep their number.
const (
	StateEstablished TCPState = 0x01
	StateListen      TCPState = 0x0A
)

func (s TCPState) String() string {
	switch s {
	case StateEstablished:
		return "ESTABLISHED"
	case StateListen:
		return "LISTEN"
	}
	return fmt.Sprintf("state(%#02x)", uint8(s))
}

// Socket is one row of /proc/net/tcp or tcp6.
type Socket struct {
	Local  netip.AddrPort
	Remote netip.AddrPort
	State  TCPState
	UID    uint32
	Inode  uint64
}

// Listening reports whether the socket accepts connections.
func (s Socket) Listening() bool { return s.State == StateListen }

// ErrFormat marks input that is not a /proc socket table.
var ErrFormat = errors.New("not a /proc socket table")

// ParseTCP parses the contents of /proc/net/tcp (v6 false) or /proc/net/tcp6
// (v6 true). Addresses are printed by the kernel as 32-bit words in the host's
// byte order, so the file is decoded in this machine's native byte order: parse
// a table on the kind of machine that wrote it.
func ParseTCP(data []byte, v6 bool) ([]Socket, error) {
	var out []Socket
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if i == 0 && string(fields[0]) == "sl" {
			continue // the header
		}
		s, err := parseTCPLine(fields, v6)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseTCPLine decodes "0: 0100007F:0CEA 00000000:0000 0A ... uid timeout inode".
func parseTCPLine(f [][]byte, v6 bool) (Socket, error) {
	if len(f) < 10 {
		return Socket{}, fmt.Errorf("%w: %d fields, want at least 10", ErrFormat, len(f))
	}
	if len(f[0]) == 0 || f[0][len(f[0])-1] != ':' {
		return Socket{}, fmt.Errorf("%w: slot %q", ErrFormat, f[0])
	}
	local, err := parseHexAddrPort(f[1], v6)
	if err != nil {
		return Socket{}, fmt.Errorf("local address: %w", err)
	}
	remote, err := parseHexAddrPort(f[2], v6)
	if err != nil {
		return Socket{}, fmt.Errorf("remote address: %w", err)
	}
	st, err := strconv.ParseUint(string(f[3]), 16, 8)
	if err != nil {
		return Socket{}, fmt.Errorf("%w: state %q", ErrFormat, f[3])
	}
	uid, err := strconv.ParseUint(string(f[7]), 10, 32)
	if err != nil {
		return Socket{}, fmt.Errorf("%w: uid %q", ErrFormat, f[7])
	}
	inode, err := strconv.ParseUint(string(f[9]), 10, 64)
	if err != nil {
		return Socket{}, fmt.Errorf("%w: inode %q", ErrFormat, f[9])
	}
	return Socket{Local: local, Remote: remote, State: TCPState(st), UID: uint32(uid), Inode: inode}, nil
}

// parseHexAddrPort decodes "0100007F:0CEA" (IPv4) or 32 hex digits and a port
// (IPv6).
func parseHexAddrPort(b []byte, v6 bool) (netip.AddrPort, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: address %q has no port", ErrFormat, b)
	}
	hexAddr, hexPort := b[:i], b[i+1:]
	want := 8
	if v6 {
		want = 32
	}
	if len(hexAddr) != want {
		return netip.AddrPort{}, fmt.Errorf("%w: address %q: want %d hex digits", ErrFormat, hexAddr, want)
	}
	raw := make([]byte, want/2)
	if _, err := hex.Decode(raw, hexAddr); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: address %q: %v", ErrFormat, hexAddr, err)
	}
	port, err := strconv.ParseUint(string(hexPort), 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: port %q", ErrFormat, hexPort)
	}
	// Each 32-bit word was printed with %08X of a host-order value: turn every
	// word back into network byte order.
	var ip [16]byte
	for w := 0; w < len(raw)/4; w++ {
		v := binary.BigEndian.Uint32(raw[w*4:])
		binary.NativeEndian.PutUint32(ip[w*4:], v)
	}
	var addr netip.Addr
	if v6 {
		addr = netip.AddrFrom16(ip)
	} else {
		addr = netip.AddrFrom4([4]byte(ip[:4]))
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// Listeners returns the listening TCP sockets (IPv4 and IPv6) of the network
// namespace process pid lives in, from <root>/proc/<pid>/net/tcp and tcp6. A
// missing tcp6 (IPv6 disabled) is not an error. Every socket of the namespace
// is listed, not only pid's own: SocketInodes tells which ones pid holds.
func Listeners(root string, pid int) ([]Socket, error) {
	var out []Socket
	for _, t := range []struct {
		name string
		v6   bool
	}{{"tcp", false}, {"tcp6", true}} {
		file := filepath.Join(root, "proc", strconv.Itoa(pid), "net", t.name)
		data, err := os.ReadFile(file)
		if err != nil {
			if t.v6 && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("read listeners: %w", err)
		}
		socks, err := ParseTCP(data, t.v6)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", file, err)
		}
		for _, s := range socks {
			if s.Listening() {
				out = append(out, s)
			}
		}
	}
	return out, nil
}
