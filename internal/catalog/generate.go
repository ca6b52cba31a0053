package catalog

import (
	"fmt"
	"os"
	"path/filepath"
)

// Generate returns every generated doc, keyed by its path relative to the
// repository root: docs/checks.md from the registry, and docs/hardend.8 from the
// ManSources pages under root and the registry.
func Generate(root string) (map[string][]byte, error) {
	defs := All()
	var pages [][]byte
	for _, p := range ManSources {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return nil, fmt.Errorf("read man page source: %w", err)
		}
		pages = append(pages, b)
	}
	man, err := Manpage(pages, defs)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		ChecksPath: Markdown(defs),
		ManPath:    man,
	}, nil
}
