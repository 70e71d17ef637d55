package protocol

import (
	"strconv"
	"unicode/utf8"
)

// Header opens every response; Footer closes it. A response with no verbs is
// Header followed by Footer: "<Response></Response>", which tells the IVR to
// carry on.
const (
	Header      = `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Response>"
	Footer      = "</Response>\n"
	ContentType = "text/xml; charset=utf-8"
)

// Empty is the complete empty response.
const Empty = Header + Footer

// AppendVerb appends the XML element of v to b. It does not validate v; call
// Check first where the verb comes from untrusted input.
func AppendVerb(b []byte, v *Verb) []byte {
	b = append(b, '<')
	b = append(b, v.Kind...)
	switch v.Kind {
	case Hangup:
		return append(b, "/>"...)
	case Pause:
		b = appendIntAttr(b, "length", v.Length)
		return append(b, "/>"...)
	case SetVar:
		b = appendAttr(b, "name", v.Name)
	case PlaySound:
		b = appendOptAttr(b, "language", v.Language)
		if v.Loop > 0 {
			b = appendIntAttr(b, "loop", v.Loop)
		}
		b = appendOptAttr(b, "view", v.View)
		b = appendOptAttr(b, "folder", v.Folder)
		b = appendOptAttr(b, "where", v.Where)
		b = appendOptAttr(b, "digitvar", v.DigitVar)
	case Jump:
		b = appendAttr(b, "context", v.Context)
		b = appendAttr(b, "option", v.Option)
		if v.Priority > 0 {
			b = appendIntAttr(b, "priority", v.Priority)
		}
		return append(b, "/>"...)
	case SetCaller:
		b = appendAttr(b, "name", v.Name)
		b = appendAttr(b, "number", v.Number)
		return append(b, "/>"...)
	case PlayTTS:
		b = appendAttr(b, "voice", v.Voice)
		if v.Volume > 0 {
			b = appendIntAttr(b, "volume", v.Volume)
		}
	}
	b = append(b, '>')
	b = AppendEscaped(b, v.Text, false)
	b = append(b, "</"...)
	b = append(b, v.Kind...)
	return append(b, '>')
}

// Encode renders a whole response document.
func Encode(verbs []Verb) []byte {
	b := append([]byte(nil), Header...)
	for i := range verbs {
		b = AppendVerb(b, &verbs[i])
	}
	return append(b, Footer...)
}

func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = AppendEscaped(b, value, true)
	return append(b, '"')
}

func appendOptAttr(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	return appendAttr(b, name, value)
}

func appendIntAttr(b []byte, name string, n int) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '"')
}

// AppendEscaped appends s as XML character data. Markup characters become
// entities; characters XML 1.0 cannot carry (other control characters, invalid
// UTF-8) become U+FFFD so the document stays well-formed whatever a script
// passes. CR is always a character reference, as a parser would turn a raw
// one into LF; in attributes tab and LF are references too, so
// attribute-value normalisation does not turn them into spaces.
func AppendEscaped(b []byte, s string, attr bool) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			var esc string
			switch {
			case c == '&':
				esc = "&amp;"
			case c == '<':
				esc = "&lt;"
			case c == '>':
				esc = "&gt;"
			case c == '"' && attr:
				esc = "&quot;"
			case c == '\r':
				// A raw CR is line-end normalised to LF by every XML
				// parser, in text as in attributes.
				esc = "&#13;"
			case c == '\t' || c == '\n':
				if !attr {
					i++
					continue
				}
				esc = [...]string{'\t': "&#9;", '\n': "&#10;"}[c]
			case c < 0x20 || c == 0x7f:
				esc = "\uFFFD"
			default:
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, esc...)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
