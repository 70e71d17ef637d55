package loader

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/dialua/dialua/runtime/sandbox"
)

// CheckFiles compiles files held in memory (a release being deployed: path
// inside the tenant's tree, slash-separated, such as "ivr.lua" or
// "lib/util.lua", to its bytes) as the loader would compile them, and
// returns one error per file that does not compile or is too large, in path
// order, located as tenant/path.lua:LINE like the server's own compile
// errors. Files compile on half the CPUs at most (at least one), so that a
// large release being checked leaves the other half to the calls being
// served; a ctx that ends first stops the check and its error is returned.
func CheckFiles(ctx context.Context, tenant string, files map[string][]byte) ([]*ScriptError, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	errs := make([]*ScriptError, len(paths))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(max(runtime.GOMAXPROCS(0)/2, 1), max(len(paths), 1)) {
		wg.Go(func() {
			for i := range work {
				chunk := tenant + "/" + paths[i]
				src := files[paths[i]]
				if len(src) > MaxScriptBytes {
					errs[i] = &ScriptError{Kind: KindCompile, Tenant: tenant, Location: chunk,
						Message: fmt.Sprintf("file is %d bytes; scripts may be at most %d", len(src), MaxScriptBytes)}
					continue
				}
				if _, err := sandbox.Compile(src, chunk); err != nil {
					errs[i] = compileError(err, chunk, src)
					errs[i].Tenant = tenant
				}
			}
		})
	}
	var cerr error
feed:
	for i := range paths {
		select {
		case work <- i:
		case <-ctx.Done():
			cerr = ctx.Err()
			break feed
		}
	}
	close(work)
	wg.Wait()
	if cerr != nil {
		return nil, cerr
	}
	out := errs[:0]
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}
