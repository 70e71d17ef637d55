package tenant

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// Tenant names nobody configured, which any client can send, cost the
// registry nothing: they share one defaults value.
func TestUnknownTenantsShareDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(path, []byte("defaults:\n  timeout: 2s\ntenants:\n  acme:\n    timeout: 3s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewRegistry(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	first := r.Get("made-up-0")
	for i := range 10000 {
		if c := r.Get(fmt.Sprintf("made-up-%d", i)); c != first {
			t.Fatal("unknown tenants got distinct configurations")
		}
	}
	n := 0
	r.cur.Load().configs.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Errorf("%d configurations cached for names the file does not list", n)
	}
	if acme := r.Get("acme"); acme == first || acme.Timeout != Duration(3e9) || first.Timeout != Duration(2e9) {
		t.Errorf("acme %v, defaults %v", acme.Timeout, first.Timeout)
	}
}
