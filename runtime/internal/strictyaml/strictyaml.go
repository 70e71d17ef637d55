// Package strictyaml is the one place dialua decodes YAML written by people
// (the tenants file, IVR definitions, scenario files): unknown keys are
// errors, so a misspelt setting is reported instead of silently ignored, and
// messages lose the library's "yaml: " prefix. It imports nothing of dialua.
package strictyaml

import (
	"bytes"
	"errors"
	"io"
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
		return clean(err)
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
