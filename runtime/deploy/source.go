package deploy

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/dialua/dialua/runtime/loader"
)

// Source is the loader.Source of an engine that serves releases: names
// with a Release are served from the Store, names without one from the
// source it wraps (the scripts folder, the development source). Which
// release a request uses is the Picker's decision, so a tenant with an
// active release never asks for Release "" and its folder is ignored.
//
// Release files never change, so a located file's Version is fixed and
// Watch reports it watched without ever calling back: the loader compiles
// each file of a release once and never re-checks it.
type Source struct {
	store Store
	dev   loader.Source // may be nil: releases only

	mu    sync.Mutex
	index map[string]map[string]int64 // tenant "\x00" id -> the release's paths and sizes
}

// maxIndexes bounds the release file lists Source keeps; past it they are
// all dropped and read again as needed.
const maxIndexes = 4096

// NewSource serves releases from store and everything else from dev (nil:
// nothing else). Closing the Source closes dev, not store.
func NewSource(store Store, dev loader.Source) *Source {
	return &Source{store: store, dev: dev, index: map[string]map[string]int64{}}
}

// releaseFile is a located release file.
type releaseFile struct {
	tenant, id, path string
	version          loader.Version
}

// paths is a release's file set, from memory after the first time.
func (s *Source) paths(tenant, id string) (map[string]int64, error) {
	key := tenant + "\x00" + id
	s.mu.Lock()
	m := s.index[key]
	s.mu.Unlock()
	if m != nil {
		return m, nil
	}
	r, err := s.store.Release(context.Background(), tenant, id)
	if err != nil {
		return nil, err
	}
	m = make(map[string]int64, len(r.Files))
	for _, f := range r.Files {
		m[f.Path] = f.Size
	}
	s.mu.Lock()
	if len(s.index) >= maxIndexes {
		s.index = map[string]map[string]int64{}
	}
	s.index[key] = m
	s.mu.Unlock()
	return m, nil
}

// Locate resolves a name as the folder source would, within the release:
// <script>.lua, else <script>/index.lua (index.lua for ""), and
// lib/<module>.lua for a module; lib/ is never served as a script.
func (s *Source) Locate(n loader.Name) (loader.File, error) {
	if n.Release == "" {
		if s.dev == nil {
			return loader.File{}, loader.ErrNotFound
		}
		return s.dev.Locate(n)
	}
	version, err := ParseID(n.Release)
	if err != nil {
		return loader.File{}, loader.ErrNotFound
	}
	files, err := s.paths(n.Tenant, n.Release)
	if err != nil {
		if errors.Is(err, ErrNoRelease) || errors.Is(err, ErrNoTenant) || errors.Is(err, ErrBadName) {
			return loader.File{}, loader.ErrNotFound
		}
		return loader.File{}, err
	}
	var candidates []string
	if n.Module {
		candidates = []string{loader.ModulesDir + "/" + n.Script + ".lua"}
	} else {
		if n.Script == loader.ModulesDir || strings.HasPrefix(n.Script, loader.ModulesDir+"/") {
			return loader.File{}, loader.ErrNotFound
		}
		if n.Script != "" {
			candidates = append(candidates, n.Script+".lua", n.Script+"/index.lua")
		} else {
			candidates = append(candidates, "index.lua")
		}
	}
	for _, p := range candidates {
		size, ok := files[p]
		if !ok {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(n.Tenant + "\x00" + n.Release + "\x00" + p))
		id := "release:" + n.Tenant + "/" + n.Release + "/" + p
		return loader.File{
			Chunk:  n.Tenant + "/" + p,
			ID:     id,
			Names:  []string{id},
			Opaque: &releaseFile{tenant: n.Tenant, id: n.Release, path: p, version: loader.Version{Stamp: int64(version), Size: size, Ident: h.Sum64()}},
		}, nil
	}
	return loader.File{}, loader.ErrNotFound
}

func (s *Source) Read(f loader.File) ([]byte, loader.Version, error) {
	rf, ok := f.Opaque.(*releaseFile)
	if !ok {
		return s.dev.Read(f)
	}
	b, err := s.store.ReadFile(context.Background(), rf.tenant, rf.id, rf.path)
	if err != nil {
		if errors.Is(err, ErrNoRelease) || errors.Is(err, ErrNoTenant) || errors.Is(err, ErrNoFile) {
			return nil, loader.Version{}, loader.ErrNotFound
		}
		return nil, loader.Version{}, err
	}
	return b, rf.version, nil
}

// Version of a release file never changes.
func (s *Source) Version(f loader.File) (loader.Version, error) {
	rf, ok := f.Opaque.(*releaseFile)
	if !ok {
		return s.dev.Version(f)
	}
	return rf.version, nil
}

// Watch: a release file is immutable, so it is "watched" with no call back.
func (s *Source) Watch(f loader.File, changed func(name string)) bool {
	if _, ok := f.Opaque.(*releaseFile); ok {
		return true
	}
	return s.dev.Watch(f, changed)
}

// Close closes the wrapped source.
func (s *Source) Close() {
	if s.dev != nil {
		s.dev.Close()
	}
}
