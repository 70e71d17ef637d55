package tenant

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestAuthParse: every mode reads, secrets may be hashes (except HMAC keys),
// header names take their defaults, and nothing prints a secret.
func TestAuthParse(t *testing.T) {
	sum := sha256.Sum256([]byte("tok-two"))
	f, err := Parse([]byte(`
defaults:
  auth:
    networks: [203.0.113.0/24, "2001:db8::/32", 198.51.100.7]
    trusted_proxies: [10.0.0.0/8]
tenants:
  acme:
    auth:
      basic:
        - {user: ivr, password: "s3cret-pass"}
      token:
        param: key
        secrets: ["tok-one", "sha256:` + hex.EncodeToString(sum[:]) + `"]
      hmac:
        keys: ["0123456789abcdef-key"]
  open:
    auth:
      networks: []
  plain: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := f.For("acme").Auth
	want := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.7/32")}
	if fmt.Sprint(a.Nets()) != fmt.Sprint(want) || len(a.Proxies()) != 1 {
		t.Errorf("networks from the defaults: %v, proxies %v", a.Nets(), a.Proxies())
	}
	if !a.Enabled() || len(a.Basic) != 1 || a.Basic[0].Password.SHA256() != sha256.Sum256([]byte("s3cret-pass")) {
		t.Errorf("basic: %+v", a.Basic)
	}
	if a.Token.Header != "" || a.Token.Param != "key" || a.Token.Secrets[1].SHA256() != sum || a.Token.Secrets[1].Key() != "" {
		t.Errorf("token: %+v", a.Token)
	}
	if a.HMAC.SignatureHeader != DefaultSignatureHeader || a.HMAC.TimestampHeader != DefaultTimestampHeader || a.HMAC.Keys[0].Key() != "0123456789abcdef-key" {
		t.Errorf("hmac: %+v", a.HMAC)
	}
	if o := f.For("open").Auth; o.Enabled() || o.Nets() == nil {
		t.Errorf("networks: [] lifts the defaults' restriction: %v", o.Nets())
	}
	if p := f.For("plain").Auth; len(p.Nets()) != 3 || p.Basic != nil || p.Token != nil || p.HMAC != nil {
		t.Errorf("a tenant with no auth of its own: %+v", p)
	}
	if u := f.For("unlisted").Auth; len(u.Nets()) != 3 || u.Token != nil {
		t.Errorf("an unlisted tenant: %+v", u)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, f.For("acme"))
		for _, secret := range []string{"s3cret-pass", "tok-one", "0123456789abcdef-key"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s of a config prints a secret: %s", verb, out)
			}
		}
	}
	f2, err := Parse([]byte("tenants:\n  t:\n    auth:\n      token: {secrets: [x]}\n"))
	if err != nil || f2.For("t").Auth.Token.Header != DefaultTokenHeader {
		t.Errorf("token header default: %v %+v", err, f2)
	}
}

// TestAuthErrors: each mistake is refused with the tenant and the key named.
func TestAuthErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"networks: [10.0.0.0/33]", `tenant acme: auth.networks: "10.0.0.0/33" is not a network`},
		{"networks: [example.com]", `tenant acme: auth.networks: "example.com" is not a network`},
		{"networks: [10.0.0.1/8]", `tenant acme: auth.networks: "10.0.0.1/8" has bits set past its prefix length; did you mean 10.0.0.0/8?`},
		{`networks: ["fe80::1%eth0"]`, `tenant acme: auth.networks: "fe80::1%eth0" is not a network`},
		{"trusted_proxies: [nope]", `tenant acme: auth.trusted_proxies: "nope" is not a network`},
		{"basic: []", "tenant acme: auth.basic: list at least one user and password"},
		{"basic: [{user: ivr}]", "tenant acme: auth.basic[0].password is empty"},
		{`basic: [{user: "", password: x}]`, "tenant acme: auth.basic[0].user is empty"},
		{`basic: [{user: "a:b", password: x}]`, "tenant acme: auth.basic[0].user must not hold ':'"},
		{"basic: [{user: ivr, password: 'sha256:abc'}]", "tenant acme: auth.basic[0].password: sha256: must be followed by 64 hex digits"},
		{"basic: [{user: ivr, password: [a]}]", "tenant acme: line 4: password: a secret must be a string"},
		{"token: {secrets: []}", "tenant acme: auth.token.secrets is empty"},
		{"token: {secrets: ['']}", "tenant acme: auth.token.secrets[0] is empty"},
		{"token: {header: X-T, param: t, secrets: [x]}", "tenant acme: auth.token: set header or param, not both"},
		{"token: {header: 'X T', secrets: [x]}", `tenant acme: auth.token.header "X T" is not a header name`},
		{"token: {header: authorization, secrets: [x]}", "tenant acme: auth.token.header: Authorization is basic auth's"},
		{"token: {param: 'a=b', secrets: [x]}", `tenant acme: auth.token.param "a=b" is not a parameter name`},
		{"hmac: {keys: []}", "tenant acme: auth.hmac.keys is empty"},
		{"hmac: {keys: [short]}", "tenant acme: auth.hmac.keys[0] is shorter than 16 bytes"},
		{"hmac: {keys: ['sha256:" + strings.Repeat("a", 64) + "']}", "tenant acme: auth.hmac.keys[0]: an HMAC key cannot be stored as a hash"},
		{"hmac: {keys: [0123456789abcdef], signature_header: X-A, timestamp_header: x-a}", "tenant acme: auth.hmac: signature_header and timestamp_header must differ"},
		{"hmac: {keys: [0123456789abcdef], timestamp_header: 'a:b'}", `tenant acme: auth.hmac.timestamp_header "a:b" is not a header name`},
		{"mode: basic", `tenant acme: line 4: unknown key "mode" in auth`},
		{"basic: [{user: a, pass: b}]", `tenant acme: line 4: unknown key "pass" in basic[0]`},
	} {
		doc := "tenants:\n  other: {}\n  acme:\n    auth:\n      " + strings.ReplaceAll(c.yaml, "\n", "\n      ") + "\n"
		if strings.HasPrefix(c.yaml, "mode") || strings.Contains(c.yaml, "pass: b") || strings.Contains(c.yaml, "[a]") {
			doc = "tenants:\n  other: {}\n  acme:\n    auth: {" + c.yaml + "}\n"
		}
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.yaml, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "sha256:aaaa") {
			t.Errorf("error quotes a secret: %v", err)
		}
	}
	for _, c := range []struct{ yaml, want string }{
		{"defaults:\n  auth:\n    basic: [{user: a, password: b}]\n", "defaults: auth.basic: credentials are per tenant"},
		{"defaults:\n  auth:\n    token: {secrets: [a]}\n", "defaults: auth.token: credentials are per tenant"},
		{"defaults:\n  auth:\n    hmac: {keys: [0123456789abcdef]}\n", "defaults: auth.hmac: credentials are per tenant"},
		{"defaults:\n  auth:\n    networks: [300.1.1.1]\n", `defaults: auth.networks: "300.1.1.1" is not a network`},
		// A decode error outside the tenants' section names no tenant.
		{"tenants:\n  a: {}\ndefaults:\n  auth: {mode: x}\n", `line 4: unknown key "mode" in auth`},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.yaml, err, c.want)
		}
	}
	// Secrets never show in an error, even a decode error near one.
	_, err := Parse([]byte("tenants:\n  acme:\n    auth:\n      token: {secrets: [hunter2-secret], bogus: 1}\n"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("decode error: %v", err)
	}
}

// TestAuthDocExample: the example of docs/tenants.md's "Inbound
// authentication" parses, and means what the doc says.
func TestAuthDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/tenants.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Inbound authentication.*?```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no example")
	}
	f, err := Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if a := f.For("acme").Auth; len(a.Nets()) != 3 || len(a.Basic) != 2 || a.Basic[0].Password.SHA256() != sha256.Sum256([]byte("kX7-voipnow-basic-pass")) {
		t.Errorf("acme: %+v", a)
	}
	if a := f.For("initech").Auth; a.Token.Secrets[0].SHA256() != sha256.Sum256([]byte("initech-token-5f2c9a")) || len(a.Nets()) != 1 {
		t.Errorf("initech: %+v", a)
	}
	if a := f.For("lab").Auth; a.Enabled() {
		t.Errorf("lab: %+v", a)
	}
}
