//go:build !linux

package virt

import "os"

// On other systems (development builds only) files are opened the ordinary way.
type rawFile struct{ *os.File }

func openNoBlock(path string) (*rawFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &rawFile{f}, nil
}

func (r *rawFile) isRegular() (bool, error) {
	st, err := r.File.Stat()
	if err != nil {
		return false, err
	}
	return st.Mode().IsRegular(), nil
}
