package loader

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// FS is a Source over an fs.FS laid out as a scripts root (one folder per
// tenant, as Folder), for a program that ships its scripts inside its
// binary (embed.FS) or keeps them elsewhere than on disk. A symbolic link
// anywhere on a script's path is refused when the fs.FS can report links
// (fs.ReadLinkFS: os.DirFS, os.Root.FS, fstest.MapFS), so a tenant's link
// cannot lead into another tenant's folder; hard links are not checked, so
// for tenants' own files on disk use Folder. It does not watch:
// the loader re-checks a file's version (modification time and size, as
// fs.Stat gives them) on request every half second, which for an embed.FS
// never changes.
type FS struct{ fsys fs.FS }

// NewFS serves the scripts in fsys.
func NewFS(fsys fs.FS) *FS { return &FS{fsys: fsys} }

// Locate finds <tenant>/<script>.lua or <tenant>/<script>/index.lua
// (<tenant>/lib/<module>.lua for a module).
func (s *FS) Locate(n Name) (File, error) {
	if n.Release != "" {
		return File{}, ErrNotFound
	}
	tenant, script, module := n.Tenant, n.Script, n.Module
	var candidates []string
	if module {
		candidates = []string{path.Join(tenant, ModulesDir, script+".lua")}
	} else {
		if script == ModulesDir || strings.HasPrefix(script, ModulesDir+"/") {
			return File{}, ErrNotFound
		}
		if script != "" {
			candidates = append(candidates, path.Join(tenant, script+".lua"))
		}
		candidates = append(candidates, path.Join(tenant, script, "index.lua"))
	}
	for i, name := range candidates {
		if linked, err := s.linked(name); err != nil || linked {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return File{}, err
			}
			continue
		}
		fi, err := fs.Stat(s.fsys, name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return File{}, err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		alt := ""
		if i == len(candidates)-1 && i > 0 {
			alt = candidates[0]
		}
		return File{Chunk: name, ID: name, Names: []string{name}, Opaque: alt}, nil
	}
	return File{}, ErrNotFound
}

// linked reports whether any element of name is a symbolic link.
func (s *FS) linked(name string) (bool, error) {
	lfs, ok := s.fsys.(fs.ReadLinkFS)
	if !ok {
		return false, nil
	}
	for p := name; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		fi, err := lfs.Lstat(p)
		if err != nil {
			return false, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return true, nil
		}
	}
	return false, nil
}

// Read reads the file.
func (s *FS) Read(f File) ([]byte, Version, error) {
	v, err := s.Version(f)
	if err != nil {
		return nil, Version{}, err
	}
	if v.Size > MaxScriptBytes {
		return nil, v, &ScriptError{Kind: KindCompile, Location: f.Chunk,
			Message: fmt.Sprintf("file is %d bytes; scripts may be at most %d", v.Size, MaxScriptBytes)}
	}
	if linked, _ := s.linked(f.ID); linked {
		return nil, Version{}, ErrNotFound
	}
	b, err := fs.ReadFile(s.fsys, f.ID)
	if err != nil {
		return nil, Version{}, s.err(err)
	}
	return b, v, nil
}

// Version stats the file; ErrNotFound when it is gone or the other
// candidate now serves its path.
func (s *FS) Version(f File) (Version, error) {
	fi, err := fs.Stat(s.fsys, f.ID)
	if err != nil {
		return Version{}, s.err(err)
	}
	if alt, _ := f.Opaque.(string); alt != "" {
		if _, err := fs.Stat(s.fsys, alt); err == nil {
			return Version{}, ErrNotFound
		}
	}
	return versionOf(fi), nil
}

func (s *FS) err(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

// Watch cannot watch an fs.FS.
func (s *FS) Watch(File, func(string)) bool { return false }

// Close does nothing.
func (s *FS) Close() {}
