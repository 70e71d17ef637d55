package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for the wire format. Seeds live in testdata/fuzz/<Name>/ and
// run with plain `go test`; fuzz one with e.g.
//
//	go test -run XXX -fuzz FuzzDecode -fuzztime 60s -parallel 1 ./runtime/protocol/

// watchdog panics if the returned stop is not called within d. A panic on
// another goroutine kills the fuzz worker, which the fuzzer records as a
// crasher with the input that hung: the only way to catch a hang, since a
// fuzz function that never returns is otherwise just a stuck worker.
func watchdog(d time.Duration, what string) (stop func()) {
	t := time.AfterFunc(d, func() { panic(what + ": still running after " + d.String()) })
	return func() { t.Stop() }
}

// FuzzDecode: the strict decoder takes arbitrary bytes without panicking or
// hanging, rejects with a *DecodeError carrying the body, and whatever it
// accepts is valid (every verb passes Check) and survives Encode and Decode
// again unchanged; encoding that again gives the same bytes (the encoding of
// a verb list is canonical).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte(Empty))
	f.Add(Encode([]Verb{
		{Kind: SetVar, Name: "subscription_tier", Text: "gold"},
		{Kind: PlayTTS, Voice: "Alice-8KHz", Text: "Thank you, Alice Martin."},
		{Kind: Jump, Context: "QueueGold", Option: "start"},
	}))
	f.Fuzz(func(t *testing.T, body []byte) {
		defer watchdog(5*time.Second, "Decode")()
		start := time.Now()
		r, err := Decode(body)
		if d := time.Since(start); d > time.Second {
			t.Errorf("Decode took %v on %d bytes", d, len(body))
		}
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !bytes.Equal(de.Body, body) {
				t.Fatalf("error %v (%T) does not carry the body", err, err)
			}
			if r != nil {
				t.Fatalf("Decode returned a response with an error")
			}
			return
		}
		for i := range r.Verbs {
			if err := r.Verbs[i].Check(); err != nil {
				t.Fatalf("decoded verb %d fails Check: %v", i, err)
			}
		}
		enc := Encode(r.Verbs)
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded response does not decode: %v\n%s", err, enc)
		}
		if !sameVerbs(r.Verbs, back.Verbs) {
			t.Fatalf("round trip changed the verbs:\n first: %q\nsecond: %q\n   via: %q", r.Verbs, back.Verbs, enc)
		}
		if enc2 := Encode(back.Verbs); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%q\n%q", enc, enc2)
		}
	})
}

func sameVerbs(a, b []Verb) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzEncodeVerb builds a verb from fuzzed fields the way a script's
// arguments reach the builder: any verb that passes Check must encode to a
// document the strict decoder accepts, giving back the same verb with only
// the documented changes (characters XML cannot carry become U+FFFD;
// PlaySound and PlayTTS text is trimmed; Pause always says its length).
// This is the builder/decoder agreement Check promises.
func FuzzEncodeVerb(f *testing.F) {
	f.Add(uint8(2), "09897987", "SubscriptionCode", "", "", 0)
	f.Add(uint8(3), "Choose-contact-method", "contact", "fr", "menus", 1)
	f.Add(uint8(4), "", "StartSupport", "1", "", 3)
	f.Add(uint8(5), "", "callerName", "92992", "", 0)
	f.Add(uint8(6), "Your balance is ten dollars", "Alice-8KHz", "", "", 100)
	f.Add(uint8(1), "", "", "", "", 15)
	f.Add(uint8(6), "a&b<c>d\"e'f\x00g\x1bh\xffi\tj\nk\r\nl ünï 😀", "v", "", "", 0)
	f.Add(uint8(5), "", "a\tb\rc\nd\"", "1", "", 0)
	f.Fuzz(func(t *testing.T, kind uint8, text, a, b, c string, n int) {
		kinds := []Kind{Hangup, Pause, SetVar, PlaySound, Jump, SetCaller, PlayTTS}
		v := Verb{Kind: kinds[int(kind&7)%len(kinds)], Text: text}
		switch v.Kind {
		case Hangup:
			v.Text = ""
		case Pause:
			v.Text, v.Length = "", n
		case SetVar:
			v.Name = a
		case PlaySound:
			// Spread the fields over the attributes; the low bits of
			// kind pick view and where so valid values come up often.
			v.DigitVar, v.Language, v.Folder, v.Loop = a, b, c, n
			v.View = [...]string{"", "system", "client", b}[kind>>3&3]
			v.Where = [...]string{"", "background", "foreground", c}[kind>>5&3]
		case Jump:
			v.Text, v.Context, v.Option, v.Priority = "", a, b, n
		case SetCaller:
			v.Text, v.Name, v.Number = "", a, b
		case PlayTTS:
			v.Voice, v.Volume = a, n
		}
		if v.Check() != nil {
			return
		}
		doc := Encode([]Verb{v})
		r, err := Decode(doc)
		if err != nil {
			t.Fatalf("verb %#v passes Check but its encoding is rejected: %v\n%q", v, err, doc)
		}
		want := wireForm(v)
		if len(r.Verbs) != 1 || r.Verbs[0] != want {
			t.Fatalf("verb %#v\nencoded %q\ndecoded %#v\n   want %#v", v, doc, r.Verbs, want)
		}
	})
}

