package tenant

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Auth is the inbound authentication of a tenant's requests, checked by
// runtime/auth before a script runs (docs/tenants.md, "Inbound
// authentication"). Every configured check must pass. Parse validates it
// and keeps the parsed forms; the methods below read them.
type Auth struct {
	// Networks are the source networks allowed ("203.0.113.0/24",
	// "2001:db8::/32", or a bare address for one host). Nil: any.
	Networks []string `yaml:"networks"`
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// Networks is checked. Nil: the TCP peer is the client, always.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Basic are the accepted HTTP basic credentials (any one of them).
	Basic []Basic `yaml:"basic"`
	// Token is a shared secret in a header or a request parameter.
	Token *Token `yaml:"token"`
	// HMAC is a signature of the request with a timestamp.
	HMAC *HMAC `yaml:"hmac"`

	nets, proxies []netip.Prefix
}

// Basic is one accepted user and password of HTTP basic auth.
type Basic struct {
	User     string `yaml:"user"`
	Password Secret `yaml:"password"`
}

// Token is a shared-secret token, in the header named Header or the request
// parameter named Param (one of them; default the header X-Dialua-Token).
type Token struct {
	Header  string   `yaml:"header"`
	Param   string   `yaml:"param"`
	Secrets []Secret `yaml:"secrets"` // any one of them is accepted
}

// HMAC is an HMAC-SHA256 signature of the request (runtime/auth defines
// what is signed) with its timestamp, in two headers.
type HMAC struct {
	Keys            []Secret `yaml:"keys"` // any one of them verifies; never hashes
	SignatureHeader string   `yaml:"signature_header"`
	TimestampHeader string   `yaml:"timestamp_header"`
}

// Header names used when the tenants file names none.
const (
	DefaultTokenHeader     = "X-Dialua-Token"
	DefaultSignatureHeader = "X-Dialua-Signature"
	DefaultTimestampHeader = "X-Dialua-Timestamp"
)

// MinHMACKey is the shortest HMAC key accepted, in bytes.
const MinHMACKey = 16

// Secret is a password, token or key from the tenants file: the text as
// written, or "sha256:<64 hex digits>", the SHA-256 of the secret, where a
// hash can serve (basic passwords, tokens). It never prints: String,
// GoString and MarshalYAML give "[redacted]", and the value sits behind a
// pointer, so even fmt's reflection over a whole Config shows an address.
type Secret struct{ p *secret }

type secret struct {
	text   string
	sum    [32]byte // SHA-256 of the secret
	hashed bool
}

const hashPrefix = "sha256:"

func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a secret must be a string", n.Line)
	}
	s.p = &secret{text: n.Value}
	return nil
}

// parse checks the secret and computes its digest; what says which secret
// it is, for the error.
func (s *Secret) parse(what string, hashOK bool) error {
	if s.p == nil || s.p.text == "" {
		return fmt.Errorf("%s is empty", what)
	}
	p := s.p
	switch {
	case strings.HasPrefix(p.text, hashPrefix) && !hashOK:
		return fmt.Errorf("%s: an HMAC key cannot be stored as a hash; write the key itself", what)
	case strings.HasPrefix(p.text, hashPrefix):
		h := p.text[len(hashPrefix):]
		if len(h) != 64 {
			return fmt.Errorf("%s: sha256: must be followed by 64 hex digits (the SHA-256 of the secret)", what)
		}
		if _, err := hex.Decode(p.sum[:], []byte(h)); err != nil {
			return fmt.Errorf("%s: sha256: must be followed by 64 hex digits (the SHA-256 of the secret)", what)
		}
		p.hashed = true
	default:
		p.sum = sha256.Sum256([]byte(p.text))
	}
	return nil
}

// SHA256 is the SHA-256 of the secret.
func (s Secret) SHA256() [32]byte {
	if s.p == nil {
		return [32]byte{}
	}
	return s.p.sum
}

// Key is the secret itself ("" for a secret stored as a hash).
func (s Secret) Key() string {
	if s.p == nil || s.p.hashed {
		return ""
	}
	return s.p.text
}

func (s Secret) String() string            { return "[redacted]" }
func (s Secret) GoString() string          { return "[redacted]" }
func (s Secret) MarshalYAML() (any, error) { return "[redacted]", nil }

// Enabled reports whether any check is configured.
func (a *Auth) Enabled() bool {
	return len(a.nets) > 0 || len(a.Basic) > 0 || a.Token != nil || a.HMAC != nil
}

// Nets are the allowed source networks (empty: any).
func (a *Auth) Nets() []netip.Prefix { return a.nets }

// Proxies are the trusted proxies' networks.
func (a *Auth) Proxies() []netip.Prefix { return a.proxies }

