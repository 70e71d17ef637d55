package loader

import (
	"errors"
	"fmt"
	"github.com/dialua/dialua/runtime/internal/filestamp"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Folder is the Source for a scripts root laid out one folder per tenant:
// <root>/<tenant>/<script>.lua, or <root>/<tenant>/<script>/index.lua for
// a folder (the tenant's index.lua for an empty script), and modules in
// <root>/<tenant>/lib/. Changes are followed with fsnotify on the folders
// of the files it was asked to watch.
type Folder struct {
	root  string
	log   *slog.Logger
	watch *watcher // nil when watching is off or unavailable
}

// folderFile is what the folder source keeps about a File.
type folderFile struct {
	root string // the tenant's real folder
	rel  string // the resolved file, relative to root
	file string // path under the scripts root as the tenant laid it out
	real string // after symlinks; inside the tenant's real folder
	alt  string // the other candidate file whose appearance changes the answer

	tenantDir string          // the tenant's folder as laid out (root/tenant)
	tenantID  filestamp.Stamp // its real folder's identity when located
}

// NewFolder serves the scripts under root. With watch false (network file
// systems, some container mounts, where inotify sees nothing) every file is
// re-checked on request instead. A nil log discards.
func NewFolder(root string, watch bool, log *slog.Logger) (*Folder, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Folder{root: abs, log: log}
	if watch {
		w, err := newWatcher(log)
		if err != nil {
			log.Warn("file watching unavailable; scripts are re-checked on request every half second", "err", err)
		} else {
			f.watch = w
		}
	}
	return f, nil
}

// Root is the scripts root, as an absolute path.
func (s *Folder) Root() string { return s.root }

// Close stops watching.
func (s *Folder) Close() {
	if s.watch != nil {
		s.watch.close()
	}
}

// missing says whether a file-system error means "not there" rather than
// something the operator must hear of (permissions, I/O).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP)
}

// Locate finds the file for a script path. A file whose real path leaves
// the tenant's real folder, through a symlink anywhere on the way, does not
// count. An error other than a missing file (a folder it may not read) is
// returned as it is, for the request to fail loudly.
func (s *Folder) Locate(n Name) (File, error) {
	if n.Release != "" {
		return File{}, ErrNotFound
	}
	tenant, script, module := n.Tenant, n.Script, n.Module
	tenantDir := filepath.Join(s.root, tenant)
	var candidates []string
	if module {
		candidates = []string{filepath.Join(tenantDir, ModulesDir, filepath.FromSlash(script)+".lua")}
	} else {
		if script == ModulesDir || strings.HasPrefix(script, ModulesDir+"/") {
			return File{}, ErrNotFound
		}
		if script != "" {
			candidates = append(candidates, filepath.Join(tenantDir, filepath.FromSlash(script)+".lua"))
		}
		candidates = append(candidates, filepath.Join(tenantDir, filepath.FromSlash(script), "index.lua"))
	}
	realTenant, err := filepath.EvalSymlinks(tenantDir)
	if err != nil {
		if missing(err) {
			return File{}, ErrNotFound
		}
		return File{}, err
	}
	// A path without links resolves to an equal string: keep one copy of
	// each (the cache holds these for every file it knows).
	if realTenant == tenantDir {
		realTenant = tenantDir
	}
	for i, file := range candidates {
		real, err := filepath.EvalSymlinks(file)
		if err != nil {
			if missing(err) {
				continue
			}
			return File{}, err
		}
		if real == file {
			real = file
		}
		if !strings.HasPrefix(real, realTenant+string(filepath.Separator)) {
			s.log.Warn("script path leaves its tenant folder; refused", "tenant", tenant, "file", file, "target", real)
			continue
		}
		fi, err := os.Stat(real)
		if err != nil && !missing(err) {
			return File{}, err
		}
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		rel, _ := filepath.Rel(s.root, file)
		// The resolved path, relative to the tenant's real folder: no links
		// left in it when it was checked (see Read).
		inTenant, _ := filepath.Rel(realTenant, real)
		ff := &folderFile{root: realTenant, rel: inTenant, file: file, real: real, tenantDir: tenantDir}
		if st, err := filestamp.Stat(realTenant); err == nil {
			ff.tenantID = filestamp.Stamp{Dev: st.Dev, Ino: st.Ino}
		}
		if i == len(candidates)-1 && i > 0 {
			ff.alt = candidates[0]
		}
		names := []string{file, real}
		if ff.alt != "" {
			names = append(names, ff.alt)
		}
		gid := fmt.Sprintf("%s:%d:%d", realTenant, ff.tenantID.Dev, ff.tenantID.Ino)
		return File{Chunk: filepath.ToSlash(rel), ID: real, Names: names, Group: tenantDir, GroupID: gid, Opaque: ff}, nil
	}
	return File{}, ErrNotFound
}

