package luaapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/tenant"
)

func init() {
	Register(Module{Name: "env", Open: openEnv})
}

// openEnv builds `env`: read-only access to the running tenant's env values
// from the tenants file. env.NAME is the value, or nil when not set. Another
// tenant's values are never visible: the lookup goes through the run's own
// configuration.
func openEnv(L *lua.LState, run *Run) lua.LValue {
	ud := L.NewUserData()
	ud.Metatable = lockedMeta(L, L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(2)
		if v, ok := run.Tenant.Env[name]; ok {
			L.Push(lua.LString(v))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	}), "env")
	return ud
}

// redacted replaces a secret in the log.
const redacted = "[redacted]"

// redactor finds a tenant's secrets in text bound for the log: each env
// value of at least 4 bytes, and the forms a script or a backend may have
// escaped it into before logging it (Lua's %q, JSON, URL encoding).
type redactor struct {
	needles []string // every form of every secret, longest first, no repeats
	longest int
}

var noSecrets = &redactor{}

func newRedactor(env map[string]string) *redactor {
	seen := map[string]bool{}
	rd := &redactor{}
	for _, v := range env {
		if len(v) < 4 {
			continue
		}
		for _, f := range secretForms(v) {
			if !seen[f] {
				seen[f] = true
				rd.needles = append(rd.needles, f)
				rd.longest = max(rd.longest, len(f))
			}
		}
	}
	// Longest first; with every occurrence of every form removed (see
	// scrub) the order no longer decides what is left, but it keeps the
	// result the same from run to run.
	sort.Slice(rd.needles, func(i, j int) bool {
		a, b := rd.needles[i], rd.needles[j]
		return len(a) > len(b) || len(a) == len(b) && a < b
	})
	return rd
}

// maxRedactors bounds the cache of redactors (one per tenant configuration
// in use); past it the cache starts over.
const maxRedactors = 4096

// redaction is the run's tenant's redactor, built once per configuration
// and shared by every VM.
func (r *Run) redaction() *redactor {
	if r.red != nil {
		return r.red
	}
	switch {
	case r.Tenant == nil || len(r.Tenant.Env) == 0:
		r.red = noSecrets
	case r.Svc == nil:
		r.red = newRedactor(r.Tenant.Env)
	default:
		r.red = r.Svc.redactorFor(r.Tenant)
	}
	return r.red
}

func (s *Services) redactorFor(cfg *tenant.Config) *redactor {
	if rd, ok := s.redactors.Load(cfg); ok {
		return rd.(*redactor)
	}
	rd := newRedactor(cfg.Env)
	if s.nRedactors.Add(1) > maxRedactors {
		// Old configurations (replaced by a reload) are never asked for
		// again; dropping everything now and then is simpler than
		// tracking which are.
		s.redactors.Clear()
		s.nRedactors.Store(1)
	}
	s.redactors.Store(cfg, rd)
	return rd
}

