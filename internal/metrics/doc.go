// Package metrics is the agent's optional Prometheus endpoint: the text
// exposition format (version 0.0.4) written by hand — findings by check and
// severity, the last scan's time and duration, reconcile errors, dropped log
// messages, the Docker connection state — served over HTTP on a loopback
// address. It is off by default (policy metrics.listen empty), and refuses a
// non-loopback address unless the policy explicitly allows one.
//
// A dozen gauges and counters do not justify prometheus/client_golang and its
// dependency tree; the format is small and tested by scraping it.
package metrics
