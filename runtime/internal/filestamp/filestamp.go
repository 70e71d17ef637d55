// Package filestamp is the one file-change check dialua uses (scripts, the
// tenants file): a file is taken to have changed when its modification time
// or its size has. It imports nothing of dialua.
package filestamp

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// Stamp is what is compared: modification time (nanoseconds), size, and
// the file's identity (device and inode, where the system has them), so that
// a file replaced by another one with the same time and size (a folder
// swapped for a copy made with cp -p or tar) still counts as changed. The
// zero Stamp is no file.
type Stamp struct {
	Mod  int64
	Size int64
	Dev  uint64
	Ino  uint64
}

// Of is the stamp of a file already looked at.
func Of(fi fs.FileInfo) Stamp {
	st := Stamp{Mod: fi.ModTime().UnixNano(), Size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Dev, st.Ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return st
}

// Stat is the stamp of the file at path now.
func Stat(path string) (Stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Stamp{}, err
	}
	return Of(fi), nil
}

// Age is how long ago the file was last modified.
func (s Stamp) Age() time.Duration { return time.Since(time.Unix(0, s.Mod)) }
