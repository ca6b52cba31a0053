package containers

import (
	"slices"
	"strings"
)

// DockerdFlags is dockerd's command line, parsed the way dockerd's flag
// library (spf13/pflag) reads it: --name=value, --name value, -H value,
// -Hvalue, -H=value, bare booleans, combined boolean shorthands (-Dv) and "--"
// ending the flags.
type DockerdFlags struct {
	// Values maps a flag's long name to the values given, in order (repeated
	// flags such as -H accumulate). Booleans given bare are "true".
	Values map[string][]string
	// Order lists the long names in the order they first appeared.
	Order []string
	// Args are positional arguments (dockerd takes none: a stray one means a
	// boolean was given a separate value, e.g. "--iptables false").
	Args []string
}

// dockerdShort maps dockerd's one-letter flags to their long names.
var dockerdShort = map[byte]string{
	'H': "host", 'D': "debug", 'G': "group", 'b': "bridge", 'g': "graph", 'l': "log-level",
	'p': "pidfile", 's': "storage-driver", 'v': "version", 'h': "help", 'e': "exec-driver",
}

// dockerdBool are dockerd's boolean flags (Docker 20.10 to 29): they never take
// the next argument as their value.
var dockerdBool = map[string]bool{
	"debug": true, "tls": true, "tlsverify": true, "icc": true, "iptables": true, "ip6tables": true,
	"ip-forward": true, "ip-forward-no-drop": true, "ip-masq": true, "ipv6": true, "live-restore": true,
	"no-new-privileges": true, "selinux-enabled": true, "userland-proxy": true, "experimental": true,
	"init": true, "raw-logs": true, "rootless": true, "validate": true, "version": true, "help": true,
	"cri-containerd": true, "disable-legacy-registry": true, "allow-direct-routing": true,
}

// parseDockerdArgs parses argv (argv[0] is the program and is skipped).
func parseDockerdArgs(argv []string) DockerdFlags {
	f := DockerdFlags{Values: map[string][]string{}}
	set := func(name, value string) {
		if _, seen := f.Values[name]; !seen {
			f.Order = append(f.Order, name)
		}
		f.Values[name] = append(f.Values[name], value)
	}
	args := argv
	if len(args) > 0 {
		args = args[1:]
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			f.Args = append(f.Args, args[i+1:]...)
			return f
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name, value, hasValue := strings.Cut(a[2:], "=")
			switch {
			case hasValue:
				set(name, value)
			case dockerdBool[name]:
				set(name, "true")
			case i+1 < len(args):
				i++
				set(name, args[i])
			default:
				set(name, "")
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			short := a[1:]
			for j := 0; j < len(short); j++ {
				name, ok := dockerdShort[short[j]]
				if !ok {
					name = string(short[j])
				}
				if dockerdBool[name] {
					if j+1 < len(short) && short[j+1] == '=' {
						set(name, short[j+2:])
						break
					}
					set(name, "true")
					continue
				}
				// A value-taking shorthand consumes the rest: -Hvalue, -H=value,
				// or the next argument.
				rest := short[j+1:]
				switch {
				case strings.HasPrefix(rest, "="):
					set(name, rest[1:])
				case rest != "":
					set(name, rest)
				case i+1 < len(args):
					i++
					set(name, args[i])
				default:
					set(name, "")
				}
				break
			}
		default:
			f.Args = append(f.Args, a)
		}
	}
	return f
}

// Has reports whether the flag was given.
func (f DockerdFlags) Has(name string) bool {
	_, ok := f.Values[name]
	return ok
}

// Last returns the last value given for a flag.
func (f DockerdFlags) Last(name string) (string, bool) {
	v, ok := f.Values[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// Bool returns a boolean flag's value as pflag reads it ("true", "1", "t",
// "false", "0", "f", case-insensitive); ok is false if absent or unparsable.
func (f DockerdFlags) Bool(name string) (value, ok bool) {
	v, has := f.Last(name)
	if !has {
		return false, false
	}
	return parseBoolString(v)
}

func parseBoolString(v string) (value, ok bool) {
	switch strings.ToLower(v) {
	case "1", "t", "true":
		return true, true
	case "0", "f", "false":
		return false, true
	}
	return false, false
}

// flagConfigKey maps a dockerd flag to the daemon.json key that sets the same
// thing, where the names differ (moby's NamedOption values).
var flagConfigKey = map[string]string{
	"host": "hosts", "label": "labels", "dns-opt": "dns-opts", "exec-opt": "exec-opts",
	"storage-opt": "storage-opts", "log-opt": "log-opts", "authorization-plugin": "authorization-plugins",
	"insecure-registry": "insecure-registries", "registry-mirror": "registry-mirrors",
	"default-ulimit": "default-ulimits", "node-generic-resource": "node-generic-resources",
	"default-address-pool": "default-address-pools", "cdi-spec-dir": "cdi-spec-dirs",
	"default-network-opt": "default-network-opts", "host-gateway-ip": "host-gateway-ips",
	"feature": "features", "cluster-store-opt": "cluster-store-opts",
}

// flagsNotInConfig are flags with no daemon.json counterpart, or (runtimes)
// that dockerd merges with the file instead of refusing.
var flagsNotInConfig = []string{"config-file", "validate", "version", "help", "add-runtime"}

// configKeyForFlag returns the daemon.json key a flag conflicts with.
func configKeyForFlag(name string) (string, bool) {
	if slices.Contains(flagsNotInConfig, name) {
		return "", false
	}
	if k, ok := flagConfigKey[name]; ok {
		return k, true
	}
	return name, true
}