// Read opens the file through an os.Root on the tenant's folder: the path
// was checked when it was located, but a link swapped in between the check
// and the open must still not lead out of the tenant's folder. A file with
// more than one hard link is refused: a hard link is the one way to put
// another tenant's file inside a tenant's folder that a path check cannot
// see, and there is no telling which name is the original.
func (s *Folder) Read(f File) ([]byte, Version, error) {
	ff := f.Opaque.(*folderFile)
	root, err := os.OpenRoot(ff.root)
	if err != nil {
		return nil, Version{}, s.readErr(err)
	}
	defer root.Close()
	fd, err := root.Open(ff.rel)
	if err != nil {
		return nil, Version{}, s.readErr(err)
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		return nil, Version{}, s.readErr(err)
	}
	v := versionOf(fi)
	// Checked on the file opened, not on the path, so a link made between
	// the check and the open cannot slip through.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return nil, v, fmt.Errorf("%w: script file has more than one hard link (it may be another tenant's file)", ErrRefused)
	}
	if !fi.Mode().IsRegular() {
		return nil, Version{}, ErrNotFound
	}
	if fi.Size() > MaxScriptBytes {
		return nil, v, &ScriptError{Kind: KindCompile, Location: f.Chunk,
			Message: fmt.Sprintf("file is %d bytes; scripts may be at most %d", fi.Size(), MaxScriptBytes)}
	}
	src := make([]byte, fi.Size())
	if _, err := io.ReadFull(fd, src); err != nil {
		return nil, Version{}, err
	}
	return src, v, nil
}

func (s *Folder) readErr(err error) error {
	if missing(err) {
		return ErrNotFound
	}
	return err
}

func versionOf(fi fs.FileInfo) Version {
	st := filestamp.Of(fi)
	return Version{Stamp: st.Mod, Size: st.Size, Ident: st.Ino ^ st.Dev<<48}
}

// Version stats the file; ErrNotFound when it is gone, or when the other
// candidate (script.lua beside script/index.lua) has appeared and now
// serves the path; ErrMoved when the path now resolves to another file (the
// tenant folder was renamed over or its symlink switched), which is how
// polling sees a whole tenant replaced at once.
func (s *Folder) Version(f File) (Version, error) {
	ff := f.Opaque.(*folderFile)
	// The tenant folder switched (its symlink) or renamed over (same
	// path, another folder): the whole group moved.
	if realTenant, err := filepath.EvalSymlinks(ff.tenantDir); err != nil || realTenant != ff.root {
		return Version{}, ErrMoved
	}
	if st, err := filestamp.Stat(ff.root); err != nil || (filestamp.Stamp{Dev: st.Dev, Ino: st.Ino}) != ff.tenantID {
		return Version{}, ErrMoved
	}
	// The file alone now leads elsewhere (a link inside the tenant's
	// folder switched): it is looked up afresh.
	real, err := filepath.EvalSymlinks(ff.file)
	if err != nil {
		return Version{}, s.readErr(err)
	}
	if real != ff.real {
		return Version{}, ErrNotFound
	}
	fi, err := os.Stat(ff.real)
	if err != nil {
		return Version{}, s.readErr(err)
	}
	if ff.alt != "" {
		if _, err := os.Stat(ff.alt); err == nil {
			return Version{}, ErrNotFound
		}
	}
	return versionOf(fi), nil
}

// Watch watches the folders of the file's names, and the scripts root,
// where a tenant folder renamed over or a tenant symlink switched shows up
// as an event for the tenant folder's name (the file's Group).
func (s *Folder) Watch(f File, changed func(name string)) bool {
	if s.watch == nil {
		return false
	}
	ff := f.Opaque.(*folderFile)
	return s.watch.add(changed, s.root, filepath.Dir(ff.file), filepath.Dir(ff.real), dirOf(ff.alt))
}

func dirOf(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Dir(p)
}
