package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check reports the compile limits and hard links as file:line: message.
func TestCheckReportsLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString("return {\n")
	for i := range 9000 {
		fmt.Fprintf(&b, "%q,\n", fmt.Sprint("c", i))
	}
	b.WriteString("}\n")
	write("acme/huge.lua", b.String())
	write("acme/ok.lua", "return 1\n")
	write("other/lib/shared.lua", "return 2\n")
	if err := os.Link(filepath.Join(dir, "other/lib/shared.lua"), filepath.Join(dir, "acme/linked.lua")); err != nil {
		t.Skipf("hard links unsupported: %v", err)
	}
	errs, files, err := Check(dir)
	if err != nil || files != 4 {
		t.Fatalf("files %d, err %v", files, err)
	}
	got := map[string]string{}
	for _, e := range errs {
		got[e.Error()[:strings.Index(e.Error(), ": ")]] = e.Error()
	}
	if m := got["acme/huge.lua:8002"]; !strings.Contains(m, "more than 8000 distinct constants") {
		t.Errorf("huge: %v", got)
	}
	if m := got["acme/linked.lua"]; !strings.Contains(m, "2 hard links") {
		t.Errorf("linked: %v", got)
	}
	if m := got["other/lib/shared.lua"]; !strings.Contains(m, "2 hard links") {
		t.Errorf("shared: %v", got)
	}
	if len(errs) != 3 {
		t.Errorf("errors: %v", got)
	}
}
