package containers

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DaemonConfig is a parsed daemon.json. Parsing is strict where dockerd is
// strict (syntax, types of the keys hardend reads, unknown directives) and
// stricter where a human reader is misled (duplicate keys: the last one wins
// silently in dockerd).
type DaemonConfig struct {
	// Keys holds every top-level key with its value as decoded JSON (bool,
	// string, json.Number, []any, map[string]any or nil) and its position.
	Keys map[string]ConfigValue
	// Encoding is "utf-8", or what the byte order mark said ("utf-8 with BOM",
	// "utf-16le with BOM", "utf-16be with BOM").
	Encoding string
	// Problems found in a file that is still valid JSON: duplicate keys,
	// unknown directives, wrong types, a byte order mark.
	Problems []ConfigProblem
}

// ConfigValue is one key's value and where the key is in the file.
type ConfigValue struct {
	Value     any
	Line, Col int
}

// Problem kinds.
const (
	ProblemDuplicate = "duplicate key"
	ProblemUnknown   = "unknown directive"
	ProblemType      = "wrong type"
	ProblemBOM       = "byte order mark"
	ProblemConflict  = "set as a flag too"
)

// ConfigProblem is one thing wrong in an otherwise parsable daemon.json.
type ConfigProblem struct {
	Kind      string
	Key       string
	Line, Col int
	Msg       string
	// Fatal means dockerd refuses to start (or reload) with this file.
	Fatal bool
}

func (p ConfigProblem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d, column %d: %s", p.Line, p.Col, p.Msg)
	}
	return p.Msg
}

// ConfigSyntaxError is a daemon.json dockerd cannot parse at all.
type ConfigSyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *ConfigSyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// flatConfigKeys are objects dockerd does not flatten into flag names (moby
// daemon/config flatOptions); every other object's keys are validated as
// top-level directives ("proxies": {"http-proxy": ...}).
var flatConfigKeys = map[string]bool{
	"cluster-store-opts": true, "default-network-opts": true, "log-opts": true, "runtimes": true,
	"default-ulimits": true, "features": true, "builder": true,
}

// knownConfigKeys are the directives dockerd 20.10 to 29 accepts: its flag
// names and the daemon.json names that differ from them. dockerd refuses to
// start with any other ("the following directives don't match any
// configuration option").
var knownConfigKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(`
add-runtime allow-direct-routing allow-nondistributable-artifacts api-cors-header authorization-plugin
authorization-plugins bip bip6 bridge bridge-accept-fwmark builder cdi-spec-dir cdi-spec-dirs cgroup-parent
cluster-advertise cluster-store cluster-store-opt cluster-store-opts config-file containerd
containerd-namespace containerd-plugin-namespace containerd-plugins-namespace cpu-rt-period cpu-rt-runtime
cri-containerd data-root debug default-address-pool default-address-pools default-cgroupns-mode
default-gateway default-gateway-v6 default-init default-ipc-mode default-network-opt default-network-opts
default-runtime default-shm-size default-ulimit default-ulimits deprecated-key-path disable-legacy-registry
dns dns-opt dns-opts dns-search exec-opt exec-opts exec-root experimental feature features firewall-backend
fixed-cidr fixed-cidr-v6 graph group host host-gateway-ip host-gateway-ips hosts http-proxy https-proxy icc
init init-path insecure-registries insecure-registry ip ip-forward ip-forward-no-drop ip-masq ip6tables
iptables ipv6 label labels live-restore log-driver log-format log-level log-opt log-opts
max-concurrent-downloads max-concurrent-uploads max-download-attempts metrics-addr mtu
network-control-plane-mtu network-diagnostic-port no-new-privileges no-proxy node-generic-resource
node-generic-resources oom-score-adjust pidfile raw-logs registry-mirror registry-mirrors resolv-conf
rootless runtimes seccomp-profile selinux-enabled shutdown-timeout storage-driver storage-opt storage-opts
swarm-default-advertise-addr swarm-raft-election-tick swarm-raft-heartbeat-tick tls tlscacert tlscert
tlskey tlsverify userland-proxy userland-proxy-path userns-remap`) {
		m[k] = true
	}
	return m
}()

