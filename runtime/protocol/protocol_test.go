package protocol

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestEncodeEveryVerbAndAttribute(t *testing.T) {
	verbs := []Verb{
		{Kind: Hangup},
		{Kind: Pause, Length: 15},
		{Kind: SetVar, Name: "SubscriptionCode", Text: "09897987"},
		{Kind: PlaySound, Text: "Choose-contact-method", Language: "fr", Loop: 1, View: "system", Folder: "menus", Where: "background", DigitVar: "contact"},
		{Kind: Jump, Context: "StartSupport", Option: "1", Priority: 3},
		{Kind: SetCaller, Name: "callerName", Number: "92992"},
		{Kind: PlayTTS, Text: "Your balance is ten dollars", Voice: "Alice-8KHz", Volume: 100},
	}
	got := string(Encode(verbs))
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Response>` +
		`<Hangup/>` +
		`<Pause length="15"/>` +
		`<SetVar name="SubscriptionCode">09897987</SetVar>` +
		`<PlaySound language="fr" loop="1" view="system" folder="menus" where="background" digitvar="contact">Choose-contact-method</PlaySound>` +
		`<Jump context="StartSupport" option="1" priority="3"/>` +
		`<SetCaller name="callerName" number="92992"/>` +
		`<PlayTTS voice="Alice-8KHz" volume="100">Your balance is ten dollars</PlayTTS>` +
		"</Response>\n"
	if got != want {
		t.Fatalf("encoded:\n%s\nwant:\n%s", got, want)
	}
	back, err := Decode([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Verbs) != len(verbs) {
		t.Fatalf("decoded %d verbs, want %d", len(back.Verbs), len(verbs))
	}
	for i := range verbs {
		if back.Verbs[i] != verbs[i] {
			t.Errorf("verb %d round trip: got %+v want %+v", i, back.Verbs[i], verbs[i])
		}
	}
}

func TestEncodeOmitsUnsetOptionalAttributes(t *testing.T) {
	got := string(Encode([]Verb{{Kind: PlaySound, Text: "beep"}, {Kind: Jump, Context: "A", Option: "start"}, {Kind: PlayTTS, Text: "hi", Voice: "v"}}))
	for _, want := range []string{"<PlaySound>beep</PlaySound>", `<Jump context="A" option="start"/>`, `<PlayTTS voice="v">hi</PlayTTS>`} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in %s", want, got)
		}
	}
}

func TestEscapingSurvivesAStandardParser(t *testing.T) {
	nasty := "a&b<c>d\"e'f\x00g\x1bh\xffi\tj\nk ünï 😀"
	doc := Encode([]Verb{{Kind: SetVar, Name: "v", Text: nasty}, {Kind: SetCaller, Name: nasty, Number: "1"}})
	var parsed struct {
		SetVar    string `xml:"SetVar"`
		SetCaller struct {
			Name string `xml:"name,attr"`
		} `xml:"SetCaller"`
	}
	if err := xml.Unmarshal(doc, &parsed); err != nil {
		t.Fatalf("encoding/xml rejects our output: %v\n%s", err, doc)
	}
	want := "a&b<c>d\"e'f\uFFFDg\uFFFDh\uFFFDi\tj\nk ünï 😀"
	if parsed.SetVar != want {
		t.Errorf("text: got %q want %q", parsed.SetVar, want)
	}
	if parsed.SetCaller.Name != want {
		t.Errorf("attribute: got %q want %q", parsed.SetCaller.Name, want)
	}
}

func TestDecodeDefaultsAndEmpty(t *testing.T) {
	for _, body := range []string{"", "  \n", `<Response/>`, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`} {
		r, err := Decode([]byte(body))
		if err != nil || len(r.Verbs) != 0 {
			t.Errorf("Decode(%q) = %v, %v; want empty response", body, r, err)
		}
	}
	r, err := Decode([]byte(`<Response><Pause/><Jump context="X" option="#"/></Response>`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Verbs[0].Length != DefaultPauseLength {
		t.Errorf("Pause without length = %d, want %d", r.Verbs[0].Length, DefaultPauseLength)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]string{
		"malformed":            `<Response><Hangup></Response>`,
		"wrong root":           `<Reply><Hangup/></Reply>`,
		"unknown verb":         `<Response><Dial>123</Dial></Response>`,
		"unknown attribute":    `<Response><Pause lenght="5"/></Response>`,
		"non-numeric length":   `<Response><Pause length="five"/></Response>`,
		"zero length":          `<Response><Pause length="0"/></Response>`,
		"SetCaller no number":  `<Response><SetCaller name="x"/></Response>`,
		"SetCaller no name":    `<Response><SetCaller number="1"/></Response>`,
		"Jump no option":       `<Response><Jump context="X"/></Response>`,
		"Jump bad option":      `<Response><Jump context="X" option="10"/></Response>`,
		"bad priority":         `<Response><Jump context="X" option="1" priority="x"/></Response>`,
		"SetVar no name":       `<Response><SetVar>1</SetVar></Response>`,
		"PlaySound bad where":  `<Response><PlaySound where="left">x</PlaySound></Response>`,
		"PlaySound bad view":   `<Response><PlaySound view="mine">x</PlaySound></Response>`,
		"PlaySound empty":      `<Response><PlaySound></PlaySound></Response>`,
		"PlayTTS no voice":     `<Response><PlayTTS>hi</PlayTTS></Response>`,
		"bad volume":           `<Response><PlayTTS voice="v" volume="loud">hi</PlayTTS></Response>`,
		"text outside verb":    `<Response>hello<Hangup/></Response>`,
		"nested element":       `<Response><PlayTTS voice="v"><b>hi</b></PlayTTS></Response>`,
		"text in Hangup":       `<Response><Hangup>now</Hangup></Response>`,
		"two roots":            `<Response/><Response/>`,
		"doctype":              `<!DOCTYPE x><Response/>`,
		"not xml":              `OK`,
		"attribute on root":    `<Response version="2"/>`,
		"digitvar, foreground": `<Response><PlaySound where="foreground" digitvar="d">x</PlaySound></Response>`,
	}
	for name, body := range cases {
		_, err := Decode([]byte(body))
		if err == nil {
			t.Errorf("%s: Decode(%s) accepted it", name, body)
			continue
		}
		de, ok := err.(*DecodeError)
		if !ok || string(de.Body) != body {
			t.Errorf("%s: error %v does not carry the body", name, err)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		typ, status, flow string
		want              Event
	}{
		{"dial-in", "", "", EventDialIn},
		{"Dial_Out", "", "", EventDialOut},
		{"HANGUP", "ANSWER", "", EventHangup},
		{"call_interactive", "", "", EventInteractive},
		{"", "CALLING", "IN", EventDialIn},
		{"", "CALLING", "", EventDialIn},
		{"", "CALLING", "out", EventDialOut},
		{"", "BUSY", "IN", EventHangup},
		{"", "NOANSWER", "", EventHangup},
		{"", "CANCEL", "", EventHangup},
		{"", "CONGESTION", "", EventHangup},
		{"", "CHANUNAVAIL", "", EventHangup},
		{"", "ANSWER", "IN", EventInteractive},
		{"", "", "", EventInteractive},
		{"something-else", "BUSY", "", EventHangup},
	}
	for _, c := range cases {
		if got := Classify(c.typ, c.status, c.flow); got != c.want {
			t.Errorf("Classify(%q,%q,%q) = %s, want %s", c.typ, c.status, c.flow, got, c.want)
		}
	}
}

func TestRequestLaterParamWins(t *testing.T) {
	r := Request{Params: []Param{{"a", "query"}, {"b", ""}, {"a", "body"}}}
	if v, _ := r.Get("a"); v != "body" {
		t.Errorf("a = %q, want body", v)
	}
	if v, ok := r.Get("b"); !ok || v != "" {
		t.Errorf("b = %q,%v; want present and empty", v, ok)
	}
	if _, ok := r.Get("c"); ok {
		t.Error("c reported present")
	}
}

// A UTF-8 byte-order mark before the document is accepted.
func TestDecodeAcceptsBOM(t *testing.T) {
	r, err := Decode([]byte("\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Hangup/></Response>"))
	if err != nil || len(r.Verbs) != 1 || r.Verbs[0].Kind != Hangup {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := Decode([]byte("\xef\xbb<Response/>")); err == nil {
		t.Error("half a byte-order mark accepted")
	}
}
