package tenant

import (
	"strings"
	"testing"
)

// TestStrictFile: settings that would be silently ignored or mean nothing,
// names no folder can have, and values of the wrong kind are errors that
// name the key and the line in words, never a Go type.
func TestStrictFile(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"defaults:\n  env:\n    KEY: v\n", "defaults: env is per tenant"},
		{"defaults:\n  http:\n    allow: [api.example.com]\n", "defaults: http.allow is per tenant"},
		{"tenants:\n  \"acme corp\": {}\n", `tenant "acme corp": not a tenant folder name`},
		{"tenants:\n  ../etc: {}\n", `tenant "../etc": not a tenant folder name`},
		{"tenants:\n  .hidden: {}\n", `tenant ".hidden": not a tenant folder name`},
		{"tenants:\n  acme:\n    timeout: 0s\n", `tenant acme: line 3: timeout: "0s" is no time at all`},
		{"defaults:\n  session:\n    ttl: 0s\n", `line 3: ttl: "0s" is no time at all`},
		{"tenants:\n  acme:\n    http:\n      timeout: fast\n", `tenant acme: line 4: timeout: "fast" is not a duration (like 500ms, 2s, 1h)`},
		{"tenants:\n  acme:\n    timeout: -1s\n", `tenant acme: line 3: timeout: "-1s" is not a duration`},
		{"tenants:\n  acme:\n    max_concurrent: lots\n", `tenant acme: line 3: max_concurrent: "lots" is not a whole number`},
		{"tenants:\n  acme:\n    weight: heavy\n", `tenant acme: line 3: weight: "heavy" is not a number`},
		{"tenants:\n  acme:\n    http: open\n", `tenant acme: line 3: http: "open" is not a mapping (key: value)`},
		{"tenants:\n  acme:\n    http:\n      allow: api.example.com\n", `tenant acme: line 4: allow: "api.example.com" is not a list`},
		{"tenants:\n  acme:\n    timout: 2s\n", `tenant acme: line 3: unknown key "timout" in acme`},
		{"defaults:\n  max_concurent: 5\n", `line 2: unknown key "max_concurent" in defaults`},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.yaml, err, c.want)
			continue
		}
		for _, goish := range []string{"!!", "tenant.", "unmarshal", "int64", "float64"} {
			if strings.Contains(err.Error(), goish) {
				t.Errorf("%q: the error speaks Go (%q): %v", c.yaml, goish, err)
			}
		}
	}
	// What stays accepted: names with dots, dashes and digits; durations
	// over zero; env and allow per tenant.
	f, err := Parse([]byte("defaults:\n  timeout: 2s\ntenants:\n  acme-2.eu_west:\n    env: {K: v}\n    http: {allow: [api.example.com], timeout: 1s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c := f.For("acme-2.eu_west"); c.Env["K"] != "v" || len(c.HTTP.Allow) != 1 || c.Timeout == 0 {
		t.Errorf("effective config %+v", c)
	}
}

// http.ca must be PEM certificates and nothing else.
func TestHTTPCARefusesWhatIsNotACertificate(t *testing.T) {
	for _, c := range []struct{ ca, want string }{
		{`"not pem at all"`, "holds no PEM certificate"},
		{"|\n        -----BEGIN PRIVATE KEY-----\n        AAAA\n        -----END PRIVATE KEY-----", `"PRIVATE KEY", not a CERTIFICATE`},
		{"|\n        -----BEGIN CERTIFICATE-----\n        AAAA\n        -----END CERTIFICATE-----", "certificate 1 does not parse"},
		{"[a, b]", "http.ca is PEM text"},
	} {
		_, err := Parse([]byte("tenants:\n  acme:\n    http:\n      ca: " + c.ca + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "line 4") {
			t.Errorf("ca %s: %v, want %q at line 4", c.ca, err, c.want)
		}
	}
}