// JSON types the keys hardend reads (and other common ones) must have; dockerd
// fails to start on a mismatch ("cannot unmarshal string into Go struct field
// ... of type bool").
var configKeyTypes = map[string]string{
	"iptables": "bool", "ip6tables": "bool", "icc": "bool", "userland-proxy": "bool", "live-restore": "bool",
	"no-new-privileges": "bool", "tls": "bool", "tlsverify": "bool", "ipv6": "bool", "ip-forward": "bool",
	"ip-masq": "bool", "selinux-enabled": "bool", "debug": "bool", "experimental": "bool", "init": "bool",
	"rootless": "bool", "allow-direct-routing": "bool", "ip-forward-no-drop": "bool", "raw-logs": "bool",
	"ip": "string", "userns-remap": "string", "firewall-backend": "string", "seccomp-profile": "string",
	"data-root": "string", "exec-root": "string", "group": "string", "bip": "string", "bridge": "string",
	"log-driver": "string", "log-level": "string", "storage-driver": "string", "tlscacert": "string",
	"tlscert": "string", "tlskey": "string", "userland-proxy-path": "string", "default-runtime": "string",
	"hosts": "[]string", "dns-search": "[]string", "dns-opts": "[]string", "exec-opts": "[]string",
	"storage-opts": "[]string", "labels": "[]string", "insecure-registries": "[]string",
	"registry-mirrors": "[]string", "authorization-plugins": "[]string",
	"log-opts": "object", "default-ulimits": "object", "runtimes": "object", "features": "object",
	"default-network-opts": "object",
	"mtu":                  "number", "shutdown-timeout": "number", "max-concurrent-downloads": "number",
	"max-concurrent-uploads": "number",
}

// maxConfigSize bounds how much of daemon.json is read: real ones are a few
// hundred bytes; anything near this is not a configuration someone maintains.
const maxConfigSize = 1 << 20

