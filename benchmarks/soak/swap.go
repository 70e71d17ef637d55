package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// versions tracks which version of each good tenant's script is on disk, so
// a good answer can be checked against what the server may legitimately
// serve: the current version, or the previous one for at most grace after
// the rewrite (the server applies a change about 30 ms after it, 300 ms at
// most for a file still being written). Anything older means a missed swap.
type versions struct {
	mu        sync.Mutex
	grace     time.Duration
	written   []int // last version whose write has completed
	writing   []int // version being written (== written between swaps)
	at        map[[2]int]time.Time
	seen      map[[2]int]bool
	maxLag    time.Duration
	swaps     int64
	swapFails int64
}

func newVersions(tenants int, grace time.Duration) *versions {
	vs := &versions{grace: grace, written: make([]int, tenants), writing: make([]int, tenants),
		at: map[[2]int]time.Time{}, seen: map[[2]int]bool{}}
	now := time.Now()
	for t := range tenants {
		vs.written[t], vs.writing[t] = 1, 1
		vs.at[[2]int{t, 1}] = now
	}
	return vs
}

// lowest is the oldest version tenant t may answer with for a request sent
// now.
func (vs *versions) lowest(t int) int {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	w := vs.written[t]
	if time.Since(vs.at[[2]int{t, w}]) < vs.grace {
		return w - 1
	}
	return w
}

// highest is the newest version tenant t may answer with for a response
// received now: the one being written counts (it may just have landed).
func (vs *versions) highest(t int) int {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.writing[t]
}

// observe records the first answer with version v, for the swap lag: time
// from the end of the write to the first answer that shows it.
func (vs *versions) observe(t, v int) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	k := [2]int{t, v}
	if vs.seen[k] {
		return
	}
	vs.seen[k] = true
	if at, ok := vs.at[k]; ok && v > 1 {
		vs.maxLag = max(vs.maxLag, time.Since(at))
	}
}

func (vs *versions) stats() (swaps, fails int64, maxLag time.Duration) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.swaps, vs.swapFails, vs.maxLag
}

// swapLoop rewrites one good tenant's script every interval, tenants in
// turn, alternating an in-place rewrite (truncate, write half, pause, write
// the rest: what an editor or scp does) with write-to-temp-and-rename (what
// a deploy tool does). Both must only ever be served whole.
func swapLoop(ctx context.Context, dir string, vs *versions, interval time.Duration) {
	if interval <= 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t := n % len(vs.written)
		vs.mu.Lock()
		v := vs.writing[t] + 1
		vs.writing[t] = v
		vs.mu.Unlock()
		name := goodTenant(t)
		path := filepath.Join(dir, name, "counter.lua")
		src := []byte(goodScript(name, v))
		var err error
		if n%2 == 0 {
			err = writeInPlace(path, src)
		} else {
			err = writeRename(path, src)
		}
		vs.mu.Lock()
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: swap %s to version %d: %v\n", name, v, err)
			vs.swapFails++
		}
		vs.written[t] = v
		vs.at[[2]int{t, v}] = time.Now()
		vs.swaps++
		vs.mu.Unlock()
	}
}

func writeInPlace(path string, src []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	half := len(src) / 2
	if _, err := f.Write(src[:half]); err != nil {
		f.Close()
		return err
	}
	time.Sleep(2 * time.Millisecond)
	if _, err := f.Write(src[half:]); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeRename uses a hidden temporary name in the same folder: hidden files
// are never served, and a rename within one file system is atomic.
func writeRename(path string, src []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, src, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
