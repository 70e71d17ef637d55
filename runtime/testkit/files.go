package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// Scripts makes a scripts root in a fresh temporary folder (removed when the
// test ends) from path -> source, paths relative to the root and
// slash-separated: "acme/ivr.lua", "acme/lib/util.lua", "tenants.yaml".
func Scripts(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		WriteFile(t, filepath.Join(dir, filepath.FromSlash(name)), src)
	}
	return dir
}

// WriteFile writes src to path, making its folders, and fails the test if
// it cannot. Rewriting a file of a running engine's root is how a test
// changes a script (or the tenants file) under it.
func WriteFile(t testing.TB, path, src string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}
