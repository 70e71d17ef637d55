package protocol

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DecodeError says why a response body is not a valid Call Interactive
// response. It carries the body so whoever reports it can show what the
// server actually sent.
type DecodeError struct {
	Reason string
	Body   []byte
}

func (e *DecodeError) Error() string {
	return "invalid Call Interactive response: " + e.Reason
}

// Decode parses a response body strictly: an empty (or all-whitespace) body is
// an empty response; otherwise the document must be well-formed XML whose root
// is <Response> holding only the seven verbs, each with only its own
// attributes, required attributes present, numbers numeric and every verb
// passing Check. Nothing is guessed: the first problem is returned.
//
// A UTF-8 byte-order mark before the document is allowed, as XML allows it
// (PHP files saved on Windows send one).
func Decode(body []byte) (*Response, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(body)) == 0 {
		return &Response{}, nil
	}
	fail := func(format string, args ...any) (*Response, error) {
		return nil, &DecodeError{Reason: fmt.Sprintf(format, args...), Body: body}
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("unsupported encoding %q (responses are UTF-8)", charset)
	}

	resp := &Response{Verbs: []Verb{}}
	depth := 0
	var cur *Verb
	var text strings.Builder
	sawRoot := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if sawRoot {
					return fail("more than one root element")
				}
				sawRoot = true
				if t.Name.Local != "Response" {
					return fail("root element is <%s>, want <Response>", t.Name.Local)
				}
				if len(t.Attr) > 0 {
					return fail("<Response> takes no attributes, got %s", t.Attr[0].Name.Local)
				}
			case 2:
				v, err := verbFromElement(t)
				if err != nil {
					return fail("%v", err)
				}
				resp.Verbs = append(resp.Verbs, v)
				cur = &resp.Verbs[len(resp.Verbs)-1]
				text.Reset()
			default:
				return fail("<%s> inside a verb: verbs hold text only", t.Name.Local)
			}
		case xml.EndElement:
			if depth == 2 && cur != nil {
				if err := finishVerb(cur, text.String()); err != nil {
					return fail("%v", err)
				}
				cur = nil
			}
			depth--
		case xml.CharData:
			switch depth {
			case 2:
				text.Write(t)
			default:
				if len(bytes.TrimSpace(t)) > 0 {
					return fail("text %q outside a verb", string(bytes.TrimSpace(t)))
				}
			}
		case xml.Directive:
			return fail("directive <!%s> not allowed", string(t))
		case xml.ProcInst, xml.Comment:
		}
	}
	if !sawRoot {
		return fail("no <Response> element")
	}
	return resp, nil
}

// attrs lists the attributes each verb accepts; anything else is an error.
var attrs = map[Kind][]string{
	Hangup:    {},
	Pause:     {"length"},
	SetVar:    {"name"},
	PlaySound: {"language", "loop", "view", "folder", "where", "digitvar"},
	Jump:      {"context", "option", "priority"},
	SetCaller: {"name", "number"},
	PlayTTS:   {"voice", "volume"},
}

func verbFromElement(t xml.StartElement) (Verb, error) {
	kind := Kind(t.Name.Local)
	allowed, ok := attrs[kind]
	if !ok {
		return Verb{}, fmt.Errorf("unknown verb <%s>", t.Name.Local)
	}
	v := Verb{Kind: kind}
	seen := map[string]bool{}
	for _, a := range t.Attr {
		name := a.Name.Local
		if a.Name.Space != "" || !contains(allowed, name) {
			return v, fmt.Errorf("<%s> has unknown attribute %q", kind, name)
		}
		seen[name] = true
		var err error
		switch kind + ":" + Kind(name) {
		case "Pause:length":
			v.Length, err = number(kind, name, a.Value)
		case "SetVar:name", "SetCaller:name":
			v.Name = a.Value
		case "SetCaller:number":
			v.Number = a.Value
		case "PlaySound:language":
			v.Language = a.Value
		case "PlaySound:loop":
			v.Loop, err = number(kind, name, a.Value)
		case "PlaySound:view":
			v.View = a.Value
		case "PlaySound:folder":
			v.Folder = a.Value
		case "PlaySound:where":
			v.Where = a.Value
		case "PlaySound:digitvar":
			v.DigitVar = a.Value
		case "Jump:context":
			v.Context = a.Value
		case "Jump:option":
			v.Option = a.Value
		case "Jump:priority":
			v.Priority, err = number(kind, name, a.Value)
		case "PlayTTS:voice":
			v.Voice = a.Value
		case "PlayTTS:volume":
			v.Volume, err = number(kind, name, a.Value)
		}
		if err != nil {
			return v, err
		}
	}
	switch kind {
	case Pause:
		if !seen["length"] {
			v.Length = DefaultPauseLength
		}
	case SetVar:
		if !seen["name"] {
			return v, fmt.Errorf("<SetVar> without a name attribute")
		}
	case SetCaller:
		if !seen["name"] || !seen["number"] {
			return v, fmt.Errorf("<SetCaller> needs both name and number attributes")
		}
	case Jump:
		if !seen["context"] || !seen["option"] {
			return v, fmt.Errorf("<Jump> needs context and option attributes")
		}
	}
	return v, nil
}

func finishVerb(v *Verb, text string) error {
	switch v.Kind {
	case SetVar, PlaySound, PlayTTS:
		v.Text = text
		if v.Kind != SetVar {
			v.Text = strings.TrimSpace(text)
		}
	default:
		if strings.TrimSpace(text) != "" {
			return fmt.Errorf("<%s> takes no text, got %q", v.Kind, strings.TrimSpace(text))
		}
	}
	return v.Check()
}

func number(kind Kind, attr, s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("<%s %s=%q>: not a whole number", kind, attr, s)
	}
	if n < 1 {
		return 0, fmt.Errorf("<%s %s=%q>: must be at least 1", kind, attr, s)
	}
	return n, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
