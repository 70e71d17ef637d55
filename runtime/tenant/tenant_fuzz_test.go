package tenant

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse: the tenants file parser takes arbitrary bytes without panicking
// or hanging; an error comes with no file; an accepted file's tenants all
// exist, their limits are not negative, their allowlist entries are hosts,
// and For never leaks the defaults' env or allowlist to a tenant. Seeds (the
// examples' file, the docs' snippets) are in testdata/fuzz/FuzzParse.
//
//	go test -run XXX -fuzz FuzzParse -fuzztime 60s -parallel 1 ./runtime/tenant/
func FuzzParse(f *testing.F) {
	f.Add([]byte("defaults: {timeout: 1s}\ntenants: {demo: {max_concurrent: 2}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		stop := time.AfterFunc(5*time.Second, func() { panic("Parse: still running after 5s") })
		file, err := Parse(b)
		stop.Stop()
		if err != nil {
			if file != nil {
				t.Fatalf("Parse returned a file with error %v", err)
			}
			return
		}
		names := []string{"no-such-tenant"}
		for name, c := range file.Tenants {
			if c == nil {
				t.Fatalf("tenant %q left nil", name)
			}
			names = append(names, name)
		}
		for _, name := range names {
			c := file.For(name)
			if c == nil {
				t.Fatalf("For(%q) = nil", name)
			}
			if c.MaxConcurrent < 0 || c.Timeout < 0 || c.HTTP.Timeout < 0 || c.Session.TTL < 0 {
				t.Fatalf("For(%q) has a negative limit: %+v", name, c)
			}
			for _, h := range c.HTTP.Allow {
				if strings.TrimSpace(h) == "" || strings.ContainsAny(h, "/ ,\t\r\n\x00") {
					t.Fatalf("For(%q) allows %q, not a host", name, h)
				}
			}
			own := file.Tenants[name]
			if own == nil && (c.Env != nil || c.HTTP.Allow != nil) {
				t.Fatalf("For(%q), a tenant the file does not list, got env %v / allow %v", name, c.Env, c.HTTP.Allow)
			}
		}
	})
}
