package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dialua/dialua/runtime/loader"
)

// Files is a release's tree in memory: a path inside the tenant's tree,
// slash-separated ("ivr.lua", "billing/index.lua", "lib/util.lua"), to the
// file's bytes.
type Files map[string][]byte

// Paths are the files' paths, sorted.
func (f Files) Paths() []string {
	out := make([]string, 0, len(f))
	for p := range f {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Limits bound what a bundle may hold. Zero values take the defaults.
type Limits struct {
	MaxFiles      int   // .lua files; default DefaultMaxFiles
	MaxFileBytes  int64 // one file; default and at most loader.MaxScriptBytes
	MaxTotalBytes int64 // the decompressed tar stream, headers included; default DefaultMaxTotalBytes
}

// Defaults of Limits.
const (
	DefaultMaxFiles      = 2000
	DefaultMaxTotalBytes = 32 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxFileBytes <= 0 || l.MaxFileBytes > loader.MaxScriptBytes {
		l.MaxFileBytes = loader.MaxScriptBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultMaxTotalBytes
	}
	return l
}

// BundleError is a bundle refused: Path is the entry at fault ("" for the
// bundle as a whole), Reason says what to fix.
type BundleError struct {
	Path   string
	Reason string
}

func (e *BundleError) Error() string {
	if e.Path == "" {
		return "bundle refused: " + e.Reason
	}
	return fmt.Sprintf("bundle refused: %s: %s", e.Path, e.Reason)
}

func refuse(path, format string, args ...any) error {
	return &BundleError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// errTotal is what the counting reader returns past the total limit.
var errTotal = errors.New("total limit")

// countingReader fails once more than max bytes came through it, so a gzip
// bomb is stopped as it inflates, not after.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n >= c.max {
		// One byte more tells a stream of exactly max bytes from a longer one.
		var b [1]byte
		if n, _ := c.r.Read(b[:]); n > 0 {
			return 0, errTotal
		}
		return c.r.Read(p)
	}
	if int64(len(p)) > c.max-c.n {
		p = p[:c.max-c.n]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ReadBundle reads a release uploaded as a tar.gz stream into memory,
// refusing (with a *BundleError, having written nothing anywhere) a body
// that is not gzip, a tar that is corrupt, and any entry that is not a
// regular .lua file or a folder: symlinks, hard links, devices, fifos;
// paths that are absolute, climb out with "..", or break dialua's path
// rules (letters, digits, '.', '_', '-', no segment starting with a dot);
// a file under lib/ is a module, any other a script. It also refuses more
// than lim.MaxFiles files, a file over lim.MaxFileBytes, a total over
// lim.MaxTotalBytes counted on the decompressed stream as it inflates, the
// same path twice, a file where another entry needs a folder, and a
// bundle with no files. A leading "./" (tar -C dir -czf - .) is allowed.
func ReadBundle(r io.Reader, lim Limits) (Files, error) {
	lim = lim.withDefaults()
	br := bufio.NewReader(r)
	if _, err := br.Peek(1); err == io.EOF {
		return nil, refuse("", "the body is empty; send the release as a tar.gz")
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, refuse("", "the body is not gzip-compressed (%v); send the release as a tar.gz (tar -C DIR -czf - .)", err)
	}
	defer zr.Close()
	cr := &countingReader{r: zr, max: lim.MaxTotalBytes}
	tr := tar.NewReader(cr)
	files := Files{}
	dirs := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, streamErr(err, lim)
		}
		name, perr := entryPath(h.Name)
		if perr != nil {
			return nil, perr
		}
		if name == "" { // the root folder itself ("./")
			if h.Typeflag != tar.TypeDir {
				return nil, refuse(h.Name, "not a file name")
			}
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if _, ok := files[name]; ok {
				return nil, refuse(h.Name, "is both a file and a folder")
			}
			dirs[name] = true
			continue
		case tar.TypeReg, tar.TypeRegA:
		case tar.TypeXGlobalHeader: // git archive's comment: carries no file
			continue
		case tar.TypeSymlink:
			return nil, refuse(h.Name, "is a symbolic link (to %q); releases hold regular files only: copy the file instead", h.Linkname)
		case tar.TypeLink:
			return nil, refuse(h.Name, "is a hard link (to %q); releases hold regular files only: copy the file instead", h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			return nil, refuse(h.Name, "is a device file; releases hold regular .lua files only")
		case tar.TypeFifo:
			return nil, refuse(h.Name, "is a named pipe; releases hold regular .lua files only")
		default:
			return nil, refuse(h.Name, "is a tar entry of type %q; releases hold regular .lua files and folders only", string(h.Typeflag))
		}
		if !strings.HasSuffix(name, ".lua") {
			return nil, refuse(h.Name, "is not a .lua file; a release holds scripts and lib/ modules only")
		}
		if name == loader.ModulesDir+".lua" {
			// Allowed by the path rules, but lib.lua would be a script
			// named like the modules folder, which is never served.
			return nil, refuse(h.Name, "a script cannot be named %q: that name is the modules folder", loader.ModulesDir)
		}
		if _, ok := files[name]; ok {
			return nil, refuse(h.Name, "appears twice in the bundle")
		}
		if dirs[name] {
			return nil, refuse(h.Name, "is both a file and a folder")
		}
		if len(files) >= lim.MaxFiles {
			return nil, refuse("", "more than %d files; a release may hold at most %d", lim.MaxFiles, lim.MaxFiles)
		}
		if h.Size > lim.MaxFileBytes {
			return nil, refuse(h.Name, "is %d bytes; a script or module may be at most %d", h.Size, lim.MaxFileBytes)
		}
		var buf bytes.Buffer
		buf.Grow(int(h.Size))
		if _, err := io.Copy(&buf, io.LimitReader(tr, lim.MaxFileBytes+1)); err != nil {
			return nil, streamErr(err, lim)
		}
		if int64(buf.Len()) > lim.MaxFileBytes {
			return nil, refuse(h.Name, "is larger than %d bytes", lim.MaxFileBytes)
		}
		files[name] = buf.Bytes()
	}
	// Drain what follows the archive's end, so a gzip error (a bad
	// checksum, a truncated stream) or a bomb behind it is still seen.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, streamErr(err, lim)
	}
	for p := range files {
		for d := p; ; {
			i := strings.LastIndexByte(d, '/')
			if i < 0 {
				break
			}
			d = d[:i]
			if _, ok := files[d]; ok {
				return nil, refuse(d, "is a file, but %s needs it to be a folder", p)
			}
		}
	}
	if len(files) == 0 {
		return nil, refuse("", "no .lua files in the bundle (a release is a tenant's tree: scripts at the top and in folders, modules under lib/)")
	}
	return files, nil
}

func streamErr(err error, lim Limits) error {
	switch {
	case errors.Is(err, errTotal):
		return refuse("", "more than %d bytes once decompressed; a release may hold at most %d", lim.MaxTotalBytes, lim.MaxTotalBytes)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return refuse("", "the gzip stream is corrupt (%v)", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return refuse("", "the bundle ends early (truncated upload?)")
	case errors.Is(err, tar.ErrHeader):
		return refuse("", "not a tar archive inside the gzip stream (%v)", err)
	}
	return refuse("", "cannot read the bundle: %v", err)
}

// entryPath cleans a tar entry's name to a path inside the tenant's tree,
// refusing what leaves it or breaks the path rules.
func entryPath(raw string) (string, error) {
	name := raw
	if strings.HasPrefix(name, "/") {
		return "", refuse(raw, "is an absolute path; paths in a bundle are relative to the tenant's tree")
	}
	if strings.ContainsRune(name, '\\') {
		return "", refuse(raw, "contains a backslash; use '/' between folders")
	}
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	name = strings.TrimSuffix(name, "/")
	if name == "" || name == "." {
		return "", nil
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return "", refuse(raw, "climbs out of the tree with \"..\"")
		}
	}
	if !loader.ValidScriptPath("t", name) {
		return "", refuse(raw, "breaks the path rules: every folder and file name is letters, digits, '.', '_' and '-', does not start with a dot, and is at most 128 characters (1024 for the path)")
	}
	return name, nil
}

// WriteBundle writes files as a tar.gz stream that ReadBundle reads back,
// in path order (the CLI's upload body).
func WriteBundle(w io.Writer, files Files) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, p := range files.Paths() {
		b := files[p]
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// ReadDir reads a tenant's tree from a folder for upload (the CLI's
// `dialua deploy DIR`): every .lua file, hidden files and folders skipped,
// held to lim's file count and sizes. Symlinks and non-regular files are
// refused rather than followed, as the server would refuse them.
func ReadDir(dir string, lim Limits) (Files, error) {
	lim = lim.withDefaults()
	files := Files{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, werr error) error {
		if werr != nil {
			return werr
		}
		if path == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".lua") {
			return nil
		}
		if !d.Type().IsRegular() {
			return refuse(rel, "is not a regular file (a symlink?); copy the file instead")
		}
		if _, err := entryPath(rel); err != nil {
			return err
		}
		if len(files) >= lim.MaxFiles {
			return refuse("", "more than %d files; a release may hold at most %d", lim.MaxFiles, lim.MaxFiles)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if int64(len(b)) > lim.MaxFileBytes {
			return refuse(rel, "is %d bytes; a script or module may be at most %d", len(b), lim.MaxFileBytes)
		}
		total += int64(len(b))
		if total > lim.MaxTotalBytes {
			return refuse("", "more than %d bytes in all", lim.MaxTotalBytes)
		}
		files[rel] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, refuse("", "no .lua files in %s", dir)
	}
	return files, nil
}
