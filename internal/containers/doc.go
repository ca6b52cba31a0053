// Package containers owns hardend's view of the Docker engine: the Engine API
// client (github.com/moby/moby/client, API version negotiated), one scan of the
// daemon (Collect: info, version, one container list, one bounded-concurrency
// inspect per running container, one network list — every call under a
// deadline, no process ever spawned), what can be read about the running
// dockerd from the host's /proc and its daemon.json (ReadDaemon), and every
// container and daemon check of the catalogue: HD-CTR-001..012 (area
// "containers") and HD-DMN-001..011 (area "daemon").
//
// Checks judge what is in effect, not only what was asked for: capabilities are
// Docker's default set for the engine minus CapDrop plus CapAdd (privileged
// means all), cross-checked where the host's /proc is readable against the
// container's init process (host uid, bounding set, NoNewPrivs, seccomp mode);
// the Docker socket check follows symlinks and compares inodes below the host
// root; the daemon checks prefer what the API reports about itself over what
// the configuration files say.
//
// A check whose evidence cannot be read never passes. A daemon that cannot be
// reached (no socket, permission denied, a deadline, a daemon stopped mid-scan
// or frozen with SIGSTOP) yields one skip or error result per Docker-dependent
// check, with the reason in words a sysadmin understands.
//
// Everything host-related is read below Options.Root ("/" or "/host"), so the
// same code runs on fixture trees. The small /proc parsers are pure functions
// over bytes (parseStatus, parseUIDMap, parseDockerdArgs, parseDaemonJSON),
// table-tested and fuzzed; the unit tests run on inspect JSON recorded from a
// real engine (testdata/, see record_test.go for how it was recorded).
package containers
