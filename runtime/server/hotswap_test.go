package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

func varScript(v string) string { return `response:set_var("v", "` + v + `")` }

func (s *testServer) version(path string) (int, string) {
	r := s.get(path)
	if r.status != 200 {
		return r.status, ""
	}
	return 200, testkit.Vars(r.verbs(s.t))["v"]
}

func TestHotSwapEditAddDelete(t *testing.T) {
	t.Run("watch", func(t *testing.T) { testHotSwap(t, false) })
	t.Run("poll", func(t *testing.T) { testHotSwap(t, true) })
}

func testHotSwap(t *testing.T, poll bool) {
	dir := testkit.Scripts(t, map[string]string{"t/s.lua": varScript("1")})
	s := start(t, dir, engine.Options{Poll: poll})
	file := filepath.Join(dir, "t", "s.lua")
	if _, v := s.version("/t/s"); v != "1" {
		t.Fatalf("first version: %q", v)
	}

	testkit.WriteFile(t, file, varScript("2"))
	if d, ok := testkit.Within(time.Second, func() bool { _, v := s.version("/t/s"); return v == "2" }); !ok {
		t.Fatalf("edit not live after %v", d)
	}

	// A version that does not compile is refused; the last good one serves.
	testkit.WriteFile(t, file, "response:set_var(\"v\", \n")
	if _, ok := testkit.Within(time.Second, func() bool {
		s.version("/t/s") // in poll mode, requests are what notice the change
		return len(s.logs.Records("script does not compile; the last good version keeps serving")) > 0
	}); !ok {
		t.Fatalf("the broken version was not reported: %s", s.logs.String())
	}
	if st, v := s.version("/t/s"); st != 200 || v != "2" {
		t.Fatalf("after a broken save: %d %q, want the last good version 2", st, v)
	}
	if rec := s.logs.Records("script does not compile; the last good version keeps serving")[0]; !strings.Contains(rec["error"].(string), "t/s.lua:2: syntax error at end of file") {
		t.Errorf("compile error does not name file and line: %v", rec)
	}
	testkit.WriteFile(t, file, varScript("3"))
	if d, ok := testkit.Within(time.Second, func() bool { _, v := s.version("/t/s"); return v == "3" }); !ok {
		t.Fatalf("fixed version not live after %v", d)
	}

	// Atomic replace (write a temporary file, rename it over), as deploy
	// tools and many editors do.
	tmp := filepath.Join(dir, "t", ".s.lua.tmp")
	testkit.WriteFile(t, tmp, varScript("4"))
	must(t, os.Rename(tmp, file))
	if d, ok := testkit.Within(time.Second, func() bool { _, v := s.version("/t/s"); return v == "4" }); !ok {
		t.Fatalf("renamed-over version not live after %v", d)
	}

	// Adding a script makes it servable; deleting it makes it 404.
	if st, _ := s.version("/t/new"); st != 404 {
		t.Fatalf("before it exists: %d", st)
	}
	testkit.WriteFile(t, filepath.Join(dir, "t", "new.lua"), varScript("new"))
	if d, ok := testkit.Within(time.Second, func() bool { _, v := s.version("/t/new"); return v == "new" }); !ok {
		t.Fatalf("new script not live after %v", d)
	}
	must(t, os.Remove(file))
	if d, ok := testkit.Within(time.Second, func() bool { st, _ := s.version("/t/s"); return st == 404 }); !ok {
		t.Fatalf("deleted script still served after %v", d)
	}

	// A folder's index.lua gives way to a same-named file once it appears.
	testkit.WriteFile(t, filepath.Join(dir, "t", "menu", "index.lua"), varScript("index"))
	if _, v := s.version("/t/menu"); v != "index" {
		t.Fatalf("folder index: %q", v)
	}
	testkit.WriteFile(t, filepath.Join(dir, "t", "menu.lua"), varScript("file"))
	if d, ok := testkit.Within(time.Second, func() bool { _, v := s.version("/t/menu"); return v == "file" }); !ok {
		t.Fatalf("menu.lua did not take over from menu/index.lua after %v", d)
	}
}

func TestHotSwapModule(t *testing.T) {
	dir := testkit.Scripts(t, map[string]string{
		"t/lib/data.lua": `return {v = "1"}`,
		"t/use.lua":      `response:set_var("v", require("data").v)`,
	})
	s := start(t, dir, engine.Options{})
	if _, v := s.version("/t/use"); v != "1" {
		t.Fatalf("first: %q", v)
	}
	testkit.WriteFile(t, filepath.Join(dir, "t", "lib", "data.lua"), `return {v = "2"}`)
	if d, ok := testkit.Within(time.Second, func() bool { _, v := s.version("/t/use"); return v == "2" }); !ok {
		t.Fatalf("module edit not live after %v", d)
	}
}

// TestHotSwapUnderLoad: while a script is rewritten again and again, every
// request is answered 200 with one complete version or another.
func TestHotSwapUnderLoad(t *testing.T) {
	dir := testkit.Scripts(t, map[string]string{"t/s.lua": varScript("v0")})
	s := start(t, dir, engine.Options{})
	file := filepath.Join(dir, "t", "s.lua")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	served := map[string]int{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := s.get("/t/s")
				mu.Lock()
				if r.status != 200 || !strings.Contains(r.body, `<SetVar name="v">v`) {
					bad = append(bad, fmt.Sprint(r.status, " ", r.body))
				} else {
					served[r.body]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := 1; i <= 30; i++ {
		v := "v" + strings.Repeat("x", i)
		if i%2 == 0 {
			testkit.WriteFile(t, file, varScript(v))
		} else {
			tmp := file + ".tmp"
			testkit.WriteFile(t, tmp, varScript(v))
			must(t, os.Rename(tmp, file))
		}
		time.Sleep(60 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d bad answers during swaps, first: %q", len(bad), bad[0])
	}
	if len(served) < 5 {
		t.Errorf("only %d distinct versions were served across 30 swaps", len(served))
	}
}

// TestNeverCompiledThenFixed: a script whose first version does not compile
// fails (and is not recompiled on every request); once fixed, it serves.
func TestNeverCompiledThenFixed(t *testing.T) {
	for _, poll := range []bool{false, true} {
		dir := testkit.Scripts(t, map[string]string{"t/s.lua": "response:set_var(\n"})
		s := start(t, dir, engine.Options{Poll: poll})
		s.get("/t/s").wantEmptyError(t, 500)
		s.get("/t/s").wantEmptyError(t, 500)
		testkit.WriteFile(t, filepath.Join(dir, "t", "s.lua"), varScript("fixed"))
		if d, ok := testkit.Within(2*time.Second, func() bool { _, v := s.version("/t/s"); return v == "fixed" }); !ok {
			t.Errorf("poll=%v: fixed script not served after %v", poll, d)
		}
	}
}

// TestOversizedScriptRefused: files over 1 MiB are not compiled.
func TestOversizedScriptRefused(t *testing.T) {
	big := "local x = 1\n" + strings.Repeat("-- padding padding padding padding padding padding\n", 25000)
	s := start(t, testkit.Scripts(t, map[string]string{"t/big.lua": big}), engine.Options{})
	s.get("/t/big").wantEmptyError(t, 500)
	recs := s.logs.Records("script failed")
	if len(recs) != 1 || !strings.Contains(recs[0]["error"].(string), "at most 1048576") {
		t.Errorf("log: %v", recs)
	}
}
