// Package strictyaml is the one place dialua decodes YAML written by people
// (the tenants file, IVR definitions, scenario files): unknown keys are
// errors, so a misspelt setting is reported instead of silently ignored, and
// messages lose the library's "yaml: " prefix and are said in words: the
// key and the line, never a Go type ("line 4: timeout: \"fast\" is not a
// duration", "line 7: unknown key \"mode\" in auth"). It imports nothing of
// dialua.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrEmpty: the document holds nothing (an empty file or only comments).
var ErrEmpty = errors.New("empty document")

// Decode decodes b into dst strictly.
func Decode(b []byte, dst any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return ErrEmpty
		}
		var doc yaml.Node
		if yaml.Unmarshal(b, &doc) != nil {
			return syntax(b, clean(err))
		}
		return explain(&doc, clean(err))
	}
	return nil
}

// DecodeNode decodes one node of a document strictly, for a type's own
// UnmarshalYAML: yaml.Node.Decode ignores unknown keys, so they are looked
// for first, against dst's type; line numbers stay the document's.
func DecodeNode(n *yaml.Node, dst any) error {
	if err := knownKeys(n, reflect.TypeOf(dst), ""); err != nil {
		return err
	}
	if err := n.Decode(dst); err != nil {
		return explain(n, clean(err))
	}
	return nil
}

var unmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// knownKeys reports the first mapping key in n that t has no field for,
// with its line and the key of the mapping it is in. Types that read
// themselves (yaml.Unmarshaler) check their own keys.
func knownKeys(n *yaml.Node, t reflect.Type, parent string) error {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(unmarshaler) {
			return nil
		}
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // a type error: Decode says it
		}
		fields := map[string]reflect.Type{}
		structFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				if parent != "" {
					return fmt.Errorf("line %d: unknown key %q in %s", k.Line, k.Value, parent)
				}
				return fmt.Errorf("line %d: unknown key %q", k.Line, k.Value)
			}
			if err := knownKeys(v, ft, k.Value); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				if err := knownKeys(c, t.Elem(), parent); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				if err := knownKeys(n.Content[i], t.Elem(), n.Content[i-1].Value); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// structFields lists the keys yaml reads into t's fields: the tag's name,
// else the field's name in lower case; inline fields' keys are t's own.
func structFields(t reflect.Type, into map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			structFields(f.Type, into)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		into[name] = f.Type
	}
}

// syntax adds what to do to the parser's messages for the mistakes people
// make most: a bare * or # (an alias and a comment to YAML, a key to us), a
// URL with ? or : inside {...}, a tab. The parser sometimes names the line
// before the one at fault, so both are looked at.
func syntax(b []byte, err error) error {
	m := lineRe.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	n, _ := strconv.Atoi(m[1])
	src := strings.Split(string(b), "\n")
	at := func(i int) string {
		if i >= 1 && i <= len(src) {
			return strings.TrimSpace(src[i-1])
		}
		return ""
	}
	msg := m[2]
	switch {
	case strings.Contains(msg, "did not find expected alphabetic or numeric character"):
		for _, i := range []int{n, n + 1} {
			if l := at(i); strings.HasPrefix(l, "*") || strings.Contains(l, ": *") || strings.Contains(l, "- *") {
				return fmt.Errorf("line %d: a bare * starts a YAML alias: write \"*\" in quotes, or star", i)
			}
		}
	case strings.Contains(msg, "did not find expected ',' or '}'"), strings.Contains(msg, "did not find expected ',' or ']'"):
		for _, i := range []int{n, n + 1} {
			if l := at(i); strings.ContainsAny(l, "{[") {
				return fmt.Errorf("line %d: this {...} or [...] does not parse: quote each value that holds ?, :, #, a comma or brackets (url: \"/path?a=1\")", i)
			}
		}
	case strings.Contains(msg, "found character that cannot start any token"):
		for _, i := range []int{n, n + 1} {
			if i >= 1 && i <= len(src) && strings.Contains(src[i-1], "\t") {
				return fmt.Errorf("line %d: a tab: YAML is indented with spaces only", i)
			}
		}
	case strings.Contains(msg, "mapping values are not allowed in this context"):
		return fmt.Errorf("line %d: a value holds \": \" (or a key is misplaced): quote the value", n)
	}
	return err
}

func clean(err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "yaml: ") {
		return errors.New(strings.TrimPrefix(msg, "yaml: "))
	}
	return err
}

