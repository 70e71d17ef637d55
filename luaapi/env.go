package luaapi

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/tenant"
)

// Env is the module `env`: read-only access to the running tenant's env values
// from the tenants file. env.NAME is the value, or nil when not set. Another
// tenant's values are never visible: the lookup goes through the run's own
// configuration.
func Env() Module { return Func("env", openEnv) }

func openEnv(L *lua.LState, run Run) lua.LValue {
	ud := L.NewUserData()
	ud.Metatable = lockedMeta(L, L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(2)
		if v, ok := run.Tenant().Env[name]; ok {
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

// redactor finds a tenant's secrets (each env value of at least 4 bytes) in
// text bound for the log, as they are and in the escaped forms a script or
// a backend may have put them in before logging: Lua's %q, JSON (with any
// choice of characters escaped as \uXXXX, in either case), URL encoding
// (query or path escaping, %XX in either case, space as + or %20). Rather
// than listing every spelling of every secret, scrub decodes the text
// those ways and looks for the plain secrets in each decoding.
type redactor struct {
	secrets []string // longest first, no repeats
	longest int      // bytes of the longest secret in its longest escaped form
	space   bool     // a secret has a space, so + in a URL may stand for one
}

var noSecrets = &redactor{}

// maxEscape is how many bytes one byte of a secret can take escaped: a
// control byte is \u00XX in JSON.
const maxEscape = 6

func newRedactor(env map[string]string) *redactor {
	seen := map[string]bool{}
	rd := &redactor{}
	for _, v := range env {
		if len(v) < 4 || seen[v] {
			continue
		}
		seen[v] = true
		rd.secrets = append(rd.secrets, v)
		rd.longest = max(rd.longest, maxEscape*len(v))
		rd.space = rd.space || strings.Contains(v, " ")
	}
	// Longest first. With every occurrence of every secret removed (see
	// scrub) the order does not decide what is left, but it keeps the
	// work the same from run to run.
	sort.Slice(rd.secrets, func(i, j int) bool {
		a, b := rd.secrets[i], rd.secrets[j]
		return len(a) > len(b) || len(a) == len(b) && a < b
	})
	return rd
}

// maxRedactors bounds the cache of redactors (one per tenant configuration
// in use); past it the cache starts over.
const maxRedactors = 4096

// redaction is the run's tenant's redactor, built once per configuration
// and shared by every VM.
func (r *ScriptLog) redaction() *redactor {
	if r.red != nil {
		return r.red
	}
	switch {
	case r.cfg == nil || len(r.cfg.Env) == 0:
		r.red = noSecrets
	case r.reds == nil:
		r.red = newRedactor(r.cfg.Env)
	default:
		r.red = r.reds.get(r.cfg)
	}
	return r.red
}

// Redactors keeps each tenant configuration's redactor, keyed by the
// *tenant.Config, which stays the same for a tenant until the tenants file
// changes, so the VMs of an engine build it once. Its zero value is ready.
type Redactors struct {
	m sync.Map
	n atomic.Int64
}

func (s *Redactors) get(cfg *tenant.Config) *redactor {
	if rd, ok := s.m.Load(cfg); ok {
		return rd.(*redactor)
	}
	rd := newRedactor(cfg.Env)
	if s.n.Add(1) > maxRedactors {
		// Old configurations (replaced by a reload) are never asked for
		// again; dropping everything now and then is simpler than
		// tracking which are.
		s.m.Clear()
		s.n.Store(1)
	}
	s.m.Store(cfg, rd)
	return rd
}

// scrub redacts every secret in s and cuts the result to what takes at
// most n bytes in the log (n < 0: no cut). Every occurrence of every
// secret in every decoding is found, overlapping ones included, and each
// run of covered bytes of s becomes one [redacted], so no part of any
// secret is left, whichever secrets overlap.
//
// Only the first n+longest bytes of s are read: with a cut to come, what
// follows cannot reach the result, except through a secret that starts
// before the cut and ends after it, which the extra bytes contain whole.
// The last longest-1 bytes read could begin a secret that goes on past
// them, so they are dropped.
func (rd *redactor) scrub(s string, n int) string {
	if len(rd.secrets) == 0 {
		return fitLog(s, n, false)
	}
	end, more := len(s), false
	if n >= 0 && len(s) > n+rd.longest {
		s, more = s[:n+rd.longest], true
		end = len(s) - (rd.longest - 1)
	}
	var spans []span
	for _, v := range rd.secrets {
		spans = findAll(spans, s, v, nil)
	}
	if strings.IndexByte(s, '\\') >= 0 {
		d := unescapeBackslash(s)
		for _, v := range rd.secrets {
			spans = findAll(spans, string(d.text), v, d)
		}
	}
	if strings.IndexByte(s, '%') >= 0 || rd.space && strings.IndexByte(s, '+') >= 0 {
		for _, plus := range []bool{false, true} {
			if plus && !rd.space {
				break
			}
			d := unescapePercent(s, plus)
			for _, v := range rd.secrets {
				spans = findAll(spans, string(d.text), v, d)
			}
		}
	}
	if len(spans) == 0 {
		return fitLog(s[:end], n, more)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	var b strings.Builder
	at := 0
	for i := 0; i < len(spans); {
		lo, hi := spans[i].lo, spans[i].hi
		for i++; i < len(spans) && spans[i].lo <= hi; i++ {
			hi = max(hi, spans[i].hi) // overlapping or adjacent: one [redacted]
		}
		if lo >= end {
			break
		}
		b.WriteString(s[at:lo])
		b.WriteString(redacted)
		at = hi
	}
	if at < end {
		b.WriteString(s[at:end])
	}
	return fitLog(b.String(), n, more)
}

// span is a run of bytes of the scrubbed text, [lo, hi).
type span struct{ lo, hi int }

// findAll appends where v occurs in text (overlaps included), in the
// bytes of the original that d maps text back to (nil: text is the
// original).
func findAll(spans []span, text, v string, d *decoded) []span {
	for i := 0; i < len(text); {
		j := strings.Index(text[i:], v)
		if j < 0 {
			break
		}
		lo, hi := i+j, i+j+len(v)
		if d != nil {
			lo, hi = d.from[lo], d.to[hi-1]
		}
		if k := len(spans) - 1; k >= 0 && spans[k].lo <= lo && lo <= spans[k].hi {
			spans[k].hi = max(spans[k].hi, hi) // extends the match before
		} else {
			spans = append(spans, span{lo, hi})
		}
		i += j + 1
	}
	return spans
}

// decoded is a decoding of a text: text[i] came from original[from[i]:to[i]].
type decoded struct {
	text     []byte
	from, to []int
}

func (d *decoded) add(c byte, from, to int) {
	d.text = append(d.text, c)
	d.from = append(d.from, from)
	d.to = append(d.to, to)
}

// unescapeBackslash undoes the backslash escapes of JSON (\" \\ \/ \b \f
// \n \r \t \uXXXX, surrogate pairs) and of Lua strings (\a \v \ddd,
// backslash-newline, as %q writes them). Anything else is kept as it is.
func unescapeBackslash(s string) *decoded {
	d := &decoded{}
	for i := 0; i < len(s); {
		if s[i] != '\\' || i+1 == len(s) {
			d.add(s[i], i, i+1)
			i++
			continue
		}
		c := s[i+1]
		if e := strings.IndexByte(`"\\/'`+"\n", c); e >= 0 {
			d.add(c, i, i+2)
			i += 2
			continue
		}
		if e := strings.IndexByte("abfnrtv", c); e >= 0 {
			d.add("\a\b\f\n\r\t\v"[e], i, i+2)
			i += 2
			continue
		}
		if c >= '0' && c <= '9' {
			v, k := 0, i+1
			for ; k < len(s) && k < i+4 && s[k] >= '0' && s[k] <= '9'; k++ {
				v = v*10 + int(s[k]-'0')
			}
			if v <= 255 {
				d.add(byte(v), i, k)
				i = k
				continue
			}
		}
		if c == 'u' {
			if r, ok := hex4(s, i+2); ok {
				k := i + 6
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(s, i+8); ok && s[i+6] == '\\' && s[i+7] == 'u' {
						r, k = utf16.DecodeRune(r, r2), i+12
					}
				}
				var buf [utf8.UTFMax]byte
				for _, b := range buf[:utf8.EncodeRune(buf[:], r)] {
					d.add(b, i, k)
				}
				i = k
				continue
			}
		}
		d.add('\\', i, i+1)
		i++
	}
	return d
}

// hex4 reads the four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i < 0 || i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		h, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	return r, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescapePercent undoes URL escaping: %XX in either case, and + as a
// space when plus is set (query strings and forms).
func unescapePercent(s string, plus bool) *decoded {
	d := &decoded{}
	for i := 0; i < len(s); {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				d.add(hi<<4|lo, i, i+3)
				i += 3
				continue
			}
		}
		if plus && s[i] == '+' {
			d.add(' ', i, i+1)
		} else {
			d.add(s[i], i, i+1)
		}
		i++
	}
	return d
}
