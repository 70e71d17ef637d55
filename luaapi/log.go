package luaapi

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/tenant"
)

// Log budget: what one run may write to the server log through print and the
// log module. A script printing megabytes in a loop would otherwise fill
// the operator's disk in seconds.
const (
	MaxLogLine = 8 << 10  // longer messages are cut
	MaxLogRun  = 64 << 10 // past this, the run's lines are dropped
)

// Bounds of what one log call may carry.
const (
	maxLogFields   = 32
	maxLogKey      = 64   // bytes of a field name
	maxLogValue    = 1024 // bytes of a field value
	maxFieldsSlots = 4096 // array and key slots of a fields table (see openLog)
	maxCallID      = 128  // bytes of the CallID tag
)

// FieldsKey is the group that holds a script's log fields, so that no
// field can pass for one of dialua's (time, level, msg, tenant, script,
// call_id).
const FieldsKey = "fields"

// Log is the module `log`: log.debug/info/warn/error(msg [, fields]) write to
// the server's structured log, tagged with tenant, script and CallID. fields
// is a table of extra attributes (string keys; string, number or boolean
// values), written in the group "fields". The tenant's env values are
// redacted from the message and fields.
func Log() Module { return Func("log", openLog) }

func openLog(L *lua.LState, run Run) lua.LValue {
	t := L.NewTable()
	for name, level := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	} {
		t.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			run.Log().scriptLog(L, level)
			return 0
		}))
	}
	return t
}

func (r *ScriptLog) scriptLog(L *lua.LState, level slog.Level) {
	msg := L.CheckString(1)
	f, isTable := L.Get(2).(*lua.LTable)
	if isTable {
		f = sandbox.Contents(f)
	}
	if !isTable && L.Get(2) != lua.LNil {
		L.ArgError(2, "fields must be a table")
	}
	// Next walks every slot of a table, including nils and removed keys,
	// so a fields table that once held a million entries would cost a
	// million steps on every call. Real fields tables are a handful of
	// entries.
	if isTable && tableScanCost(f) > maxFieldsSlots {
		L.ArgError(2, "fields table too large (at most 32 fields)")
	}
	h := r.handler()
	write := !r.full && h.inner.Enabled(context.Background(), level)
	var fields []slog.Attr
	if isTable {
		names := map[string]bool{}
		for k, v := f.Next(lua.LNil); k != lua.LNil; k, v = f.Next(k) {
			key, ok := k.(lua.LString)
			if !ok {
				L.ArgError(2, "field names must be strings")
			}
			if len(fields) == maxLogFields {
				L.ArgError(2, "more than 32 fields")
			}
			if !write {
				fields = append(fields, slog.Attr{})
				continue
			}
			name := r.Scrub(string(key), maxLogKey)
			// Two long names can be cut to the same text; a repeated key
			// would leave a JSON reader with only one of them.
			for names[name] {
				name += "'"
			}
			names[name] = true
			fields = append(fields, slog.Attr{Key: name, Value: logValue(L, r, v)})
		}
	}
	if !write {
		return
	}
	rec := slog.NewRecord(time.Now(), level, r.Scrub(msg, MaxLogLine), 0)
	if len(fields) > 0 {
		rec.AddAttrs(slog.Attr{Key: FieldsKey, Value: slog.GroupValue(fields...)})
	}
	r.writeLog(h, rec)
}

func logValue(L *lua.LState, r *ScriptLog, v lua.LValue) slog.Value {
	switch v := v.(type) {
	case lua.LNumber:
		// JSON has no NaN or infinity; slog would write an error instead.
		if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return slog.Float64Value(f)
		}
	case lua.LBool:
		return slog.BoolValue(bool(v))
	}
	return slog.StringValue(r.Scrub(L.ToStringMeta(v).String(), maxLogValue))
}

// ScriptLog is the log for the lines a script causes (print, log.*, and
// an embedder's module through Run.Log): one per VM, reset for every run.
// It keeps the run's log budget and redacts the tenant's secrets.
type ScriptLog struct {
	base *slog.Logger
	reds *Redactors
	req  *protocol.Request
	cfg  *tenant.Config

	logged int          // bytes this run wrote to the log
	full   bool         // the budget is used up (and the warning written)
	logger *slog.Logger // Logger's, made on first use
	h      *scriptLog   // its handler
	red    *redactor    // the tenant's, found on first use
}

func (r *ScriptLog) reset(req *protocol.Request, cfg *tenant.Config) {
	r.req, r.cfg = req, cfg
	r.logged, r.full = 0, false
	r.logger, r.h, r.red = nil, nil, nil
}