var (
	lineRe    = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownRe = regexp.MustCompile(`^field (.+) not found in type \S+$`)
	typeRe    = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// explain rewrites the library's messages ("line 4: cannot unmarshal !!str
// `fast` into int", "field mode not found in type tenant.Auth") into words
// that name the key; an error it does not recognise is returned as it is.
// root is the document (or the node) that was decoded.
func explain(root *yaml.Node, err error) error {
	msg := err.Error()
	multi := strings.HasPrefix(msg, "unmarshal errors:\n")
	lines := []string{msg}
	if multi {
		lines = strings.Split(strings.TrimPrefix(msg, "unmarshal errors:\n"), "\n")
	}
	byLine := map[int][]entry{}
	index(root, "", byLine)
	changed := false
	for i, l := range lines {
		l = strings.TrimSpace(l)
		m := lineRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if w := say(m[2], byLine[n]); w != m[2] {
			lines[i] = fmt.Sprintf("line %d: %s", n, w)
			changed = true
		} else {
			lines[i] = l
		}
	}
	if !changed {
		return err
	}
	return errors.New(strings.Join(lines, "\n"))
}

// entry is one key: value pair of a mapping, found by the line its key or
// value is on (a flow mapping, {a: 1, b: 2}, puts several on one line).
type entry struct {
	key, parent string
	value       *yaml.Node
}

// say is one message in words, from the entries on the message's line.
func say(msg string, on []entry) string {
	if m := unknownRe.FindStringSubmatch(msg); m != nil {
		for _, e := range on {
			if e.key == m[1] && e.parent != "" {
				return fmt.Sprintf("unknown key %q in %s", m[1], e.parent)
			}
		}
		return fmt.Sprintf("unknown key %q", m[1])
	}
	if m := typeRe.FindStringSubmatch(msg); m != nil {
		got := m[2]
		e := pick(on, m[1], got)
		if e != nil && e.value.Kind == yaml.ScalarNode && strings.HasSuffix(got, "...") && strings.HasPrefix(e.value.Value, strings.TrimSuffix(got, "...")) {
			got = e.value.Value // the library shortens long values ("api.exa...")
		}
		got = strconv.Quote(got)
		switch m[1] {
		case "seq":
			got = "a list"
		case "map":
			got = "a mapping"
		case "null":
			got = "nothing"
		}
		w := got + " is not " + want(m[3])
		if e != nil && e.key != "" {
			w = e.key + ": " + w
		}
		return w
	}
	for _, e := range on {
		if strings.HasPrefix(msg, e.key+":") {
			return msg // it names its key already
		}
	}
	if len(on) > 0 && on[len(on)-1].key != "" {
		return on[len(on)-1].key + ": " + msg
	}
	return msg
}

// pick finds the entry a type error is about: the one whose value is of
// the kind (and, for a scalar, the text) the message names, else the last
// on the line.
func pick(on []entry, kind, text string) *entry {
	text = strings.TrimSuffix(text, "...")
	for i := len(on) - 1; i >= 0; i-- {
		v := on[i].value
		switch {
		case kind == "seq" && v.Kind == yaml.SequenceNode,
			kind == "map" && v.Kind == yaml.MappingNode,
			v.Kind == yaml.ScalarNode && kind != "seq" && kind != "map" && strings.HasPrefix(v.Value, text):
			return &on[i]
		}
	}
	if len(on) > 0 {
		return &on[len(on)-1]
	}
	return nil
}

// want names what a Go type accepts.
func want(typ string) string {
	switch {
	case strings.HasPrefix(typ, "[]"):
		return "a list"
	case strings.HasPrefix(typ, "map["), strings.Contains(typ, "."), strings.HasPrefix(typ, "struct"):
		return "a mapping (key: value)"
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"):
		return "a whole number"
	case strings.HasPrefix(typ, "float"):
		return "a number"
	case typ == "bool":
		return "true or false"
	case typ == "string":
		return "a string"
	}
	return "a valid value here"
}

// index records every key: value pair under the line of its key and, when
// the value starts on another line, under that line too.
func index(n *yaml.Node, key string, byLine map[int][]entry) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			index(c, key, byLine)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			index(c, fmt.Sprintf("%s[%d]", key, i), byLine)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			e := entry{key: k.Value, parent: key, value: v}
			byLine[k.Line] = append(byLine[k.Line], e)
			if v.Line != k.Line {
				byLine[v.Line] = append(byLine[v.Line], e)
			}
			index(v, k.Value, byLine)
		}
	}
}
