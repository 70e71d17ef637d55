package admin_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// One upload per tenant at a time: a second one while the first is still
// being read is refused with 429 and a message, and the tenant can upload
// again once the first is over.
func TestOneUploadPerTenantAtATime(t *testing.T) {
	e := newEnv(t, envOptions{operator: operatorToken})
	pr, pw := io.Pipe()
	first := make(chan answer, 1)
	go func() { first <- e.call("POST", "/v1/tenants/acme/releases", operatorToken, pr) }()
	b := bundle(t, release("v1"))
	if _, err := pw.Write(b[:10]); err != nil { // the first is now being read
		t.Fatal(err)
	}
	// Wait for the first upload's handler to hold the tenant's slot, probing
	// with a body that is no bundle: refused as one (400, nothing stored)
	// until the slot is taken, 429 after. (Probing with real bundles stored
	// a release per try on a slow machine, until the release quota ran out.)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		probe := e.call("POST", "/v1/tenants/acme/releases", operatorToken, strings.NewReader("not a bundle"))
		if probe.status == http.StatusTooManyRequests {
			break
		}
		if probe.status != http.StatusBadRequest || time.Now().After(end) {
			t.Fatalf("probe while the first upload starts: %d %s", probe.status, probe.body)
		}
	}
	second := e.call("POST", "/v1/tenants/acme/releases", operatorToken, bytes.NewReader(b))
	if second.status != http.StatusTooManyRequests || !strings.Contains(string(second.body), "in progress") {
		t.Fatalf("second upload while the first runs: %d %s", second.status, second.body)
	}
	// Another tenant is not held up by acme's upload.
	if a := e.call("POST", "/v1/tenants/beta/releases", operatorToken, bytes.NewReader(b)); a.status != http.StatusCreated {
		t.Errorf("beta's upload meanwhile: %d %s", a.status, a.body)
	}
	pw.Write(b[10:])
	pw.Close()
	if a := <-first; a.status != http.StatusCreated {
		t.Fatalf("first upload: %d %s", a.status, a.body)
	}
	if a := e.call("POST", "/v1/tenants/acme/releases", operatorToken, bytes.NewReader(b)); a.status != http.StatusCreated {
		t.Errorf("upload after the first: %d %s", a.status, a.body)
	}
}
