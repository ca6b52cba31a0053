//go:build !linux

package kernel

// openFlags: hardend audits Linux hosts; other systems only build the package
// (for fixture tests on a developer's machine) and open files plainly.
const openFlags = 0