// parseDaemonJSON parses daemon.json. A *ConfigSyntaxError means dockerd cannot
// read the file at all; otherwise the config is returned with its problems.
func parseDaemonJSON(data []byte) (*DaemonConfig, error) {
	cfg := &DaemonConfig{Keys: map[string]ConfigValue{}, Encoding: "utf-8"}
	text, enc, err := decodeBOM(data)
	if err != nil {
		return nil, err
	}
	if enc != "" {
		cfg.Encoding = enc
		cfg.Problems = append(cfg.Problems, ConfigProblem{Kind: ProblemBOM, Line: 1, Col: 1,
			Msg: fmt.Sprintf("the file starts with a byte order mark (%s): dockerd before 23.0 refuses it (\"invalid character 'ï' looking for beginning of value\")", enc)})
	}
	if !utf8.Valid(text) {
		off := invalidUTF8Offset(text)
		line, col := lineCol(text, off)
		return nil, &ConfigSyntaxError{Line: line, Col: col, Msg: "invalid UTF-8"}
	}
	if len(bytes.TrimSpace(text)) == 0 {
		return cfg, nil // dockerd accepts an empty file as "no settings"
	}
	p := &jsonParser{data: text, dec: json.NewDecoder(bytes.NewReader(text)), cfg: cfg}
	p.dec.UseNumber()
	if err := p.parseTop(); err != nil {
		return nil, err
	}
	sort.SliceStable(cfg.Problems, func(i, j int) bool {
		a, b := cfg.Problems[i], cfg.Problems[j]
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	return cfg, nil
}

// decodeBOM strips a UTF-8 byte order mark or decodes UTF-16 with one, as
// dockerd 23+ does; enc names the BOM found ("" for none).
func decodeBOM(data []byte) (text []byte, enc string, err error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], "utf-8 with BOM", nil
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		order := binary.ByteOrder(binary.LittleEndian)
		enc = "utf-16le with BOM"
		if data[0] == 0xFE {
			order, enc = binary.BigEndian, "utf-16be with BOM"
		}
		body := data[2:]
		if len(body)%2 != 0 {
			return nil, "", &ConfigSyntaxError{Line: 1, Col: 1, Msg: "truncated UTF-16 (odd number of bytes)"}
		}
		u := make([]uint16, len(body)/2)
		for i := range u {
			u[i] = order.Uint16(body[2*i:])
		}
		return []byte(string(utf16.Decode(u))), enc, nil
	}
	return data, "", nil
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// lineCol turns a byte offset into a 1-based line and column (in characters,
// as an editor shows them).
func lineCol(b []byte, off int) (int, int) {
	if off > len(b) {
		off = len(b)
	}
	if off < 0 {
		off = 0
	}
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

type jsonParser struct {
	data []byte
	dec  *json.Decoder
	cfg  *DaemonConfig
}

// syntaxErr locates a syntax error. The streaming decoder's offsets are
// relative to the value it was reading, so the position comes from a second,
// whole-document pass whose offset is absolute (it counts the offending byte).
func (p *jsonParser) syntaxErr(err error) error {
	off := int(p.dec.InputOffset())
	msg := err.Error()
	var v any
	var se *json.SyntaxError
	if uerr := json.Unmarshal(p.data, &v); errors.As(uerr, &se) {
		off, msg = int(se.Offset)-1, se.Error()
		if off < 0 {
			off = 0
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "unexpected end of JSON input") {
		off = len(bytes.TrimRight(p.data, " \t\r\n"))
		msg = "unexpected end of file (a missing } or ]?)"
	}
	if strings.Contains(msg, "looking for beginning of object key string") {
		if prev := bytes.TrimRight(p.data[:min(off, len(p.data))], " \t\r\n"); bytes.HasSuffix(prev, []byte(",")) {
			msg += " (a trailing comma before it?)"
		}
	}
	line, col := lineCol(p.data, off)
	return &ConfigSyntaxError{Line: line, Col: col, Msg: msg}
}

// keyPos finds where the key token just read starts: the opening quote before
// the decoder's offset.
func (p *jsonParser) keyPos() (int, int) {
	end := int(p.dec.InputOffset()) - 1 // the closing quote
	i := end - 1
	for ; i >= 0; i-- {
		if p.data[i] == '"' && (i == 0 || p.data[i-1] != '\\') {
			break
		}
	}
	if i < 0 {
		i = 0
	}
	return lineCol(p.data, i)
}

func (p *jsonParser) parseTop() error {
	tok, err := p.dec.Token()
	if err != nil {
		return p.syntaxErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		line, col := lineCol(p.data, int(p.dec.InputOffset())-1)
		return &ConfigSyntaxError{Line: line, Col: col, Msg: fmt.Sprintf("want a JSON object {...}, got %s", describeToken(tok))}
	}
	seen := map[string]bool{}
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return p.syntaxErr(err)
		}
		key, _ := tok.(string)
		line, col := p.keyPos()
		val, err := p.parseValue(key)
		if err != nil {
			return err
		}
		if seen[key] {
			p.cfg.Problems = append(p.cfg.Problems, ConfigProblem{Kind: ProblemDuplicate, Key: key, Line: line, Col: col,
				Msg: fmt.Sprintf("%q appears more than once: dockerd silently uses the last one", key)})
		}
		seen[key] = true
		p.cfg.Keys[key] = ConfigValue{Value: val, Line: line, Col: col}
		p.checkKey(key, val, line, col)
	}
	if _, err := p.dec.Token(); err != nil { // the closing }
		return p.syntaxErr(err)
	}
	if tok, err := p.dec.Token(); err != io.EOF {
		if err != nil {
			return p.syntaxErr(err)
		}
		line, col := lineCol(p.data, int(p.dec.InputOffset())-1)
		return &ConfigSyntaxError{Line: line, Col: col, Msg: fmt.Sprintf("unexpected %s after the closing }", describeToken(tok))}
	}
	return nil
}

// parseValue reads one value; objects are checked for duplicate keys too.
func (p *jsonParser) parseValue(path string) (any, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntaxErr(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for p.dec.More() {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, p.syntaxErr(err)
				}
				k, _ := kt.(string)
				line, col := p.keyPos()
				v, err := p.parseValue(path + "." + k)
				if err != nil {
					return nil, err
				}
				if _, dup := m[k]; dup {
					p.cfg.Problems = append(p.cfg.Problems, ConfigProblem{Kind: ProblemDuplicate, Key: path + "." + k, Line: line, Col: col,
						Msg: fmt.Sprintf("%q appears more than once in %q: dockerd silently uses the last one", k, path)})
				}
				m[k] = v
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, p.syntaxErr(err)
			}
			return m, nil
		case '[':
			var list []any
			for p.dec.More() {
				v, err := p.parseValue(path)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, p.syntaxErr(err)
			}
			return list, nil
		}
		return nil, p.syntaxErr(fmt.Errorf("unexpected %q", rune(t)))
	}
	return tok, nil
}

