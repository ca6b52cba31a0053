//go:build linux

package virt

import "golang.org/x/sys/unix"

// statfsType is statfs(2)'s f_type for path.
func statfsType(path string) (int64, error) {
	var st unix.Statfs_t
	for {
		err := unix.Statfs(path, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return int64(st.Type), nil
	}
}
