package ivr

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// NormalizeDigits reads what a caller presses, as written in a scenario, on
// the command line or by the console: 0-9, * and #, with the words star and
// hash for * and # (an unquoted # starts a YAML comment, and * an alias), _
// for a silence (one prompt left to time out) and ! for hanging up. Spaces
// and dashes are ignored, so "0040-741 hash" is "0040741#".
func NormalizeDigits(s string) (string, error) {
	var b strings.Builder
	lower := strings.ToLower(s)
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		switch {
		case c == ' ' || c == '\t' || c == '-':
		case c >= '0' && c <= '9', c == '*', c == '#', c == '_', c == hangupKey:
			b.WriteByte(c)
		case strings.HasPrefix(lower[i:], "star"):
			b.WriteByte('*')
			i += len("star") - 1
		case strings.HasPrefix(lower[i:], "hash"):
			b.WriteByte('#')
			i += len("hash") - 1
		default:
			r, _ := utf8.DecodeRuneInString(lower[i:])
			return "", fmt.Errorf("digits %q: %q is not a key (0-9, *, #, star, hash; _ for a silence, ! to hang up)", s, string(r))
		}
	}
	return b.String(), nil
}

// Check reports what in a caller model the simulator cannot use: keys that
// are not keys, a status that is not a CallStatus.
func (c *Caller) Check() error {
	if _, err := NormalizeDigits(c.Digits); err != nil {
		return err
	}
	if st := strings.ToUpper(c.Status); st != "" && st != "ANSWER" && !unansweredStatus[st] {
		return fmt.Errorf("status %q: ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION or CHANUNAVAIL", c.Status)
	}
	return nil
}
