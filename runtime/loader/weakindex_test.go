package loader

import (
	"crypto/sha256"
	"runtime"
	"testing"
	"time"
)

// An entry lasts as long as its value is held elsewhere, and then goes, so
// the index of templates and shapes does not grow with what was evicted.
func TestWeakIndexForgetsWhatNobodyHolds(t *testing.T) {
	var x weakIndex[template]
	held := &template{bytes: 1}
	x.put(sha256.Sum256([]byte("held")), held)
	x.put(sha256.Sum256([]byte("dropped")), &template{bytes: 2})
	gone := false
	for i := 0; i < 100 && !gone; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		x.mu.Lock()
		_, present := x.m[sha256.Sum256([]byte("dropped"))]
		x.mu.Unlock()
		gone = !present
	}
	if !gone {
		t.Error("the entry of a collected value is still in the index")
	}
	if got := x.get(sha256.Sum256([]byte("held"))); got != held {
		t.Errorf("the held value: got %p, want %p", got, held)
	}
	runtime.KeepAlive(held)
}
