// Package ivr plays the phone system's side of Call Interactive: an IVR
// defined in a YAML file (contexts, options, ordered actions) walks a
// simulated caller through a whole call, sending real HTTP requests to any
// Call Interactive server and executing the verbs it answers with, strictly,
// as the protocol says. It records everything in a transcript.
package ivr

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/dialua/dialua/runtime/internal/strictyaml"
	"github.com/dialua/dialua/runtime/protocol"
)

// IVR is a parsed IVR definition. The file format is documented in
// docs/ivr.md.
type IVR struct {
	Name     string              `yaml:"name"`
	Entry    string              `yaml:"entry"`
	Language string              `yaml:"language"`
	Defaults map[string]string   `yaml:"defaults"` // default parameters sent on every request
	Events   Events              `yaml:"events"`
	Contexts map[string]*Context `yaml:"contexts"`

	// EventType, when true (the default), adds an EventType parameter to
	// every request, as many phone systems do.
	EventType *bool `yaml:"event_type"`
	// MaxSteps ends a call that executes more actions than this (a loop
	// guard); default 500.
	MaxSteps int `yaml:"max_steps"`
	// Timeout is the Call Interactive request timeout in seconds; default 5.
	Timeout float64 `yaml:"timeout"`

	// Warnings are mistakes Parse suspects but cannot prove (an unquoted
	// #: that YAML read as a comment), each with its line.
	Warnings []string `yaml:"-"`
}

// Events are the optional call-event URLs.
type Events struct {
	DialIn  *Request `yaml:"dial_in"`
	DialOut *Request `yaml:"dial_out"`
	Hangup  *Request `yaml:"hangup"`
}

// Request is where a Call Interactive action or a call event sends its
// request: a URL (absolute, or a path resolved against the server's base URL)
// with $variable placeholders, a method, and an event id for reference.
type Request struct {
	URL    string `yaml:"url"`
	Method string `yaml:"method"`
	Event  string `yaml:"event"`
}

// Context is one IVR context: its options, each an ordered list of actions.
type Context struct {
	Options map[string][]Action
}

// UnmarshalYAML reads a context: a map from option name to action list.
// The options star and hash are * and # (which YAML needs quoted).
func (c *Context) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a context is a mapping of options (start, timeout, invalid, 0-9, \"*\", \"#\") to lists of actions", n.Line)
	}
	m := map[string][]Action{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		opt := keyWord(k.Value)
		if !protocol.ValidOption(opt) {
			return fmt.Errorf("line %d: option %q is not start, timeout, invalid, 0-9, \"*\" (star) or \"#\" (hash)", k.Line, k.Value)
		}
		if _, dup := m[opt]; dup {
			return fmt.Errorf("line %d: option %s is given twice", k.Line, opt)
		}
		var acts []Action
		if v.Kind != yaml.SequenceNode && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			return fmt.Errorf("line %d: %s: option %s takes a list of actions (- play: ..., - hangup)", v.Line, k.Value, k.Value)
		}
		if err := v.Decode(&acts); err != nil {
			return err
		}
		m[opt] = acts
	}
	c.Options = m
	return nil
}

// keyWord reads star and hash as the keys * and #.
func keyWord(s string) string {
	switch strings.ToLower(s) {
	case "star":
		return "*"
	case "hash":
		return "#"
	}
	return s
}

var lineRe = regexp.MustCompile(`^line (\d+): (.*)$`)

// Action kinds.
const (
	ActPlay        = "play"
	ActTTS         = "tts"
	ActRecord      = "record"
	ActMenu        = "menu"
	ActSet         = "set"
	ActCaller      = "caller"
	ActInteractive = "interactive"
	ActJump        = "jump"
	ActPause       = "pause"
	ActTransfer    = "transfer"
	ActQueue       = "queue"
	ActHangup      = "hangup"
)

