package devconsole

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LogLine is one record the server logged for a call: a script's log or
// print line, its error (with the source line it points at), the access
// log line of the request.
type LogLine struct {
	Level    string            `json:"level"`
	Msg      string            `json:"msg"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Location string            `json:"location,omitempty"` // file:line, for errors
	Source   string            `json:"source,omitempty"`   // that line of the file
}

// LogHandler returns a slog handler that passes every record on to next
// and also gives the page the records of its calls (those whose call_id is
// a call placed from the page). The server's engine logs through it.
func (c *Console) LogHandler(next slog.Handler) slog.Handler {
	return &teeHandler{next: next, c: c}
}

type teeHandler struct {
	next   slog.Handler
	c      *Console
	attrs  []slog.Attr // from WithAttrs, names already prefixed by groups
	prefix string      // from WithGroup
}

// Enabled is true from Info on whatever next says: the page wants a
// script's info lines even when the terminal keeps only warnings.
func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r.Clone())
	}
	if h.c.calls.empty() {
		return err
	}
	attrs := map[string]string{}
	for _, a := range h.attrs {
		flatten(attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		flatten(attrs, h.prefix, a)
		return len(attrs) < 64
	})
	lc := h.c.calls.byCall(attrs["call_id"])
	if lc == nil {
		return err
	}
	line := &LogLine{Level: r.Level.String(), Msg: r.Message, Attrs: attrs}
	if loc := attrs["location"]; loc != "" {
		line.Location = loc
		line.Source = h.c.sourceLine(loc)
	}
	lc.add(Event{Type: "log", Log: line})
	return err
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.next = h.next.WithAttrs(as)
	n.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		if h.prefix != "" {
			a.Key = h.prefix + a.Key
		}
		n.attrs = append(n.attrs, a)
	}
	return &n
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.next = h.next.WithGroup(name)
	n.prefix = h.prefix + name + "."
	return &n
}

// flatten writes an attribute as name=text, a group's members as
// group.name=text.
func flatten(dst map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, m := range v.Group() {
			flatten(dst, p, m)
		}
		return
	}
	if a.Key == "" {
		return
	}
	s := v.String()
	if len(s) > 4096 {
		s = s[:4096] + "..."
	}
	dst[prefix+a.Key] = s
}

// sourceLine reads the line an error location (tenant/file.lua:12) points
// at, from the scripts folder and nowhere else.
func (c *Console) sourceLine(loc string) string {
	if c.cfg.ScriptsDir == "" {
		return ""
	}
	i := strings.LastIndexByte(loc, ':')
	if i < 0 {
		return ""
	}
	n, err := strconv.Atoi(loc[i+1:])
	file := filepath.FromSlash(loc[:i])
	if err != nil || n < 1 || !filepath.IsLocal(file) {
		return ""
	}
	root, err := os.OpenRoot(c.cfg.ScriptsDir)
	if err != nil {
		return ""
	}
	defer root.Close()
	f, err := root.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 4<<20))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for i := 1; sc.Scan(); i++ {
		if i == n {
			return fmt.Sprintf("%d | %s", n, strings.TrimRight(sc.Text(), "\r"))
		}
	}
	return ""
}
