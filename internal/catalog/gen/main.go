// Command gen writes hardend's generated docs: docs/checks.md (the check
// catalogue from the code's registry) and docs/hardend.8 (the man page, from
// docs/*.md and the registry). Run it from the repository root after changing a
// check definition or a command page:
//
//	go run ./internal/catalog/gen
//
// (`go generate ./internal/catalog` does the same.) The catalog tests fail, naming
// this command, when a committed file differs from what it would write.
package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/hardend/hardend/internal/catalog"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	files, err := catalog.Generate(*root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(*root, name)
		if old, err := os.ReadFile(path); err == nil && string(old) == string(files[name]) {
			continue
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("wrote %s\n", name)
	}
}