// scrub redacts every secret in s and cuts the result to n bytes (n < 0:
// no cut). Every occurrence of every form is found, overlapping ones
// included, and each run of covered bytes becomes one [redacted], so no
// part of any secret is left, whichever secrets overlap.
//
// Only the first n+longest bytes of s are read: with a cut to come, what
// follows cannot reach the result, except through a secret that starts
// before the cut and ends after it, which the extra bytes contain whole.
// The last longest-1 bytes read could begin a secret that goes on past
// them, so they are dropped.
func (rd *redactor) scrub(s string, n int) string {
	short := n < 0 || len(s) <= n
	if len(rd.needles) == 0 {
		if short {
			return s
		}
		return Truncate(s, n)
	}
	end := len(s)
	more := false
	if n >= 0 && len(s) > n+rd.longest {
		s, more = s[:n+rd.longest], true
		end = len(s) - (rd.longest - 1)
	}
	var spans [][2]int
	for _, nd := range rd.needles {
		for i := 0; i < len(s); {
			j := strings.Index(s[i:], nd)
			if j < 0 {
				break
			}
			lo, hi := i+j, i+j+len(nd)
			if k := len(spans) - 1; k >= 0 && spans[k][1] >= lo && spans[k][0] <= lo {
				spans[k][1] = max(spans[k][1], hi) // overlaps the last match of this form
			} else {
				spans = append(spans, [2]int{lo, hi})
			}
			i = lo + 1
		}
	}
	if len(spans) == 0 && !more {
		if short {
			return s
		}
		return Truncate(s, n)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	merged := spans[:0]
	for _, sp := range spans {
		if k := len(merged) - 1; k >= 0 && sp[0] <= merged[k][1] {
			merged[k][1] = max(merged[k][1], sp[1])
		} else {
			merged = append(merged, sp)
		}
	}
	var b strings.Builder
	at := 0
	for _, sp := range merged {
		if sp[0] >= end {
			break
		}
		b.WriteString(s[at:sp[0]])
		b.WriteString(redacted)
		at = sp[1]
	}
	if at < end {
		b.WriteString(s[at:end])
	}
	out := b.String()
	if n >= 0 && len(out) > n {
		return Truncate(out, n)
	}
	if more {
		return out + truncated
	}
	return out
}

// secretForms lists v and the forms it takes once escaped: inside Lua's %q,
// in JSON (as json.encode writes it, as Go's json.Marshal and encoders that
// escape non-ASCII or '/' write it), and URL-encoded (query and path
// escaping, space as + or %20, hex digits in either case).
func secretForms(v string) []string {
	forms := []string{v, luaQuoted(v)}
	for _, j := range jsonForms(v) {
		forms = append(forms, j, strings.ReplaceAll(j, "/", `\/`))
	}
	for _, u := range []string{url.QueryEscape(v), url.PathEscape(v), uriComponent(v)} {
		forms = append(forms, u, lowerHex(u))
		if sp := strings.ReplaceAll(u, "+", "%20"); sp != u {
			forms = append(forms, sp, lowerHex(sp))
		}
	}
	return forms
}

// luaQuoted is the inside of string.format("%q", s) (the sandbox's, which
// is Lua 5.1's).
func luaQuoted(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// jsonForms is the inside of s as a JSON string: json.encode's form (HTML
// characters kept), json.Marshal's (escaped as \u003c), and both with every
// non-ASCII character as \uXXXX in lower and upper case hex.
func jsonForms(s string) []string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	plain := strings.TrimSuffix(strings.TrimSpace(b.String()), `"`)[1:]
	marshalled, _ := json.Marshal(s)
	html := string(marshalled[1 : len(marshalled)-1])
	out := []string{plain, html}
	for _, f := range []string{plain, html} {
		out = append(out, asciiJSON(f, "%04x"), asciiJSON(f, "%04X"))
	}
	return out
}

// asciiJSON rewrites the non-ASCII characters of a JSON string's inside as
// \uXXXX escapes (surrogate pairs beyond U+FFFF).
func asciiJSON(s, hexFormat string) string {
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf {
			b.WriteRune(r)
			continue
		}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u`+hexFormat+`\u`+hexFormat, r1, r2)
			continue
		}
		fmt.Fprintf(&b, `\u`+hexFormat, r)
	}
	return b.String()
}

// uriComponent is JavaScript's encodeURIComponent: like QueryEscape, but
// !'()* kept and space as %20.
func uriComponent(s string) string {
	q := strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	return strings.NewReplacer("%21", "!", "%27", "'", "%28", "(", "%29", ")", "%2A", "*").Replace(q)
}

// lowerHex writes the hex digits of every %XX escape in lower case.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for k := i + 1; k <= i+2; k++ {
				if b[k] >= 'A' && b[k] <= 'F' {
					b[k] += 'a' - 'A'
				}
			}
			i += 2
		}
	}
	return string(b)
}
