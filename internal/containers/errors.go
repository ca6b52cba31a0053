package containers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// Reason classifies why the Docker API could not be used.
type Reason int

// Reasons, each with its own wording in APIError.Error.
const (
	ReasonOther      Reason = iota
	ReasonNoSocket          // the unix socket does not exist
	ReasonNotSocket         // the path exists but is not a socket
	ReasonRefused           // nothing listens (daemon stopped or crashed)
	ReasonPermission        // not allowed to connect
	ReasonTimeout           // no answer within the deadline (hung, overloaded, SIGSTOPped)
	ReasonClosed            // the daemon hung up mid-request (stopped mid-scan)
	ReasonTLS               // TLS handshake or client certificate refused
	ReasonAPI               // the daemon answered with an error
)

// APIError is a failed Docker API call, explained for a sysadmin.
type APIError struct {
	Host    string
	Op      string // "GET /info", "inspect container 0123456789ab", ...
	Reason  Reason
	Timeout time.Duration
	Err     error
}

func (e *APIError) Unwrap() error { return e.Err }

func (e *APIError) Error() string {
	switch e.Reason {
	case ReasonNoSocket:
		return fmt.Sprintf("no Docker daemon at %s: the socket does not exist", e.Host)
	case ReasonNotSocket:
		return fmt.Sprintf("no Docker daemon at %s: the path exists but is not a socket", e.Host)
	case ReasonRefused:
		return fmt.Sprintf("no Docker daemon at %s: nothing accepts connections there (dockerd stopped or crashed?)", e.Host)
	case ReasonPermission:
		return fmt.Sprintf("permission denied connecting to the Docker daemon at %s: run hardend as root", e.Host)
	case ReasonTimeout:
		return fmt.Sprintf("the Docker daemon at %s did not answer %s within %s (hung, overloaded, or frozen with SIGSTOP?)", e.Host, e.Op, e.Timeout)
	case ReasonClosed:
		return fmt.Sprintf("the Docker daemon at %s went away during %s (stopped or restarted mid-scan?): %v", e.Host, e.Op, e.Err)
	case ReasonTLS:
		return fmt.Sprintf("TLS with the Docker daemon at %s failed during %s (client certificate? DOCKER_CERT_PATH/DOCKER_TLS_VERIFY): %v", e.Host, e.Op, e.Err)
	case ReasonAPI:
		return fmt.Sprintf("the Docker daemon at %s refused %s: %v", e.Host, e.Op, e.Err)
	}
	return fmt.Sprintf("cannot use the Docker daemon at %s (%s): %v", e.Host, e.Op, e.Err)
}

// wrap turns a client error into an *APIError with its reason. ctx is the
// call's (deadline) context.
func (c *Client) wrap(op string, ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	host := c.Host()
	e := &APIError{Host: host, Op: op, Timeout: c.opts.Timeout, Err: err}
	e.Reason = classify(host, ctx, err)
	return e
}

func classify(host string, ctx context.Context, err error) Reason {
	if errors.Is(err, context.DeadlineExceeded) || (ctx != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		return ReasonTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonTimeout
	}
	var tlsErr tls.RecordHeaderError
	var alert tls.AlertError
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &tlsErr) || errors.As(err, &alert) || errors.As(err, &certErr) ||
		strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "TLS-enabled daemon") {
		return ReasonTLS
	}
	if p, ok := unixPath(host); ok && isConnectionError(err) {
		return diagnoseSocket(p)
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused"):
		return ReasonRefused
	case errors.Is(err, syscall.EACCES) || errors.Is(err, fs.ErrPermission):
		return ReasonPermission
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "connection reset"):
		return ReasonClosed
	case isConnectionError(err):
		return ReasonRefused
	}
	return ReasonAPI
}

// isConnectionError reports whether err is about reaching the daemon at all,
// not an answer from it.
func isConnectionError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	s := err.Error()
	for _, frag := range []string{"Cannot connect to the Docker daemon", "failed to connect to the docker API",
		"permission denied while trying to connect", "connection refused", "no such file or directory",
		"connection reset", "EOF", "broken pipe"} {
		if strings.Contains(s, frag) {
			return true
		}
	}
	return false
}

// diagnoseSocket looks at a unix socket path to say why connecting failed:
// missing, not a socket, or refused / permission denied on a fresh connect.
func diagnoseSocket(p string) Reason {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ReasonNoSocket
	case errors.Is(err, fs.ErrPermission):
		return ReasonPermission
	case err == nil && fi.Mode().Type() != fs.ModeSocket:
		return ReasonNotSocket
	}
	conn, err := net.DialTimeout("unix", p, time.Second)
	if err == nil {
		conn.Close()
		// It accepts connections now: the daemon dropped ours mid-request.
		return ReasonClosed
	}
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		return ReasonPermission
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, syscall.ENOENT):
		return ReasonNoSocket
	}
	return ReasonRefused
}
