// Package testenv is hardend's tier-2/tier-3 test environment (TESTING.md): network
// namespaces, a real dockerd confined to its own namespace, an "outsider" host joined
// to it by a veth pair, and a busybox image made from busybox-static without any
// registry.
//
// Everything it creates — namespaces, daemons, mounts, files — is removed by
// t.Cleanup, even when the test fails, and it only ever kills processes it started,
// by pid. Nothing here touches the network setup of the machine running the tests:
// dockerd rewrites the firewall of the namespace it runs in, so it only ever runs in
// one of ours.
//
// It is imported only by tests (and the benchmark test); production code never
// imports it.
package testenv
