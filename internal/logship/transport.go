package logship

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"syscall"
)

// link is one open connection to a syslog receiver.
type link struct {
	net.Conn
	stream bool // bytes, not datagrams: records need framing
	octets bool // RFC 6587 octet counting (TCP, TLS); else newline-terminated (unix stream)
	// raw is the socket under TLS (or the connection itself), for the liveness
	// peek; nil when the connection is not a socket.
	raw syscall.Conn
}

func newSyslogSink(t Target, opts Options, stderr *sink, stderrOnlyFallback bool) (*sink, error) {
	fac, _ := ParseFacility(t.Facility) // validated
	format := t.Format
	if format == "" {
		format = FormatRFC5424
		if t.Type == TypeLocal {
			format = FormatRFC3164
		}
	}
	address := t.Address
	if t.Type == TypeLocal && address == "" {
		address = DefaultLocalSocket
	}
	scheme := t.Type
	if t.Type == TypeLocal {
		scheme = "unix"
	}
	k := newSink(scheme+"://"+address, t.QueueSize, opts)
	k.notices = stderr
	if stderrOnlyFallback {
		k.fallback = stderr
	}
	maxLen := maxStream
	if t.Type == TypeUDP {
		maxLen = maxUDP
		k.settle = udpSettle
	}
	withHost := t.Type != TypeLocal
	k.encode = func(r *record, b []byte) []byte {
		m := r.message(fac, opts.Hostname, opts.AppName, opts.ProcID)
		if format == FormatRFC3164 {
			return m.AppendRFC3164(b, maxLen, withHost)
		}
		return m.AppendRFC5424(b, maxLen)
	}

	dial := opts.Dial
	switch t.Type {
	case TypeUDP:
		k.dial = func(ctx context.Context) (*link, error) {
			c, err := dial(ctx, "udp", address)
			if err != nil {
				return nil, err
			}
			return &link{Conn: c}, nil
		}
	case TypeTCP:
		k.dial = func(ctx context.Context) (*link, error) {
			c, err := dial(ctx, "tcp", address)
			if err != nil {
				return nil, err
			}
			raw, _ := c.(syscall.Conn)
			return &link{Conn: c, stream: true, octets: true, raw: raw}, nil
		}
	case TypeTLS:
		cfg, err := tlsConfig(t)
		if err != nil {
			return nil, err
		}
		k.dial = func(ctx context.Context) (*link, error) {
			c, err := dial(ctx, "tcp", address)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, fmt.Errorf("tls handshake with %s: %w", address, err)
			}
			raw, _ := c.(syscall.Conn)
			return &link{Conn: tc, stream: true, octets: true, raw: raw}, nil
		}
	case TypeLocal:
		// Datagrams first, as syslog(3) does; a stream socket (syslog-ng's
		// unix-stream) takes newline-terminated records.
		k.dial = func(ctx context.Context) (*link, error) {
			c, err := dial(ctx, "unixgram", address)
			if err == nil {
				return &link{Conn: c}, nil
			}
			c, err2 := dial(ctx, "unix", address)
			if err2 != nil {
				return nil, fmt.Errorf("local syslog %s: %w (stream: %v)", address, err, err2)
			}
			raw, _ := c.(syscall.Conn)
			return &link{Conn: c, stream: true, raw: raw}, nil
		}
	}
	return k, nil
}

// tlsConfig reads the CA bundle and client certificate once, at New, so a bad
// path is an error the caller sees (and a policy reload rejects), not a
// reconnect loop.
func tlsConfig(t Target) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(t.Address)
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: t.ServerName,
		// No session tickets: nothing arrives from a syslog receiver after the
		// handshake, so a readable socket means the receiver closed it.
		SessionTicketsDisabled: true,
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
