// Package tenant holds per-tenant configuration: limits, the outbound HTTP
// allowlist, secrets for scripts (env), session settings and inbound
// authentication (auth, checked by runtime/auth). The operator
// owns it, in one file beside the tenants' folders (tenants.yaml in the
// scripts root by default), because limits and allowlists are controls on
// tenants and must not be something a tenant's own deploy can change. The
// file is re-read when it changes; a version that does not parse is logged
// and the previous one stays in force.
package tenant

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dialua/dialua/runtime/internal/pathname"
	"github.com/dialua/dialua/runtime/internal/strictyaml"

	"go.yaml.in/yaml/v3"
)

// Config is one tenant's effective configuration (defaults merged in).
type Config struct {
	// Timeout is the per-run deadline; 0 means the server's.
	Timeout Duration `yaml:"timeout"`
	// MaxConcurrent caps this tenant's runs in flight; beyond it requests
	// get 503 at once. 0 means no cap beyond the VM pool.
	MaxConcurrent int `yaml:"max_concurrent"`
	// Weight is the tenant's share of the CPU and of the VM queue when
	// tenants compete for them: a tenant of weight 2 gets twice the CPU of
	// one of weight 1. 0 means 1.
	Weight  float64 `yaml:"weight"`
	HTTP    HTTP    `yaml:"http"`
	Session struct {
		TTL Duration `yaml:"ttl"`
	} `yaml:"session"`
	// Env are values (API keys, URLs) only this tenant's scripts can read,
	// through the env module. dialua never writes them to its logs.
	Env map[string]string `yaml:"env"`
	// Auth is how the tenant's requests prove where they come from
	// (runtime/auth); under defaults only networks and trusted_proxies.
	Auth Auth `yaml:"auth"`
	// DeployTokens are the tokens that may manage this tenant's releases
	// through the admin API (runtime/admin, docs/admin.md), and this
	// tenant's only. Each is stored as "sha256:<64 hex digits>", the
	// SHA-256 of the token: a token written as itself is refused, so the
	// file never holds one a reader could use. Never in defaults.
	DeployTokens []Secret `yaml:"deploy_tokens"`
}

// HTTP configures the http module for a tenant.
type HTTP struct {
	// Allow lists the hosts scripts may call: "api.example.com",
	// "*.example.com" (any subdomain), "10.0.0.5" or "host:port". Nothing
	// is allowed by default. Private and link-local addresses are refused,
	// even behind an allowed name, unless the address itself is listed;
	// loopback is refused unless the server runs with --dev.
	Allow   []string `yaml:"allow"`
	Timeout Duration `yaml:"timeout"`  // per call; capped by the run's deadline; default 2s
	MaxBody int64    `yaml:"max_body"` // response bytes; default 1 MiB
	// CA adds certificates to trust for HTTPS calls (ca.go); under
	// defaults it applies to every tenant that has none of its own.
	CA CA `yaml:"ca"`
}

// File is the whole tenants file.
type File struct {
	Defaults Config             `yaml:"defaults"`
	Tenants  map[string]*Config `yaml:"tenants"`
}

