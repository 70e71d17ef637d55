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
		return explain(b, clean(err))
	}
	return nil
}

// DecodeNode decodes one node of a document strictly: yaml.Node.Decode
// ignores unknown keys, so the node is written out and read back.
func DecodeNode(n *yaml.Node, dst any) error {
	var buf bytes.Buffer
	if err := yaml.NewEncoder(&buf).Encode(n); err != nil {
		return clean(err)
	}
	return Decode(buf.Bytes(), dst)
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
func explain(b []byte, err error) error {
	msg := err.Error()
	multi := strings.HasPrefix(msg, "unmarshal errors:\n")
	lines := []string{msg}
	if multi {
		lines = strings.Split(strings.TrimPrefix(msg, "unmarshal errors:\n"), "\n")
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil {
		return err
	}
	keys := map[int]string{}    // line of a value -> its key
	parents := map[int]string{} // line of a key -> the key of its mapping
	values := map[int]string{}  // line of a scalar value -> the value, whole
	index(&doc, "", keys, parents, values)
	changed := false
	for i, l := range lines {
		l = strings.TrimSpace(l)
		m := lineRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if w := say(m[2], keys[n], parents[n], values[n]); w != m[2] {
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

// say is one message in words.
// The library shortens long values ("api.exa..."); whole is the value as
// written.
func say(msg, key, parent, whole string) string {
	if m := unknownRe.FindStringSubmatch(msg); m != nil {
		if parent != "" {
			return fmt.Sprintf("unknown key %q in %s", m[1], parent)
		}
		return fmt.Sprintf("unknown key %q", m[1])
	}
	if m := typeRe.FindStringSubmatch(msg); m != nil {
		got := m[2]
		if strings.HasSuffix(got, "...") && strings.HasPrefix(whole, strings.TrimSuffix(got, "...")) {
			got = whole
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
		if key != "" {
			w = key + ": " + w
		}
		return w
	}
	if key != "" && !strings.HasPrefix(msg, key+":") {
		return key + ": " + msg
	}
	return msg
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

// index records, for each line, the key whose value starts on it and the
// mapping a key on it belongs to.
func index(n *yaml.Node, key string, keys, parents, values map[int]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			index(c, key, keys, parents, values)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			index(c, fmt.Sprintf("%s[%d]", key, i), keys, parents, values)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if key != "" {
				parents[k.Line] = key
			}
			keys[v.Line] = k.Value
			if v.Kind == yaml.ScalarNode {
				values[v.Line] = v.Value
			}
			index(v, k.Value, keys, parents, values)
		}
	}
}
