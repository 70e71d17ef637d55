package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
)

// writeRelease writes a tenant tree whose script and module both say v.
func writeRelease(t *testing.T, dir, v string) {
	t.Helper()
	for name, src := range map[string]string{
		"ivr.lua":   fmt.Sprintf(`response:set_var("script", %q); response:set_var("module", require("m").v)`, v),
		"lib/m.lua": fmt.Sprintf(`return {v = %q}`, v),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		// Same times for both releases: only the switch itself can tell.
		old := time.Unix(1700000000, 0)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// A tenant folder replaced by rename, or a tenant symlink switched, is
// served as the new tree within a second, in both watch modes, and no
// answer mixes a script of one tree with a module of the other.
func TestTenantFolderSwitch(t *testing.T) {
	for _, poll := range []bool{false, true} {
		for _, how := range []string{"rename", "symlink"} {
			t.Run(fmt.Sprintf("%s/poll=%v", how, poll), func(t *testing.T) {
				root := t.TempDir()
				switch how {
				case "rename":
					writeRelease(t, filepath.Join(root, "acme"), "v1")
				case "symlink":
					writeRelease(t, filepath.Join(root, "rel-v1"), "v1")
					if err := os.Symlink("rel-v1", filepath.Join(root, "acme")); err != nil {
						t.Fatal(err)
					}
				}
				e := newEngine(t, engine.Options{ScriptsDir: root, Poll: poll})
				if v, err := run(context.Background(), e, "acme", "ivr"); err != nil || v["script"] != "v1" || v["module"] != "v1" {
					t.Fatalf("before: %v %v", v, err)
				}
				switch how {
				case "rename":
					writeRelease(t, filepath.Join(root, "acme.new"), "v2")
					if err := os.Rename(filepath.Join(root, "acme"), filepath.Join(root, "acme.old")); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(filepath.Join(root, "acme.new"), filepath.Join(root, "acme")); err != nil {
						t.Fatal(err)
					}
				case "symlink":
					writeRelease(t, filepath.Join(root, "rel-v2"), "v2")
					tmp := filepath.Join(root, "tmp-link")
					if err := os.Symlink("rel-v2", tmp); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(tmp, filepath.Join(root, "acme")); err != nil {
						t.Fatal(err)
					}
				}
				switched := time.Now()
				deadline := switched.Add(3 * time.Second)
				for {
					v, err := run(context.Background(), e, "acme", "ivr")
					if err != nil {
						t.Fatalf("after the switch: %v", err)
					}
					if v["script"] != v["module"] {
						t.Fatalf("mixed answer: script %s, module %s", v["script"], v["module"])
					}
					if v["script"] == "v2" {
						if took := time.Since(switched); took > time.Second {
							t.Errorf("new tree served after %v, want within 1s", took)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("still %v 3s after the switch", v)
					}
					time.Sleep(10 * time.Millisecond)
				}
				// And edits in the new tree are followed.
				p := filepath.Join(root, "acme", "lib", "m.lua")
				if err := os.WriteFile(p, []byte(`return {v = "v2"} -- edited`), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, "acme", "ivr.lua"), []byte(`response:set_var("script", "v3"); response:set_var("module", "v3")`), 0o644); err != nil {
					t.Fatal(err)
				}
				for end := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					v, err := run(context.Background(), e, "acme", "ivr")
					if err == nil && v["script"] == "v3" {
						break
					}
					if time.Now().After(end) {
						t.Fatalf("edit in the new tree not served: %v %v", v, err)
					}
				}
			})
		}
	}
}
