package loader

import (
	"crypto/sha256"
	"runtime"
	"sync"
	"weak"
)

// weakIndex finds values by a hash of what they were made from, for as long
// as something else holds them: it keeps weak pointers only, and an entry
// goes when its value is collected. The template and shape indexes are
// weakIndexes.
type weakIndex[T any] struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]weak.Pointer[T]
}

// get is the value indexed under sum, or nil.
func (x *weakIndex[T]) get(sum [sha256.Size]byte) *T {
	x.mu.Lock()
	wp, ok := x.m[sum]
	x.mu.Unlock()
	if !ok {
		return nil
	}
	return wp.Value()
}

// put indexes v under sum, in place of what was there.
func (x *weakIndex[T]) put(sum [sha256.Size]byte, v *T) {
	w := weak.Make(v)
	x.mu.Lock()
	if x.m == nil {
		x.m = map[[sha256.Size]byte]weak.Pointer[T]{}
	}
	x.m[sum] = w
	x.mu.Unlock()
	runtime.AddCleanup(v, func(sum [sha256.Size]byte) {
		x.mu.Lock()
		if cur, ok := x.m[sum]; ok && cur == w {
			delete(x.m, sum)
		}
		x.mu.Unlock()
	}, sum)
}