// Action is one step of an option. Kind says which fields matter.
type Action struct {
	Kind string
	Line int // in the IVR file, for messages

	Sound    string // play
	Language string // play
	Folder   string // play
	Text     string // tts
	Voice    string // tts

	Var     string  // record, set
	Value   string  // set ($variables substituted)
	Digits  int     // record: most digits to take
	Finish  string  // record: key that ends input early (default #)
	Wait    float64 // record, menu: seconds of silence before giving up (default 5)
	Name    string  // caller
	Number  string  // caller, transfer
	Request Request // interactive

	Context  string // jump
	Option   string // jump
	Priority int    // jump

	Seconds int    // pause
	Target  string // transfer, queue
}

// UnmarshalYAML reads an action: a bare word (hangup, menu) or a one-key map
// whose key is the action and whose value is a scalar shorthand or a map.
func (a *Action) UnmarshalYAML(n *yaml.Node) error {
	a.Line = n.Line
	if n.Kind == yaml.ScalarNode {
		a.Kind = n.Value
		switch a.Kind {
		case ActHangup:
			return nil
		case ActMenu:
			a.Wait = 5
			return nil
		}
		return fmt.Errorf("line %d: %q is not an action (a bare word can only be hangup or menu)", n.Line, n.Value)
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return fmt.Errorf("line %d: an action is one key (play, tts, record, menu, set, caller, interactive, jump, pause, transfer, queue, hangup)", n.Line)
	}
	a.Kind = n.Content[0].Value
	v := n.Content[1]
	scalar := v.Kind == yaml.ScalarNode
	var err error
	strict := func(dst any) error {
		if err := strictyaml.DecodeNode(v, dst); err != nil {
			// "line 4: digits: ..." becomes "line 4: record: digits: ...".
			msg := err.Error()
			line := fmt.Sprintf("line %d", v.Line)
			if m := lineRe.FindStringSubmatch(msg); m != nil {
				line, msg = "line "+m[1], m[2]
			}
			return fmt.Errorf("%s: %s: %s", line, a.Kind, msg)
		}
		return nil
	}
	switch a.Kind {
	case ActPlay:
		if scalar {
			a.Sound = v.Value
			break
		}
		var p struct{ Sound, Language, Folder string }
		err = strict(&p)
		a.Sound, a.Language, a.Folder = p.Sound, p.Language, p.Folder
	case ActTTS:
		if scalar {
			a.Text = v.Value
			break
		}
		var p struct{ Text, Voice string }
		err = strict(&p)
		a.Text, a.Voice = p.Text, p.Voice
	case ActRecord:
		var p struct {
			Var     string
			Digits  int
			Finish  *string
			Timeout *float64
		}
		err = strict(&p)
		a.Var, a.Digits, a.Finish, a.Wait = p.Var, p.Digits, "#", 5
		if p.Finish != nil {
			a.Finish = keyWord(*p.Finish)
		}
		if p.Timeout != nil {
			a.Wait = *p.Timeout
		}
	case ActMenu:
		var p struct{ Timeout *float64 }
		if !scalar || v.Value != "" {
			err = strict(&p)
		}
		a.Wait = 5
		if p.Timeout != nil {
			a.Wait = *p.Timeout
		}
	case ActSet:
		var p struct{ Var, Value string }
		err = strict(&p)
		a.Var, a.Value = p.Var, p.Value
	case ActCaller:
		var p struct{ Name, Number string }
		err = strict(&p)
		a.Name, a.Number = p.Name, p.Number
	case ActInteractive:
		if scalar {
			a.Request = Request{URL: v.Value}
			break
		}
		err = strict(&a.Request)
	case ActJump:
		if scalar {
			a.Context = v.Value
			break
		}
		var p struct {
			Context, Option string
			Priority        int
		}
		err = strict(&p)
		a.Context, a.Option, a.Priority = p.Context, keyWord(p.Option), p.Priority
	case ActPause:
		err = strict(&a.Seconds)
	case ActTransfer, ActQueue:
		err = strict(&a.Target)
	case ActHangup:
	default:
		return fmt.Errorf("line %d: unknown action %q", n.Line, a.Kind)
	}
	return err
}

// Load reads and checks an IVR file.
func Load(path string) (*IVR, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ivr, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ivr, nil
}

