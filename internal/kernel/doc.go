// Package kernel owns hardend's kernel checks, HD-KERN-001..006: the modules
// Docker networking needs (loaded, built in or loadable), the kernel's age against
// kernel.org's longterm series, the bridge-netfilter sysctls without which
// DOCKER-USER never sees bridged traffic, seccomp and AppArmor/SELinux, the
// information-leak sysctls, and user namespaces and cgroup v2.
//
// Everything is read below a root directory ("/", "/host", or a testdata tree);
// nothing hard-codes /proc. Each host source has its own file with a bounded read
// step and a pure parse step (parseModules, parseBuiltin, parseModulesDep,
// parseKernelConfig, parseRelease, parseStatusSeccomp, parseLSM, parseCmdline,
// parseSysctlInt, parseMountsCgroup), each table-tested and fuzzed. Evidence is
// weighed by what it can prove: proc/modules never lists built-in code, so a host
// without it (CONFIG_MODULES=n) is decided from sysfs, modules.builtin and the
// kernel config; when no source can decide, the result is an error with every
// reason, never a pass and never a guessed failure.
package kernel
