package protocol

import (
	"fmt"
	"strings"
)

// Kind names a response verb. Its string is the XML element name.
type Kind string

const (
	Hangup    Kind = "Hangup"
	Pause     Kind = "Pause"
	SetVar    Kind = "SetVar"
	PlaySound Kind = "PlaySound"
	Jump      Kind = "Jump"
	SetCaller Kind = "SetCaller"
	PlayTTS   Kind = "PlayTTS"
)

// Defaults the spec gives for attributes a response may leave out.
const (
	DefaultPauseLength = 10
	DefaultPriority    = 1
	DefaultVolume      = 150
)

// Verb is one response verb. Only the fields of its Kind are meaningful; an
// optional attribute that was not given is the zero value ("" or 0).
type Verb struct {
	Kind Kind

	// Text is the element text: SetVar's value, PlaySound's sound name,
	// PlayTTS's words.
	Text string

	Name   string // SetVar: variable; SetCaller: caller-ID name
	Number string // SetCaller: caller-ID number

	Length int // Pause: seconds (the decoder fills in the default)

	// PlaySound attributes.
	Language string
	Loop     int
	View     string
	Folder   string
	Where    string
	DigitVar string

	// Jump attributes.
	Context  string
	Option   string
	Priority int // 0: not given, the IVR uses DefaultPriority

	// PlayTTS attributes.
	Voice  string
	Volume int // 0: not given, the IVR uses DefaultVolume
}

// Ends reports whether the verb ends the response: nothing after a Jump or a
// Hangup is executed.
func (v *Verb) Ends() bool { return v.Kind == Jump || v.Kind == Hangup }

// String renders the verb as its XML element, for transcripts and diffs.
func (v Verb) String() string { return string(AppendVerb(nil, &v)) }

// Response is a decoded response: its verbs in document order.
type Response struct {
	Verbs []Verb
}

func (r *Response) String() string {
	var b strings.Builder
	for i := range r.Verbs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(r.Verbs[i].String())
	}
	return b.String()
}

// ValidOption reports whether s names an IVR option: start, timeout, invalid,
// a digit, * or #.
func ValidOption(s string) bool {
	switch s {
	case "start", "timeout", "invalid", "*", "#":
		return true
	}
	return len(s) == 1 && s[0] >= '0' && s[0] <= '9'
}

// ValidVarName reports whether s can name an IVR variable that a later
// request refers to as $s: a letter or underscore, then letters, digits and
// underscores, at most 64 in all.
func ValidVarName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidView and ValidWhere check PlaySound's enumerated attributes.
func ValidView(s string) bool  { return s == "system" || s == "client" }
func ValidWhere(s string) bool { return s == "foreground" || s == "background" }

// Limits on numeric attributes. The spec gives no ranges; these are dialua's
// and are documented in docs/lua-api.md.
const (
	MaxPauseLength = 3600
	MaxLoop        = 100
	MaxVolume      = 1000
	MaxPriority    = 1000
)

// Check validates a verb the way an IVR reading it would, so the builder and
// the decoder agree on what a valid response is.
func (v *Verb) Check() error {
	switch v.Kind {
	case Hangup:
		return nil
	case Pause:
		if v.Length < 1 || v.Length > MaxPauseLength {
			return fmt.Errorf("Pause length must be 1..%d seconds, got %d", MaxPauseLength, v.Length)
		}
	case SetVar:
		if !ValidVarName(v.Name) {
			return fmt.Errorf("SetVar name %q is not a variable name (letters, digits, _; not starting with a digit)", v.Name)
		}
	case PlaySound:
		// The decoder trims the text, so blank text is no sound name.
		if strings.TrimSpace(v.Text) == "" {
			return fmt.Errorf("PlaySound needs a sound name")
		}
		if v.View != "" && !ValidView(v.View) {
			return fmt.Errorf("PlaySound view must be system or client, got %q", v.View)
		}
		if v.Where != "" && !ValidWhere(v.Where) {
			return fmt.Errorf("PlaySound where must be foreground or background, got %q", v.Where)
		}
		if v.Loop < 0 || v.Loop > MaxLoop {
			return fmt.Errorf("PlaySound loop must be 1..%d, got %d", MaxLoop, v.Loop)
		}
		if v.DigitVar != "" {
			if !ValidVarName(v.DigitVar) {
				return fmt.Errorf("PlaySound digitvar %q is not a variable name", v.DigitVar)
			}
			if v.Where == "foreground" {
				return fmt.Errorf("PlaySound digitvar needs where=background")
			}
		}
	case Jump:
		if v.Context == "" {
			return fmt.Errorf("Jump needs a context")
		}
		if !ValidOption(v.Option) {
			return fmt.Errorf("Jump option must be start, timeout, invalid, 0-9, * or #, got %q", v.Option)
		}
		if v.Priority < 0 || v.Priority > MaxPriority {
			return fmt.Errorf("Jump priority must be 1..%d, got %d", MaxPriority, v.Priority)
		}
	case SetCaller:
		if v.Name == "" || v.Number == "" {
			return fmt.Errorf("SetCaller needs both name and number")
		}
	case PlayTTS:
		if strings.TrimSpace(v.Text) == "" {
			return fmt.Errorf("PlayTTS needs text")
		}
		if v.Voice == "" {
			return fmt.Errorf("PlayTTS needs a voice")
		}
		if v.Volume < 0 || v.Volume > MaxVolume {
			return fmt.Errorf("PlayTTS volume must be 1..%d, got %d", MaxVolume, v.Volume)
		}
	default:
		return fmt.Errorf("unknown verb %q", string(v.Kind))
	}
	return nil
}