// Logger returns the log for the lines a script causes (print, log.*),
// tagged with the run's tenant, script and CallID. Every line written
// through it is charged to the run's log budget at the size the log
// handler writes it, and dropped once the budget is used up; an attribute
// whose key is one of the record's own (time, level, msg, source, fields)
// or a tag (tenant, script, call_id) is moved into the group "fields", so
// nothing passed to it can replace them.
func (r *ScriptLog) Logger() *slog.Logger {
	if r.logger == nil {
		r.logger = slog.New(r.handler())
	}
	return r.logger
}

func (r *ScriptLog) handler() *scriptLog {
	if r.h == nil {
		tags := []slog.Attr{
			slog.String("tenant", r.req.Tenant),
			slog.String("script", r.req.Script),
			slog.String("call_id", Truncate(r.req.Value(protocol.ParamCallID), maxCallID)),
		}
		h := &scriptLog{log: r, inner: r.base.Handler().WithAttrs(tags)}
		for _, a := range tags {
			h.tagCost += attrLen(a, 0)
			h.tags = append(h.tags, a.Key)
		}
		r.h = h
	}
	return r.h
}

// Print writes what print() prints, as the line "script print" with the
// text in the attribute "text", within the run's log budget. It is what
// the engine's print hook should call.
func (r *ScriptLog) Print(text string) {
	if _, ok := r.Allowed(len(text)); !ok {
		return
	}
	h := r.handler()
	if !h.inner.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "script print", 0)
	rec.AddAttrs(slog.String("text", r.Scrub(text, MaxLogLine)))
	r.writeLog(h, rec)
}

// LogAllowed says whether the run may still write a line of n bytes to the
// log, and how many of them to keep (pass that to Scrub). It charges
// nothing: a line is charged when it reaches the log through Logger, at
// the size it is written with its tags and escapes, so a caller cannot
// undercount it.
func (r *ScriptLog) Allowed(n int) (keep int, ok bool) {
	if r.full {
		return 0, false
	}
	return min(n, MaxLogLine), true
}

// budgetWarning is written once, when a run's first line is refused.
const budgetWarning = "script log budget used up; its further print and log lines are dropped"

// writeLog charges rec to the run's budget and writes it. The budget keeps
// room for the warning, so what a run writes, warning included, stays
// within MaxLogRun.
func (r *ScriptLog) writeLog(h *scriptLog, rec slog.Record) {
	if r.full {
		return
	}
	warn := slog.NewRecord(time.Now(), slog.LevelWarn, budgetWarning, 0)
	warn.AddAttrs(slog.Int("budget_bytes", MaxLogRun))
	cost := h.lineLen(rec)
	if r.logged+cost+h.lineLen(warn) > MaxLogRun {
		r.full = true
		if h.inner.Enabled(context.Background(), slog.LevelWarn) {
			r.logged += h.lineLen(warn)
			h.inner.Handle(context.Background(), warn)
		}
		return
	}
	r.logged += cost
	h.inner.Handle(context.Background(), rec)
}

// scriptLog is the slog.Handler behind Run.Logger.
type scriptLog struct {
	log     *ScriptLog
	inner   slog.Handler // the server's handler with the run's tags
	tags    []string     // their keys
	tagCost int          // bytes they add to every line
	prefix  int          // bytes a text handler writes before each key for open groups
	grouped bool         // attributes go into a group, away from the reserved keys
}

func (h *scriptLog) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.log.full && h.inner.Enabled(ctx, l)
}

func (h *scriptLog) Handle(ctx context.Context, rec slog.Record) error {
	// The source would be the Go line that called the logger, of no use
	// for a script's line and of any length.
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, 0)
	var moved []slog.Attr
	rec.Attrs(func(a slog.Attr) bool {
		a.Value = a.Value.Resolve()
		// A group with an empty key is written inline, its members at the
		// top level.
		if !h.grouped && (h.reserved(a.Key) || a.Key == "") {
			moved = append(moved, a)
		} else {
			out.AddAttrs(a)
		}
		return true
	})
	if len(moved) > 0 {
		out.AddAttrs(slog.Attr{Key: FieldsKey, Value: slog.GroupValue(moved...)})
	}
	h.log.writeLog(h, out)
	return nil
}

func (h *scriptLog) reserved(key string) bool {
	switch key {
	case slog.TimeKey, slog.LevelKey, slog.MessageKey, slog.SourceKey, FieldsKey:
		return true
	}
	for _, t := range h.tags {
		if key == t {
			return true
		}
	}
	return false
}

