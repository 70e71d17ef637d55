package luaapi_test

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
)

// http.ca: a tenant that lists a server's self-signed certificate reaches
// it over HTTPS; another tenant (no ca) is refused by the certificate
// check, on the same server, so the CA is the tenant's alone.
func TestScriptHTTPTenantCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure "+r.Header.Get("Content-Type"))
	}))
	t.Cleanup(srv.Close)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	indented := "        " + strings.ReplaceAll(strings.TrimSpace(string(certPEM)), "\n", "\n        ")
	tenants := fmt.Sprintf("tenants:\n  a:\n    http:\n      ca: |\n%s\n  b: {}\n", indented)
	script := `
local resp, err = http.post(request.params.u, "x=1")
put("err", err)
put("body", resp and resp.body)
`
	e := httpEngine(t, tenants, map[string]string{"a/call.lua": script, "b/call.lua": script},
		engine.Options{Dev: true, Timeout: 3 * time.Second})
	got, _ := call(t, e, "/a/call", srv.URL)
	if got["err"] != "<nil>" || got["body"] != "secure application/x-www-form-urlencoded" {
		t.Errorf("tenant with the CA: %v", got)
	}
	got, _ = call(t, e, "/b/call", srv.URL)
	if !strings.Contains(got["err"], "certificate") || got["body"] != "<nil>" {
		t.Errorf("tenant without the CA: %v", got)
	}
	// And a again, after b: its trusted connection pool is its own.
	if got, _ = call(t, e, "/a/call", srv.URL); got["err"] != "<nil>" {
		t.Errorf("tenant with the CA, again: %v", got)
	}
}
