package sandbox

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// strFormat is string.format with Lua 5.1's rules: flags "-+ #0", width and
// precision of at most two digits each (so no single conversion can ask for
// megabytes of padding), conversions c d i o u x X e E f g G q s. gopher-lua
// hands the format string to Go's fmt unchecked, which accepts widths of any
// size and Go-only verbs. %s takes any value and converts it like tostring.
func (vm *VM) strFormat(L *lua.LState) int {
	f := L.CheckString(1)
	arg := 1
	var out []byte
	var spec [16]byte
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(f) {
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		if f[i] == '%' {
			out = append(out, '%')
			continue
		}
		// %[flags][width][.precision]conv
		sp := append(spec[:0], '%')
		start := i
		for i < len(f) && (f[i] == '-' || f[i] == '+' || f[i] == ' ' || f[i] == '#' || f[i] == '0') {
			i++
		}
		if i-start > 5 {
			L.RaiseError("invalid format (repeated flags)")
		}
		digits := 0
		for i < len(f) && f[i] >= '0' && f[i] <= '9' {
			i++
			digits++
		}
		hasPrec := false
		if i < len(f) && f[i] == '.' {
			hasPrec = true
			i++
			pd := 0
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
				pd++
			}
			if pd > 2 {
				digits = 3
			}
		}
		if digits > 2 {
			L.RaiseError("invalid format (width or precision too long)")
		}
		if i >= len(f) {
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		flags := f[start : start+flagLen(f[start:])]
		sp = append(sp, f[start:i]...)
		width, prec := widthPrec(f[start+len(flags) : i])
		left := strings.IndexByte(flags, '-') >= 0
		conv := f[i]
		arg++
		switch conv {
		case 'c':
			n := L.CheckNumber(arg)
			out = pad(out, string([]byte{byte(int64(n))}), width, left)
		case 'd', 'i':
			n := L.CheckNumber(arg)
			sp = append(sp, 'd')
			out = fmt.Appendf(out, string(sp), toInt(n))
		case 'o', 'u', 'x', 'X':
			n := uint64(toInt(L.CheckNumber(arg)))
			v := conv
			if v == 'u' {
				v = 'd'
			}
			// C ignores + and space for unsigned conversions, and # of 0
			// prints a plain 0; Go does neither.
			unsigned := strings.NewReplacer("+", "", " ", "").Replace(string(sp))
			if n == 0 {
				unsigned = strings.ReplaceAll(unsigned, "#", "")
			}
			out = fmt.Appendf(out, unsigned+string(v), n)
		case 'e', 'E', 'f', 'g', 'G':
			n := float64(L.CheckNumber(arg))
			if !hasPrec && (conv == 'g' || conv == 'G') {
				sp = append(sp, ".6"...)
			}
			sp = append(sp, conv)
			if math.IsInf(n, 0) || math.IsNaN(n) {
				out = pad(out, nonFinite(n, flags, conv), width, left)
			} else {
				out = fmt.Appendf(out, string(sp), n)
			}
		case 'q':
			out = appendQuoted(out, L.CheckString(arg))
		case 's':
			if arg > L.GetTop() {
				L.ArgError(arg, "no value")
			}
			s := L.ToStringMeta(L.Get(arg)).String()
			// Width and precision count bytes, as in C (Go's fmt counts runes).
			if prec >= 0 && prec < len(s) {
				s = s[:prec]
			}
			out = pad(out, s, width, left)
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", conv)
		}
		vm.checkLen(L, len(out))
	}
	vm.checkLen(L, len(out))
	vm.made(L, len(out))
	L.Push(lua.LString(out))
	return 1
}

// toInt truncates like a C cast of a double, without Go's undefined results
// for values outside int64.
func toInt(n lua.LNumber) int64 {
	f := float64(n)
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', '\n')
		case '\r':
			b = append(b, `\r`...)
		case 0:
			b = append(b, `\000`...)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func flagLen(s string) int {
	n := 0
	for n < len(s) && strings.IndexByte("-+ #0", s[n]) >= 0 {
		n++
	}
	return n
}

// widthPrec reads "12.3" (either part optional); -1 means not given.
func widthPrec(s string) (width, prec int) {
	width, prec = -1, -1
	w, p, hasDot := strings.Cut(s, ".")
	if w != "" {
		width, _ = strconv.Atoi(w)
	}
	if hasDot {
		prec, _ = strconv.Atoi(p) // "%.s" is precision 0
	}
	return width, prec
}

// pad right-aligns s in width bytes (left-aligns with the - flag), spaces
// only, as C does for %s and %c.
func pad(out []byte, s string, width int, left bool) []byte {
	fill := width - len(s)
	if !left {
		for ; fill > 0; fill-- {
			out = append(out, ' ')
		}
	}
	out = append(out, s...)
	for ; fill > 0; fill-- {
		out = append(out, ' ')
	}
	return out
}

// nonFinite spells infinities and NaN the way C's printf does.
func nonFinite(n float64, flags string, conv byte) string {
	s := "inf"
	if math.IsNaN(n) {
		s = "nan"
	}
	switch {
	case math.Signbit(n):
		s = "-" + s
	case strings.IndexByte(flags, '+') >= 0:
		s = "+" + s
	case strings.IndexByte(flags, ' ') >= 0:
		s = " " + s
	}
	if conv == 'E' || conv == 'G' {
		s = strings.ToUpper(s)
	}
	return s
}
