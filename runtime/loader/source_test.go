package loader

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"
)

// brokenSource serves one script whose reads fail as a disk or permission
// error would, until healed.
type brokenSource struct {
	err   error
	reads int
}

func (b *brokenSource) Locate(n Name) (File, error) {
	if n.Script != "ivr" {
		return File{}, ErrNotFound
	}
	return File{Chunk: n.Tenant + "/ivr.lua", ID: "ivr"}, nil
}

func (b *brokenSource) Read(File) ([]byte, Version, error) {
	b.reads++
	if b.err != nil {
		return nil, Version{}, b.err
	}
	return []byte("return 1"), Version{Stamp: 1, Size: 8}, nil
}

func (b *brokenSource) Version(File) (Version, error)      { return Version{Stamp: 1, Size: 8}, nil }
func (b *brokenSource) Watch(File, func(name string)) bool { return true }
func (b *brokenSource) Close()                             {}

// A file that cannot be read is a logged failure of the request (a server
// error, not "no such script"), and is not remembered: the next request
// tries again and succeeds once the cause has passed.
func TestReadErrorIsLoggedAndRetried(t *testing.T) {
	var logs bytes.Buffer
	src := &brokenSource{err: syscall.EACCES}
	l := New(src, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err := l.Get(Name{Tenant: "acme", Script: "ivr"})
	var se *ScriptError
	if !errors.As(err, &se) || errors.Is(err, ErrNotFound) {
		t.Fatalf("unreadable file: %v, want a *ScriptError", err)
	}
	if !strings.Contains(se.Message, "permission denied") || se.Location != "acme/ivr.lua" {
		t.Errorf("error %q at %q", se.Message, se.Location)
	}
	if !strings.Contains(logs.String(), "cannot read a script file") || !strings.Contains(logs.String(), "tenant=acme") {
		t.Errorf("not logged: %s", logs.String())
	}
	src.err = nil
	sc, err := l.Get(Name{Tenant: "acme", Script: "ivr"})
	if err != nil || sc == nil || src.reads != 2 {
		t.Fatalf("after the cause passed: %v (reads %d)", err, src.reads)
	}
	if _, err := l.Get(Name{Tenant: "acme", Script: "other"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing script: %v", err)
	}
}