// checkKey records unknown directives (after dockerd's flattening of nested
// objects) and type mismatches of a top-level key.
func (p *jsonParser) checkKey(key string, val any, line, col int) {
	if m, ok := val.(map[string]any); ok && !flatConfigKeys[key] {
		var subs []string
		for k := range m {
			subs = append(subs, k)
		}
		slices.Sort(subs)
		for _, k := range subs {
			if !knownConfigKeys[k] {
				p.cfg.Problems = append(p.cfg.Problems, ConfigProblem{Kind: ProblemUnknown, Key: key + "." + k, Line: line, Col: col, Fatal: true,
					Msg: fmt.Sprintf("%q (inside %q) is not a directive dockerd knows: it refuses to start", k, key)})
			}
		}
		return
	}
	if !knownConfigKeys[key] {
		p.cfg.Problems = append(p.cfg.Problems, ConfigProblem{Kind: ProblemUnknown, Key: key, Line: line, Col: col, Fatal: true,
			Msg: fmt.Sprintf("%q is not a directive dockerd knows: it refuses to start (\"the following directives don't match any configuration option\")", key)})
		return
	}
	want, ok := configKeyTypes[key]
	if !ok || jsonTypeMatches(val, want) {
		return
	}
	msg := fmt.Sprintf("%q must be a %s, not %s: dockerd refuses to start", key, typeWords(want), describeValue(val))
	if s, isStr := val.(string); isStr && want == "bool" {
		if _, ok := parseBoolString(s); ok {
			msg = fmt.Sprintf("%q is the string %q, not the boolean %s: dockerd refuses to start (write %s without quotes)", key, s, s, strings.ToLower(s))
		}
	}
	p.cfg.Problems = append(p.cfg.Problems, ConfigProblem{Kind: ProblemType, Key: key, Line: line, Col: col, Fatal: true, Msg: msg})
}

func jsonTypeMatches(v any, want string) bool {
	switch want {
	case "bool":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "[]string":
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range list {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	}
	return true
}

func typeWords(t string) string {
	switch t {
	case "bool":
		return "boolean (true or false)"
	case "[]string":
		return "list of strings"
	case "object":
		return "JSON object"
	}
	return t
}

func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case string:
		return fmt.Sprintf("the string %q", x)
	case json.Number:
		return "the number " + x.String()
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func describeToken(t json.Token) string {
	if d, ok := t.(json.Delim); ok {
		return fmt.Sprintf("%q", string(d))
	}
	return describeValue(t)
}

// Bool returns a boolean directive; set is false if absent, ok false if it has
// the wrong type.
func (c *DaemonConfig) Bool(key string) (value, set, ok bool) {
	if c == nil {
		return false, false, true
	}
	v, has := c.Keys[key]
	if !has {
		return false, false, true
	}
	b, isBool := v.Value.(bool)
	return b, true, isBool
}

// String returns a string directive.
func (c *DaemonConfig) String(key string) (value string, set, ok bool) {
	if c == nil {
		return "", false, true
	}
	v, has := c.Keys[key]
	if !has {
		return "", false, true
	}
	s, isStr := v.Value.(string)
	return s, true, isStr
}

// Strings returns a list-of-strings directive.
func (c *DaemonConfig) Strings(key string) (value []string, set, ok bool) {
	if c == nil {
		return nil, false, true
	}
	v, has := c.Keys[key]
	if !has {
		return nil, false, true
	}
	list, isList := v.Value.([]any)
	if !isList {
		return nil, true, false
	}
	for _, e := range list {
		s, isStr := e.(string)
		if !isStr {
			return nil, true, false
		}
		value = append(value, s)
	}
	return value, true, true
}

// Where describes a key's position for evidence: `daemon.json line 3`.
func (c *DaemonConfig) Where(key string) string {
	if c == nil {
		return ""
	}
	if v, ok := c.Keys[key]; ok && v.Line > 0 {
		return fmt.Sprintf("line %d", v.Line)
	}
	return ""
}
