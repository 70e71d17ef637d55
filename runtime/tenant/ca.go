package tenant

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxCABytes bounds http.ca: a bundle of a few certificates, not a dump.
const maxCABytes = 256 << 10

// CA is a tenant's http.ca: PEM certificates (written in the tenants file,
// usually as a YAML block scalar) that the http module trusts for this
// tenant's calls, on top of the system's roots, so a customer's API with a
// self-signed or private-CA certificate can be called without switching
// certificate checks off (dialua has no switch for that). The zero CA
// trusts the system's roots only.
type CA struct {
	pool *x509.CertPool
	key  string // hash of the PEM text: tells pools of different CAs apart
}

func (c *CA) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: http.ca is PEM text (-----BEGIN CERTIFICATE----- ...), best as a block: ca: |", n.Line)
	}
	text := n.Value
	if len(text) > maxCABytes {
		return fmt.Errorf("line %d: http.ca is larger than %d KiB", n.Line, maxCABytes>>10)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool() // no system roots here: the tenant's only
	}
	rest, count := []byte(text), 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		count++
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("line %d: http.ca block %d is a %q, not a CERTIFICATE (never put a private key here)", n.Line, count, b.Type)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("line %d: http.ca certificate %d does not parse: %v", n.Line, count, err)
		}
		pool.AddCert(cert)
	}
	if count == 0 || strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("line %d: http.ca holds no PEM certificate, or text that is not one (start each with -----BEGIN CERTIFICATE-----)", n.Line)
	}
	sum := sha256.Sum256([]byte(text))
	c.pool, c.key = pool, hex.EncodeToString(sum[:8])
	return nil
}

// Pool is the roots to verify servers with; nil: the system's.
func (c CA) Pool() *x509.CertPool { return c.pool }

// Key tells CAs apart ("" for none): connections made trusting one CA are
// never reused for a call that trusts another.
func (c CA) Key() string { return c.key }
