package server

import (
	"net/url"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

const callAPIID = "3584705175:5205dc5cc5a411e5ab9eb3691b90ea15"

// TestDemoScripts drives every bundled demo script through each of its paths
// with the parameters an IVR would send, and compares the verbs.
func TestDemoScripts(t *testing.T) {
	s := start(t, "../../scripts", engine.Options{})
	tts := func(text string) protocol.Verb {
		return protocol.Verb{Kind: protocol.PlayTTS, Text: text, Voice: "Alice-8KHz"}
	}
	setVar := func(name, value string) protocol.Verb {
		return protocol.Verb{Kind: protocol.SetVar, Name: name, Text: value}
	}
	jump := func(ctx string) protocol.Verb {
		return protocol.Verb{Kind: protocol.Jump, Context: ctx, Option: "start"}
	}
	sound := func(name, lang string) protocol.Verb {
		return protocol.Verb{Kind: protocol.PlaySound, Text: name, Language: lang}
	}
	hangup := protocol.Verb{Kind: protocol.Hangup}

	cases := []struct {
		name string
		path string
		want []protocol.Verb
	}{
		{"index", "/demo/", []protocol.Verb{tts("Welcome to the dialua demo.")}},
		{"support valid gold", "/demo/support?subscription_code=934924&attempts=1", []protocol.Verb{
			setVar("subscription_tier", "gold"), setVar("support_attempts", "0"),
			tts("Thank you, Alice Martin. Connecting you to gold support."), jump("QueueGold")}},
		{"support valid standard", "/demo/support?subscription_code=100200", []protocol.Verb{
			setVar("subscription_tier", "standard"), setVar("support_attempts", "0"),
			tts("Thank you, Bob Ionescu. Connecting you to standard support."), jump("QueueStandard")}},
		{"support invalid, retry", "/demo/support?subscription_code=111111&attempts=", []protocol.Verb{
			setVar("support_attempts", "1"), sound("invalid-subscription", ""), jump("Support")}},
		{"support missing code", "/demo/support", []protocol.Verb{
			setVar("support_attempts", "1"), sound("invalid-subscription", ""), jump("Support")}},
		{"support third failure", "/demo/support?subscription_code=111111&attempts=2", []protocol.Verb{
			sound("invalid-subscription", ""), tts("We could not verify your subscription. Goodbye."), hangup}},
		{"support suspended", "/demo/support?subscription_code=555123", []protocol.Verb{
			tts("This subscription is suspended. Please contact billing."), hangup}},
		{"support hangup event", "/demo/support?EventType=hangup&subscription_code=934924", nil},

		{"payment tts", "/demo/payment?format=1&CallerIDNum=0040741234567", []protocol.Verb{
			tts("Your balance is 10 dollars and 50 cents."), setVar("payment_format", "tts")}},
		{"payment sounds", "/demo/payment?format=2&CallerIDNum=0040741234567", []protocol.Verb{
			sound("your-balance-is", "en"),
			{Kind: protocol.PlaySound, Text: "10", Folder: "digits", Language: "en"},
			sound("dollars", "en"), sound("and", "en"),
			{Kind: protocol.PlaySound, Text: "50", Folder: "digits", Language: "en"},
			sound("cents", "en"), setVar("payment_format", "sounds")}},
		{"payment sounds, French, whole dollars", "/demo/payment?format=2&CallerIDNum=0003%2A306", []protocol.Verb{
			sound("your-balance-is", "fr"),
			{Kind: protocol.PlaySound, Text: "2500", Folder: "digits", Language: "fr"},
			sound("dollars", "fr"), setVar("payment_format", "sounds")}},
		{"payment invalid choice", "/demo/payment?format=7&CallerIDNum=0040741234567", []protocol.Verb{
			sound("invalid-option", ""), jump("Payment")}},
		{"payment unknown caller", "/demo/payment?format=1&CallerIDNum=999", []protocol.Verb{
			tts("We could not find an account for this phone number. Goodbye."), hangup}},

		{"routing vip", "/demo/routing?interest=sales&CallerIDNum=0040741234567", []protocol.Verb{
			setVar("route", "vip"), jump("VIPDesk")}},
		{"routing sales fr", "/demo/routing?interest=sales&language=fr", []protocol.Verb{
			setVar("route", "sales"), sound("transferring", "fr"), jump("SalesFrench")}},
		{"routing billing fr falls back to en desk", "/demo/routing?interest=billing&language=fr", []protocol.Verb{
			setVar("route", "billing"), sound("transferring", "fr"), jump("Billing")}},
		{"routing no choice yet", "/demo/routing?interest=&language=&timeouts=", []protocol.Verb{
			setVar("timeouts", "1"), sound("please-choose", "en"), jump("MainMenu")}},
		{"routing operator", "/demo/routing?timeouts=2", []protocol.Verb{
			setVar("route", "operator"), jump("Operator")}},

		{"verify match", "/demo/verify?activationCode=42&CallAPIID=" + url.QueryEscape(callAPIID), []protocol.Verb{
			setVar("verified", "1"), hangup}},
		{"verify miss", "/demo/verify?activationCode=41&attempts=0&CallAPIID=" + url.QueryEscape(callAPIID), []protocol.Verb{
			setVar("verify_attempts", "1"), {Kind: protocol.Pause, Length: 5}}},
		// Misses count per number in the tenant's store, across requests
		// and calls: the third one bans (attempts is only the fallback
		// when the store is down).
		{"verify second miss", "/demo/verify?activationCode=41&CallAPIID=" + url.QueryEscape(callAPIID), []protocol.Verb{
			setVar("verify_attempts", "2"), {Kind: protocol.Pause, Length: 5}}},
		{"verify third miss bans", "/demo/verify?activationCode=41&attempts=2&CallAPIID=" + url.QueryEscape(callAPIID), []protocol.Verb{
			setVar("verify_attempts", "3"), setVar("banned", "1"),
			tts("Too many wrong codes. This number is blocked for one day."), hangup}},
		{"verify unknown call", "/demo/verify?activationCode=42&CallAPIID=1:2", []protocol.Verb{
			tts("There is no verification waiting for this call."), hangup}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			testkit.SameVerbs(t, s.get(c.path).verbs(t), c.want)
		})
	}
}

// TestDemoOverPOST sends the support request the way a POST-configured IVR
// does: static and interactive parameters in the query, defaults in the body.
func TestDemoOverPOST(t *testing.T) {
	s := start(t, "../../scripts", engine.Options{})
	got := s.post("/demo/verify?activationCode=42", url.Values{
		"CallAPIID": {callAPIID}, "CallID": {"abc"}, "CallStatus": {"ANSWER"},
	}).verbs(t)
	testkit.SameVerbs(t, got, []protocol.Verb{{Kind: protocol.SetVar, Name: "verified", Text: "1"}, {Kind: protocol.Hangup}})
}