// parse validates the section; errors name the key.
func (a *Auth) parse(defaults bool) error {
	var err error
	if a.nets, err = parsePrefixes("auth.networks", a.Networks); err != nil {
		return err
	}
	if a.proxies, err = parsePrefixes("auth.trusted_proxies", a.TrustedProxies); err != nil {
		return err
	}
	if defaults {
		// A credential in the defaults would be every tenant's, so any
		// tenant's IVR could call any other tenant's scripts.
		switch {
		case a.Basic != nil:
			return fmt.Errorf("auth.basic: credentials are per tenant, not defaults")
		case a.Token != nil:
			return fmt.Errorf("auth.token: credentials are per tenant, not defaults")
		case a.HMAC != nil:
			return fmt.Errorf("auth.hmac: credentials are per tenant, not defaults")
		}
		return nil
	}
	if a.Basic != nil && len(a.Basic) == 0 {
		return fmt.Errorf("auth.basic: list at least one user and password")
	}
	for i := range a.Basic {
		b := &a.Basic[i]
		if b.User == "" {
			return fmt.Errorf("auth.basic[%d].user is empty", i)
		}
		if strings.ContainsAny(b.User, ":\x00\r\n") {
			return fmt.Errorf("auth.basic[%d].user must not hold ':' or control characters", i)
		}
		if err := b.Password.parse(fmt.Sprintf("auth.basic[%d].password", i), true); err != nil {
			return err
		}
	}
	if t := a.Token; t != nil {
		switch {
		case t.Header != "" && t.Param != "":
			return fmt.Errorf("auth.token: set header or param, not both")
		case t.Header == "" && t.Param == "":
			t.Header = DefaultTokenHeader
		}
		if t.Header != "" && !headerName(t.Header) {
			return fmt.Errorf("auth.token.header %q is not a header name", t.Header)
		}
		if strings.EqualFold(t.Header, "Authorization") {
			return fmt.Errorf("auth.token.header: Authorization is basic auth's; name another header")
		}
		if t.Param != "" && (len(t.Param) > 128 || strings.ContainsAny(t.Param, "&=\x00\r\n ")) {
			return fmt.Errorf("auth.token.param %q is not a parameter name", t.Param)
		}
		if len(t.Secrets) == 0 {
			return fmt.Errorf("auth.token.secrets is empty")
		}
		for i := range t.Secrets {
			if err := t.Secrets[i].parse(fmt.Sprintf("auth.token.secrets[%d]", i), true); err != nil {
				return err
			}
		}
	}
	if h := a.HMAC; h != nil {
		if h.SignatureHeader == "" {
			h.SignatureHeader = DefaultSignatureHeader
		}
		if h.TimestampHeader == "" {
			h.TimestampHeader = DefaultTimestampHeader
		}
		for key, v := range map[string]string{"signature_header": h.SignatureHeader, "timestamp_header": h.TimestampHeader} {
			if !headerName(v) {
				return fmt.Errorf("auth.hmac.%s %q is not a header name", key, v)
			}
		}
		if strings.EqualFold(h.SignatureHeader, h.TimestampHeader) {
			return fmt.Errorf("auth.hmac: signature_header and timestamp_header must differ")
		}
		if len(h.Keys) == 0 {
			return fmt.Errorf("auth.hmac.keys is empty")
		}
		for i := range h.Keys {
			what := fmt.Sprintf("auth.hmac.keys[%d]", i)
			if err := h.Keys[i].parse(what, false); err != nil {
				return err
			}
			if len(h.Keys[i].Key()) < MinHMACKey {
				return fmt.Errorf("%s is shorter than %d bytes", what, MinHMACKey)
			}
		}
	}
	return nil
}

func parsePrefixes(key string, list []string) ([]netip.Prefix, error) {
	if list == nil {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
				out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a network (CIDR like 203.0.113.0/24 or 2001:db8::/32, or one address)", key, s)
		}
		if p.Masked() != p {
			return nil, fmt.Errorf("%s: %q has bits set past its prefix length; did you mean %s?", key, s, p.Masked())
		}
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("%s: %q is an IPv4-mapped IPv6 network; write it as IPv4", key, s)
		}
		out = append(out, p)
	}
	return out, nil
}

// headerName reports whether s is an HTTP header name (an RFC 9110 token).
func headerName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// mergeAuth is a tenant's effective auth: its own credentials always, and
// its own networks and trusted proxies when it lists them (an empty list
// lifts the defaults' restriction), else the defaults'.
func mergeAuth(d, t Auth) Auth {
	a := t
	if t.Networks == nil {
		a.Networks, a.nets = d.Networks, d.nets
	}
	if t.TrustedProxies == nil {
		a.TrustedProxies, a.proxies = d.TrustedProxies, d.proxies
	}
	return a
}