// wireForm is what an IVR reading the encoding of v sees: every string
// with the characters XML cannot carry replaced as AppendEscaped documents,
// and sound names and speech trimmed as Decode documents.
func wireForm(v Verb) Verb {
	for _, s := range []*string{&v.Text, &v.Name, &v.Number, &v.Language, &v.View, &v.Folder, &v.Where, &v.DigitVar, &v.Context, &v.Option, &v.Voice} {
		*s = xmlSafe(*s)
	}
	if v.Kind == PlaySound || v.Kind == PlayTTS {
		v.Text = strings.TrimSpace(v.Text)
	}
	return v
}

// xmlSafe is an independent statement of AppendEscaped's replacement rule:
// invalid UTF-8 (byte by byte), C0 controls other than tab, LF and CR, DEL,
// U+FFFE and U+FFFF become U+FFFD.
func xmlSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1,
			r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r == 0x7f, r == 0xFFFE, r == 0xFFFF:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// FuzzRequest checks the parameter lookup and the event rule on fuzzed
// parameter lists: Get finds the last value of a name and reports absence;
// Event agrees with Classify on the looked-up values; Classify only ever
// answers one of the four events and ignores ASCII case and the word
// separators, as docs/lua-api.md says.
func FuzzRequest(f *testing.F) {
	f.Add("CallID=5205dc5c&EventType=dial-in&CallStatus=CALLING&CallFlow=IN", "EventType")
	f.Add("subscription_code=934924&subscription_code=1&CallStatus=ANSWER", "subscription_code")
	f.Add("EventType=HANGUP&CallStatus=ANSWER", "CallStatus")
	f.Add("EventType=something-else&CallStatus=BUSY&=&a", "")
	f.Add("CallStatus=calling&CallFlow=out&EventType=Call_Interactive", "CallFlow")
	f.Fuzz(func(t *testing.T, params, name string) {
		var r Request
		for _, kv := range strings.Split(params, "&") {
			k, v, _ := strings.Cut(kv, "=")
			r.Params = append(r.Params, Param{k, v})
		}
		want, present := "", false
		for _, p := range r.Params {
			if p.Name == name {
				want, present = p.Value, true
			}
		}
		if got, ok := r.Get(name); got != want || ok != present {
			t.Fatalf("Get(%q) = %q,%v; want %q,%v", name, got, ok, want, present)
		}
		if got := r.Value(name); got != want {
			t.Fatalf("Value(%q) = %q, want %q", name, got, want)
		}
		typ, status, flow := r.Value(ParamEventType), r.Value(ParamCallStatus), r.Value(ParamCallFlow)
		ev := Classify(typ, status, flow)
		if r.Event() != ev {
			t.Fatalf("Event() = %s, Classify = %s", r.Event(), ev)
		}
		switch ev {
		case EventDialIn, EventDialOut, EventHangup, EventInteractive:
		default:
			t.Fatalf("Classify(%q,%q,%q) = %q, not an event", typ, status, flow, ev)
		}
		for _, variant := range []string{asciiUpper(typ), asciiLower(typ), "-" + typ, typ + "_", strings.ReplaceAll(typ, "-", "")} {
			if got := Classify(variant, status, flow); got != ev {
				t.Fatalf("Classify(%q) = %s but Classify(%q) = %s", typ, ev, variant, got)
			}
		}
		if got := Classify(typ, asciiLower(status), asciiLower(flow)); got != ev {
			t.Fatalf("Classify is case-sensitive in CallStatus/CallFlow: %q,%q -> %s, lower -> %s", status, flow, ev, got)
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}