// Parse reads and checks an IVR definition.
func Parse(b []byte) (*IVR, error) {
	var ivr IVR
	if err := strictyaml.Decode(b, &ivr); err != nil {
		return nil, err
	}
	if err := ivr.check(); err != nil {
		return nil, err
	}
	ivr.Warnings = commentWarnings(b, "finish", "option")
	return &ivr, nil
}

func (ivr *IVR) check() error {
	if len(ivr.Contexts) == 0 {
		return fmt.Errorf("no contexts")
	}
	if ivr.Entry == "" {
		if len(ivr.Contexts) != 1 {
			return fmt.Errorf("entry: name the context calls start in")
		}
		for name := range ivr.Contexts {
			ivr.Entry = name
		}
	}
	if c := ivr.Contexts[ivr.Entry]; c == nil || c.Options["start"] == nil {
		return fmt.Errorf("entry context %q does not exist or has no start option", ivr.Entry)
	}
	if ivr.MaxSteps <= 0 {
		ivr.MaxSteps = 500
	}
	if ivr.Timeout <= 0 {
		ivr.Timeout = 5
	}
	for _, ev := range []*Request{ivr.Events.DialIn, ivr.Events.DialOut, ivr.Events.Hangup} {
		if ev != nil {
			if err := ev.check(); err != nil {
				return fmt.Errorf("events: %v", err)
			}
		}
	}
	names := make([]string, 0, len(ivr.Contexts))
	for name := range ivr.Contexts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for opt, acts := range ivr.Contexts[name].Options {
			for i := range acts {
				if err := ivr.checkAction(&acts[i]); err != nil {
					return fmt.Errorf("line %d: context %s, option %s: %v", acts[i].Line, name, opt, err)
				}
			}
		}
	}
	return nil
}

func (r *Request) check() error {
	if r.URL == "" {
		return fmt.Errorf("request without url")
	}
	switch strings.ToUpper(r.Method) {
	case "":
		r.Method = "GET"
	case "GET", "POST":
		r.Method = strings.ToUpper(r.Method)
	default:
		return fmt.Errorf("method %q: GET or POST", r.Method)
	}
	if r.Event != "" && !validEventID(r.Event) {
		return fmt.Errorf("event id %q: 2-32 letters and digits", r.Event)
	}
	return nil
}

func validEventID(s string) bool {
	if len(s) < 2 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (ivr *IVR) checkAction(a *Action) error {
	switch a.Kind {
	case ActPlay:
		if a.Sound == "" {
			return fmt.Errorf("play needs a sound")
		}
	case ActTTS:
		if a.Text == "" {
			return fmt.Errorf("tts needs text")
		}
	case ActRecord:
		if !protocol.ValidVarName(a.Var) {
			return fmt.Errorf("record needs var, a variable name")
		}
		if a.Digits < 1 {
			return fmt.Errorf("record needs digits, at least 1")
		}
		if len(a.Finish) > 1 || a.Finish != "" && !isKey(a.Finish[0]) {
			return fmt.Errorf("record finish must be one key")
		}
	case ActSet:
		if !protocol.ValidVarName(a.Var) {
			return fmt.Errorf("set needs var, a variable name")
		}
	case ActCaller:
		if a.Name == "" && a.Number == "" {
			return fmt.Errorf("caller needs name or number")
		}
	case ActInteractive:
		return a.Request.check()
	case ActJump:
		if a.Option == "" {
			a.Option = "start"
		}
		if ivr.Contexts[a.Context] == nil {
			return fmt.Errorf("jump to unknown context %q", a.Context)
		}
		if ivr.Contexts[a.Context].Options[a.Option] == nil {
			return fmt.Errorf("jump to %s has no option %q", a.Context, a.Option)
		}
	case ActPause:
		if a.Seconds < 1 {
			return fmt.Errorf("pause needs seconds, at least 1")
		}
	case ActTransfer, ActQueue:
		if a.Target == "" {
			return fmt.Errorf("%s needs a destination", a.Kind)
		}
	}
	return nil
}

func isKey(c byte) bool { return c >= '0' && c <= '9' || c == '*' || c == '#' }