func (h *scriptLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	c.tags = slices.Clip(h.tags) // appending must not write into h's
	for _, a := range as {
		c.tagCost += attrLen(a, h.prefix)
		if !h.grouped {
			c.tags = append(c.tags, a.Key)
		}
	}
	return &c
}

func (h *scriptLog) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.inner = h.inner.WithGroup(name)
	c.tagCost += 4 + logLen(name)
	c.prefix += len(name) + 1
	c.grouped = true
	return &c
}

// lineBase bounds what slog's JSON and text handlers write around a
// record's message and attributes: time, level, the keys, braces, newline.
// `{"time":"2006-01-02T15:04:05.999999999-07:00","level":"ERROR","msg":}`
// plus a newline is 71 bytes.
const lineBase = 96

// lineLen bounds the bytes rec takes in the log.
func (h *scriptLog) lineLen(rec slog.Record) int {
	n := lineBase + h.tagCost + logLen(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		n += attrLen(a, h.prefix)
		return true
	})
	return n
}

// attrLen bounds the bytes a is written in: a separator, its key (behind
// the group prefix a text handler writes), '=' or ':', its value.
func attrLen(a slog.Attr, prefix int) int {
	v := a.Value.Resolve()
	n := 2 + prefix + logLen(a.Key)
	switch v.Kind() {
	case slog.KindString:
		n += logLen(v.String())
	case slog.KindBool:
		n += 5
	case slog.KindFloat64:
		n += floatLen(v.Float64())
	case slog.KindInt64, slog.KindUint64, slog.KindDuration:
		n += 24
	case slog.KindTime:
		n += 40
	case slog.KindGroup:
		n += 2
		for _, g := range v.Group() {
			n += attrLen(g, prefix+len(a.Key)+1)
		}
	default:
		// Marshalled values may write more than their String form.
		n += 16 + 2*logLen(v.String())
	}
	return n
}

// floatLen is the longer of the text handler's form of f (%g, shortest)
// and the JSON handler's (encoding/json's: %f, %e for very large or small),
// or the error the JSON handler writes for what JSON cannot hold.
func floatLen(f float64) int {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 48 // "!ERROR:json: unsupported value: NaN"
	}
	var buf [32]byte
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	return max(len(strconv.AppendFloat(buf[:0], f, 'g', -1, 64)), len(strconv.AppendFloat(buf[:0], f, format, -1, 64)))
}

// logLen bounds the bytes s takes as a string in slog's JSON or text
// output: quotes, and the escapes either handler writes (JSON \u00XX for a
// control byte and \ufffd for a byte that is not UTF-8; text \xXX, \uXXXX
// or \UXXXXXXXX for what is not printable).
func logLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		size, w := charLen(s[i:])
		n += w
		i += size
	}
	return n
}

// charLen says how many bytes the character at the start of s has, and how
// many it is written in (see logLen).
func charLen(s string) (size, written int) {
	c := s[0]
	if c < utf8.RuneSelf {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			return 1, 2
		case c < 0x20 || c == 0x7f:
			return 1, 6
		}
		return 1, 1
	}
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
		return size, 6
	case !unicode.IsPrint(r):
		return size, max(size, len(strconv.QuoteRune(r))-2)
	}
	return size, size
}

// fitLog cuts s to what is written in at most n bytes (n < 0: no cut),
// marking the cut, or marking s as cut already when more is set.
func fitLog(s string, n int, more bool) string {
	if n >= 0 {
		w := 0
		for i := 0; i < len(s); {
			size, cw := charLen(s[i:])
			if w+cw > n {
				return s[:i] + truncated
			}
			w += cw
			i += size
		}
	}
	if more {
		return s + truncated
	}
	return s
}

// Scrub makes a script-supplied string safe for the log: secrets redacted
// (in their escaped forms too, see redactor) first, so a cut cannot leave
// half a secret, then cut to what the log writes in n bytes (a byte the
// log escapes counts what its escape takes). The work is bounded by n, not
// by len(s).
func (r *ScriptLog) Scrub(s string, n int) string { return r.redaction().scrub(s, n) }

// Redact replaces every value of the tenant's env in s (and its escaped
// forms) with [redacted], so a secret a script passes to print or log does
// not end up in the server log. Values shorter than 4 bytes are left alone:
// they would redact ordinary words.
func (r *ScriptLog) Redact(s string) string { return r.redaction().scrub(s, -1) }

// truncated marks a cut.
const truncated = "...[truncated]"

// Truncate cuts s to at most n bytes, at the start of a UTF-8 sequence (a
// half character would be written as an escape), marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cut(s, n) + truncated
}

func cut(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
