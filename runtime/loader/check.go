package loader

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dialua/dialua/runtime/sandbox"
)

// Check compiles every .lua file under root (hidden folders skipped) and
// returns one error per file that does not compile (the compile limits of
// sandbox.Compile included, as file:line) or that the server would refuse
// (too large, hard-linked), plus how many files it read. It is what `dialua check` and a deploy pipeline run before a change
// goes live.
func Check(root string) (errs []*ScriptError, files int, err error) {
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, werr error) error {
		if werr != nil {
			return werr
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".lua") || strings.HasPrefix(name, ".") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		chunk := filepath.ToSlash(rel)
		files++
		info, ierr := d.Info()
		if ierr != nil {
			errs = append(errs, &ScriptError{Kind: KindCompile, Location: chunk, Message: ierr.Error()})
			return nil
		}
		if info.Size() > MaxScriptBytes {
			errs = append(errs, &ScriptError{Kind: KindCompile, Location: chunk,
				Message: "file is larger than the 1 MiB scripts may be"})
			return nil
		}
		// The server answers a hard-linked file as missing (see compileFile).
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			errs = append(errs, &ScriptError{Kind: KindCompile, Location: chunk, Message: fmt.Sprintf(
				"file has %d hard links; the server refuses it as missing (it could be another tenant's file): copy it instead", st.Nlink)})
			return nil
		}
		src, rerr := os.ReadFile(path)
		if rerr != nil {
			errs = append(errs, &ScriptError{Kind: KindCompile, Location: chunk, Message: rerr.Error()})
			return nil
		}
		if _, cerr := sandbox.Compile(src, chunk); cerr != nil {
			errs = append(errs, compileError(cerr, chunk, src))
		}
		return nil
	})
	return errs, files, err
}
