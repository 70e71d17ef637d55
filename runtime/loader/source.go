package loader

import "errors"

// Source is where scripts come from. The loader asks it for the file that
// serves a script path, reads that file, and compiles and caches what it
// read; the source tells the loader when a file may have changed. The folder
// source (NewFolder) serves a scripts root with one folder per tenant; a
// second source (deployed releases) implements the same four methods.
//
// A source is used by one Loader, from many goroutines at once.
type Source interface {
	// Locate finds the file that serves a script name: a URL's script, or
	// with Module set, a module of the tenant's lib/ folder for require,
	// in the release named (a source that has no releases serves only
	// Release ""). ErrNotFound when there is none.
	Locate(n Name) (File, error)
	// Read returns the file's bytes and the version read. ErrNotFound
	// when the file is gone, ErrRefused when it is there but must not be
	// served; any other error is one the operator must hear of (the
	// request fails with a server error, nothing is cached).
	Read(f File) ([]byte, Version, error)
	// Version is the file's version now, found cheaply (no read), for
	// files that are not watched. ErrNotFound when it is gone or no longer
	// the file that serves its path.
	Version(f File) (Version, error)
	// Watch asks to be told of changes to f: the source calls changed
	// with one of f.Names when it sees one, or with "" when it may have
	// missed changes (every cached script is then suspect). It reports
	// whether it can watch f; a file it cannot watch is re-checked with
	// Version on request instead.
	Watch(f File, changed func(name string)) bool
	// Close stops watching.
	Close()
}

// File is one script file of a source, as Locate found it.
type File struct {
	// Chunk is the name errors carry: tenant/path.lua.
	Chunk string
	// ID is the same for two Files only when they are the same file (for
	// the folder source, its real path): a script whose path now leads to
	// another file is loaded afresh.
	ID string
	// Names are the names whose change concerns this file (for the folder
	// source: its path as laid out, its real path, and the other candidate
	// whose appearance would change the answer).
	Names []string
	// Group, when set, names a set of files replaced together (for the
	// folder source: the tenant's folder). A change reported for the group,
	// or ErrMoved from Version, drops every cached file of the group at
	// once, so the tenant's scripts and modules are loaded afresh together
	// from what replaced them.
	Group string
	// GroupID identifies the group's tree as Locate found it (for the
	// folder source: the tenant folder's real path and inode). A file
	// located in another tree of the same group (the tenant's folder was
	// replaced) drops the group's entries from before.
	GroupID string
	// Opaque is the source's own data about the file.
	Opaque any
}

// Version identifies one version of a file's content. Two reads of a file
// give equal Versions only when nothing in between changed it (for the
// folder source: the same modification time, size and inode).
type Version struct {
	Stamp int64
	Size  int64
	Ident uint64 // the file's identity, where the source has one; 0 otherwise
}

// ErrMoved: the name now leads to another file, or the file's group was
// replaced (a tenant folder renamed over, a tenant symlink switched).
var ErrMoved = errors.New("script file replaced")

// ErrRefused: the file exists but is refused (a hard link in a tenant's
// folder). A source wraps it with the reason (fmt.Errorf("%w: reason",
// ErrRefused)); the loader logs the reason and answers the file as missing.
var ErrRefused = errors.New("script file refused")
