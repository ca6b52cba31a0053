// Package catalog is the registry of every check hardend has: the Definitions
// each area package exports, concatenated in catalogue order (virt, kernel,
// daemon and containers, network). The report's SARIF rules and the generated
// docs (docs/checks.md, via `go run ./internal/catalog/gen`) both come from
// here, and the package's tests fail when the docs drift from the code.
//
// It also holds the small Markdown-to-roff converter that turns the command
// pages under docs/ into the hardend(8) man page, so the man page cannot drift
// from the docs either.
package catalog
