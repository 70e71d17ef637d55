package loader

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/dialua/dialua/runtime/sandbox"
)

var (
	// ErrBadPath: the tenant or script name breaks the path rules.
	ErrBadPath = errors.New("malformed script path")
	// ErrNotFound: no script file for that path.
	ErrNotFound = errors.New("no such script")
)

// ErrorKind says how a run failed.
type ErrorKind string

const (
	KindCompile ErrorKind = "compile" // the script (or a module) does not compile, or cannot be read
	KindRuntime ErrorKind = "runtime" // the script raised an error
	KindTimeout ErrorKind = "timeout" // the script ran past its deadline
	KindMemory  ErrorKind = "memory"  // stopped for the memory it held
)

// ScriptError is a failure inside a script: what an operator needs to find
// it. The loader makes the compile errors; the engine the others.
type ScriptError struct {
	Kind      ErrorKind
	Tenant    string
	Script    string
	Location  string // "demo/support.lua:12", empty when unknown
	Message   string // without the location prefix
	Traceback string
}

func (e *ScriptError) Error() string {
	if e.Location != "" {
		return fmt.Sprintf("%s: %s", e.Location, e.Message)
	}
	return e.Message
}

// compileError turns a gopher-lua parse or compile error into file:line form.
// A parse error at the end of the file carries no line; the file's last line
// stands in for it, and the block left open is named.
func compileError(err error, chunk string, src []byte) *ScriptError {
	lines := bytes.Count(src, []byte("\n")) + 1
	se := &ScriptError{Kind: KindCompile, Location: chunk, Message: err.Error()}
	var pe *parse.Error
	var ce *lua.CompileError
	var nest *sandbox.CompileError
	switch {
	case errors.As(err, &nest):
		se.Location = chunk + ":" + strconv.Itoa(nest.Line)
		se.Message = nest.Message
	case errors.As(err, &pe):
		line := pe.Pos.Line
		if line < 1 {
			line = lines
		}
		se.Location = chunk + ":" + strconv.Itoa(line)
		se.Message = pe.Message
		if pe.Token == "" || pe.Pos.Line < 1 {
			se.Message += " at end of file"
			if why, ok := unclosed(src); ok {
				se.Message = why
			}
		} else {
			se.Message += " near '" + pe.Token + "'"
		}
	case errors.As(err, &ce):
		se.Location = chunk + ":" + strconv.Itoa(ce.Line)
		se.Message = ce.Message
	}
	return se
}
