package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/deploy"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/loader"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/session"
)

// entry is one tar entry of a test bundle.
type entry struct {
	name string
	body string
	typ  byte // tar.TypeReg when 0
	link string
	size int64 // the header's size, when it must lie
}

// tarGz builds a tar.gz bundle from entries.
func tarGz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typ, Linkname: e.link}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bundle is a bundle of files (path -> source).
func bundle(t testing.TB, files map[string]string) []byte {
	t.Helper()
	fs := deploy.Files{}
	for p, s := range files {
		fs[p] = []byte(s)
	}
	var buf bytes.Buffer
	if err := deploy.WriteBundle(&buf, fs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// release is a tenant tree whose script and module both say which release
// they are: a response mixing two releases shows.
func release(tag string) map[string]string {
	return map[string]string{
		"ivr.lua": fmt.Sprintf(`local u = require("util")
response:set_var("script", %q)
response:set_var("lib", u.tag)
`, tag),
		"lib/util.lua":   fmt.Sprintf("return { tag = %q }\n", tag),
		"menu/index.lua": fmt.Sprintf("response:set_var(\"script\", %q)\nresponse:set_var(\"lib\", require(\"util\").tag)\n", tag),
	}
}

// env is a store, its Source over a scripts folder, a Picker and an
// engine over both.
type env struct {
	t        testing.TB
	data     string
	scripts  string
	store    *deploy.Disk
	picker   *deploy.Picker
	sessions session.Store
	eng      *engine.Engine
}

func newEnv(t testing.TB, folder map[string]string) *env {
	t.Helper()
	return newEnvWith(t, folder, nil)
}

// newEnvWith is newEnv with a session store of the caller's (nil: memory).
func newEnvWith(t testing.TB, folder map[string]string, sessions session.Store) *env {
	t.Helper()
	e := &env{t: t, data: t.TempDir(), scripts: t.TempDir(), sessions: sessions}
	for name, src := range folder {
		p := filepath.Join(e.scripts, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.open()
	return e
}

// open opens the store and builds the picker and engine over it.
func (e *env) open() {
	t := e.t
	t.Helper()
	st, err := deploy.OpenDisk(e.data, nil)
	if err != nil {
		t.Fatal(err)
	}
	folder, err := loader.NewFolder(e.scripts, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.sessions == nil {
		e.sessions = session.NewMemory(session.MemoryLimits{})
		sess := e.sessions
		t.Cleanup(func() { sess.Close() })
	}
	pick, err := deploy.NewPicker(st, deploy.PickerOptions{Sessions: e.sessions})
	if err != nil {
		t.Fatal(err)
	}
	src := deploy.NewSource(st, folder)
	eng, err := engine.New(engine.Options{Source: src, Releases: pick, Sessions: e.sessions, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.store, e.picker, e.eng = st, pick, eng
	t.Cleanup(e.close)
}

func (e *env) close() {
	if e.eng == nil {
		return
	}
	e.eng.Close()
	e.picker.Close()
	e.store.Close()
	e.eng = nil
}

// restart closes everything but the data directory and the session store,
// and opens them again: a new process over the same data.
func (e *env) restart() {
	e.close()
	e.open()
}

func (e *env) upload(tenant string, files map[string]string, msg string) (deploy.Release, error) {
	return deploy.Upload(context.Background(), e.store, tenant, bytes.NewReader(bundle(e.t, files)), deploy.Limits{}, msg)
}

func (e *env) mustUpload(tenant string, files map[string]string, msg string) deploy.Release {
	e.t.Helper()
	r, err := e.upload(tenant, files, msg)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) activate(tenant, id string) {
	e.t.Helper()
	if err := e.store.Activate(context.Background(), tenant, id); err != nil {
		e.t.Fatal(err)
	}
}

// run runs a script with params (name, value, ...) and returns its SetVar
// variables.
func (e *env) run(tenant, script string, params ...string) (map[string]string, error) {
	req := &protocol.Request{Method: "POST", Path: "/" + tenant + "/" + script, Tenant: tenant, Script: script}
	for i := 0; i+1 < len(params); i += 2 {
		req.Params = append(req.Params, protocol.Param{Name: params[i], Value: params[i+1]})
	}
	out, err := e.eng.Run(context.Background(), req, nil)
	if err != nil {
		return nil, err
	}
	resp, err := protocol.Decode(out)
	if err != nil {
		return nil, fmt.Errorf("decode: %w: %s", err, out)
	}
	vars := map[string]string{}
	for _, v := range resp.Verbs {
		if v.Kind == protocol.SetVar {
			vars[v.Name] = v.Text
		}
	}
	return vars, nil
}

// tag runs a script and returns the release tag it answered with, failing
// the test on an error or on a response mixing two releases.
func (e *env) tag(tenant, script string, params ...string) string {
	e.t.Helper()
	vars, err := e.run(tenant, script, params...)
	if err != nil {
		e.t.Fatalf("%s/%s %v: %v", tenant, script, params, err)
	}
	if vars["script"] != vars["lib"] {
		e.t.Fatalf("%s/%s: mixed response: script %q, lib %q", tenant, script, vars["script"], vars["lib"])
	}
	return vars["script"]
}

func isBundleErr(err error) bool {
	var be *deploy.BundleError
	return errors.As(err, &be)
}