// Duration reads "1s", "250ms", "1h" in YAML. Zero is refused: every
// duration of the file is a deadline or a lifetime, where 0 means nothing
// (leaving the key out gives the default).
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %q is not a duration (like 500ms, 2s, 1h)", n.Line, n.Value)
	}
	if v == 0 {
		return fmt.Errorf("line %d: %q is no time at all: give a duration over 0 (like 500ms, 2s), or leave the key out for the default", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Parse reads a tenants file strictly: unknown keys are errors.
func Parse(b []byte) (*File, error) {
	var f File
	if err := strictyaml.Decode(b, &f); err != nil && !errors.Is(err, strictyaml.ErrEmpty) {
		return nil, nameTenant(b, err)
	}
	if err := f.Defaults.Auth.parse(true); err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	// env and http.allow are the tenant's own only (For): under defaults
	// they would be silently ignored, which an operator never means.
	if f.Defaults.Env != nil {
		return nil, fmt.Errorf("defaults: env is per tenant, never taken from defaults (a default secret would be shared by every tenant): move it under each tenant that needs it")
	}
	if f.Defaults.HTTP.Allow != nil {
		return nil, fmt.Errorf("defaults: http.allow is per tenant, never taken from defaults (a default host would be open to every tenant): move it under each tenant that needs it")
	}
	if f.Defaults.DeployTokens != nil {
		return nil, fmt.Errorf("defaults: deploy_tokens are per tenant, not defaults (a default token would deploy to every tenant; the operator token is DIALUA_ADMIN_TOKEN)")
	}
	names := make([]string, 0, len(f.Tenants))
	for name, c := range f.Tenants {
		if c == nil {
			f.Tenants[name] = &Config{}
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		// A tenant is a folder of the scripts root (and a release store's
		// key): a name no folder can have configures nothing.
		if !pathname.ValidSegment(name) {
			return nil, fmt.Errorf("tenant %q: not a tenant folder name (%s)", name, pathname.Rule)
		}
	}
	for name, c := range f.Tenants {
		for _, h := range c.HTTP.Allow {
			if strings.TrimSpace(h) == "" || strings.ContainsAny(h, "/ ,\t\r\n\x00") {
				return nil, fmt.Errorf("tenant %s: http.allow entry %q is not a host, *.domain or host:port", name, h)
			}
		}
		if c.Weight < 0 || c.Weight > 1000 {
			return nil, fmt.Errorf("tenant %s: weight must be between 0 and 1000", name)
		}
		if c.MaxConcurrent < 0 {
			return nil, fmt.Errorf("tenant %s: max_concurrent must not be negative", name)
		}
		if err := c.Auth.parse(false); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", name, err)
		}
		if err := parseDeployTokens(c.DeployTokens); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", name, err)
		}
	}
	return &f, nil
}

// For returns the effective configuration of a tenant: its own settings over
// the defaults. Env, the allowlist and auth credentials are the tenant's own
// only: a default secret or host would be shared by every tenant, which is
// never meant. Auth networks and trusted proxies come from the defaults
// unless the tenant lists its own.
func (f *File) For(name string) *Config {
	c := f.Defaults
	c.Env = nil
	c.HTTP.Allow = nil
	t := f.Tenants[name]
	if t == nil {
		return &c
	}
	c.Auth = mergeAuth(f.Defaults.Auth, t.Auth)
	if t.Timeout != 0 {
		c.Timeout = t.Timeout
	}
	if t.MaxConcurrent != 0 {
		c.MaxConcurrent = t.MaxConcurrent
	}
	if t.Weight != 0 {
		c.Weight = t.Weight
	}
	if t.HTTP.Timeout != 0 {
		c.HTTP.Timeout = t.HTTP.Timeout
	}
	if t.HTTP.MaxBody != 0 {
		c.HTTP.MaxBody = t.HTTP.MaxBody
	}
	if t.HTTP.CA.pool != nil {
		c.HTTP.CA = t.HTTP.CA
	}
	if t.Session.TTL != 0 {
		c.Session.TTL = t.Session.TTL
	}
	c.HTTP.Allow = t.HTTP.Allow
	c.Env = t.Env
	c.DeployTokens = t.DeployTokens
	return &c
}

// parseDeployTokens checks a tenant's deploy_tokens: hashes only.
func parseDeployTokens(list []Secret) error {
	if list != nil && len(list) == 0 {
		return fmt.Errorf("deploy_tokens: list at least one sha256: hash, or remove the key")
	}
	for i := range list {
		what := fmt.Sprintf("deploy_tokens[%d]", i)
		s := &list[i]
		if s.p == nil || !strings.HasPrefix(s.p.text, hashPrefix) {
			// The value is not echoed: it may be the token itself.
			return fmt.Errorf("%s: write the token's hash, not the token: sha256:<64 hex digits>, from printf %%s \"$TOKEN\" | sha256sum", what)
		}
		if err := s.parse(what, true); err != nil {
			return err
		}
	}
	return nil
}

// DeployTokenMatches reports whether token is one of the tenant's
// deploy_tokens. The token is hashed and compared with every hash in
// constant time.
func (c *Config) DeployTokenMatches(token string) bool {
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for _, s := range c.DeployTokens {
		want := s.SHA256()
		ok |= subtle.ConstantTimeCompare(sum[:], want[:])
	}
	return ok == 1
}

var errLine = regexp.MustCompile(`line (\d+):`)

// nameTenant prefixes a decode error inside a tenant's section with the
// tenant's name ("tenant acme: line 7: field mode not found in type
// tenant.Auth"), so an operator with hundreds of tenants finds it at once.
func nameTenant(b []byte, err error) error {
	m := errLine.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	line, _ := strconv.Atoi(m[1])
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return err
	}
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if top[i].Value != "tenants" || top[i+1].Kind != yaml.MappingNode {
			continue
		}
		ts, name := top[i+1].Content, ""
		for j := 0; j+1 < len(ts); j += 2 {
			if ts[j].Line > line {
				break
			}
			name = ts[j].Value
		}
		inside := top[i].Line < line && (i+2 >= len(top) || line < top[i+2].Line)
		if name != "" && inside {
			if msg := err.Error(); strings.Count(msg, "\n") == 1 && strings.HasPrefix(msg, "unmarshal errors:\n  ") {
				return fmt.Errorf("tenant %s: %s", name, strings.TrimPrefix(msg, "unmarshal errors:\n  "))
			}
			return fmt.Errorf("tenant %s: %w", name, err)
		}
	}
	return err
}
