// Package packaging holds how hardend is shipped: the systemd unit
// (hardend.service), the default policy file (policy.yaml, byte-identical to
// internal/policy/default.yaml), the nfpm recipe and maintainer scripts of the
// Debian package (nfpm.yaml, deb/), the tmpfiles.d snippet and the container
// image's Dockerfile. scripts/build-deb.sh builds the package.
//
// The Go code here is tests only: they measure the unit with systemd-analyze,
// install, remove and purge the real package with dpkg inside a network
// namespace, and build and run the container image in the test engine.
package packaging
