package tenant

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestDeployTokens: hashes are read and matched, for their tenant only; a
// plain token, a malformed hash, an empty list and a default are refused
// with a message that never repeats the value.
func TestDeployTokens(t *testing.T) {
	f, err := Parse([]byte(fmt.Sprintf(`
tenants:
  acme:
    deploy_tokens: [%q, %q]
  other:
    deploy_tokens: [%q]
  none: {}
`, hashOf("acme-token-1"), hashOf("acme-token-2"), hashOf("other-token"))))
	if err != nil {
		t.Fatal(err)
	}
	acme, other, none, missing := f.For("acme"), f.For("other"), f.For("none"), f.For("missing")
	for _, tok := range []string{"acme-token-1", "acme-token-2"} {
		if !acme.DeployTokenMatches(tok) {
			t.Errorf("acme refuses its own token %q", tok)
		}
		if other.DeployTokenMatches(tok) || none.DeployTokenMatches(tok) || missing.DeployTokenMatches(tok) {
			t.Errorf("acme's token %q accepted for another tenant", tok)
		}
	}
	for _, tok := range []string{"", "acme-token", "other-token", hashOf("acme-token-1")} {
		if acme.DeployTokenMatches(tok) {
			t.Errorf("acme accepts %q", tok)
		}
	}
	if !other.DeployTokenMatches("other-token") {
		t.Error("other refuses its token")
	}
	if s := fmt.Sprintf("%v %+v %#v", acme, *acme, acme.DeployTokens); strings.Contains(s, hashOf("acme-token-1")[7:]) {
		t.Errorf("a printed Config shows a token hash: %s", s)
	}

	bad := []struct{ name, yaml, want string }{
		{"plain token", "tenants:\n  acme:\n    deploy_tokens: [\"let-me-in-please\"]\n", "write the token's hash"},
		{"short hash", "tenants:\n  acme:\n    deploy_tokens: [\"sha256:abcd\"]\n", "64 hex digits"},
		{"empty list", "tenants:\n  acme:\n    deploy_tokens: []\n", "at least one"},
		{"empty value", "tenants:\n  acme:\n    deploy_tokens: [\"\"]\n", "write the token's hash"},
		{"in defaults", fmt.Sprintf("defaults:\n  deploy_tokens: [%q]\n", hashOf("x")), "per tenant"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
			if strings.Contains(err.Error(), "let-me-in-please") {
				t.Errorf("error %q repeats the token", err)
			}
		})
	}
}
