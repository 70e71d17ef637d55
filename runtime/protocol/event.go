package protocol

import "strings"

// Event is what made the IVR send a request.
type Event string

const (
	EventDialIn      Event = "dial-in"
	EventDialOut     Event = "dial-out"
	EventHangup      Event = "hangup"
	EventInteractive Event = "interactive"
)

// Classify decides which event a request is, from the parameters that say so.
//
// The rule, in order:
//  1. An EventType parameter wins when it names an event: dial-in, dial-out,
//     hangup or call_interactive, in any case and with '-', '_' or nothing
//     between the words ("Dial-In", "dialin", "DIAL_IN" all mean dial-in;
//     "interactive" and "call_interactive" mean interactive).
//  2. CallStatus CALLING is a dial event: dial-out when CallFlow is OUT,
//     dial-in otherwise.
//  3. CallStatus BUSY, NOANSWER, CANCEL, CONGESTION or CHANUNAVAIL only occur
//     on Hangup, so they mean hangup.
//  4. Anything else (ANSWER, empty, absent) is an interactive action. ANSWER is
//     also what a Hangup event of an answered call carries, and nothing else in
//     the request tells the two apart; configure the Hangup event URL with a
//     static EventType=hangup parameter to have it classified as hangup.
func Classify(eventType, callStatus, callFlow string) Event {
	if e, ok := eventFromType(eventType); ok {
		return e
	}
	switch strings.ToUpper(callStatus) {
	case "CALLING":
		if strings.EqualFold(callFlow, "OUT") {
			return EventDialOut
		}
		return EventDialIn
	case "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL":
		return EventHangup
	}
	return EventInteractive
}

func eventFromType(t string) (Event, bool) {
	if t == "" {
		return "", false
	}
	var b [24]byte
	n := 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '-' || c == '_' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if n == len(b) {
			return "", false
		}
		b[n] = c
		n++
	}
	switch string(b[:n]) {
	case "dialin":
		return EventDialIn, true
	case "dialout":
		return EventDialOut, true
	case "hangup":
		return EventHangup, true
	case "callinteractive", "interactive":
		return EventInteractive, true
	}
	return "", false
}
