package main

import (
	"fmt"
	"regexp"
	"strconv"
)

// goodAnswer is what a good script's body says, once it has been checked to
// be exactly one of the shapes goodScript produces.
type goodAnswer struct {
	version   int
	sessionOK bool
	count     int
}

// goodBody matches the whole answer of some version of tenant T's script,
// byte for byte apart from the version and the counter: the XML declaration,
// the three SetVar in order, the PlayTTS naming the same version, the Jump to
// the tenant's own queue (a wrong tenant's script would fail here).
func goodBody(tenant string) *regexp.Regexp {
	q := regexp.QuoteMeta
	return regexp.MustCompile(`\A` + q(`<?xml version="1.0" encoding="UTF-8"?>`) + `\n` +
		q(`<Response><SetVar name="version">`) + `(\d+)` + q(`</SetVar><SetVar name="session">`) + `(ok|down)` +
		q(`</SetVar><SetVar name="count">`) + `(\d+)` + q(`</SetVar><PlayTTS voice="Alice-8KHz">Version `) + `(\d+)` +
		q(` of tenant `+tenant+`.</PlayTTS><Jump context="Queue_`+tenant+`" option="start"/></Response>`) + `\n?\z`)
}

// parseGood checks body against re and returns what it says.
func parseGood(re *regexp.Regexp, body []byte) (goodAnswer, error) {
	m := re.FindSubmatch(body)
	if m == nil {
		return goodAnswer{}, fmt.Errorf("not a valid answer of this tenant's script")
	}
	v, _ := strconv.Atoi(string(m[1]))
	tts, _ := strconv.Atoi(string(m[4]))
	if v != tts {
		return goodAnswer{}, fmt.Errorf("SetVar says version %d, PlayTTS says %d", v, tts)
	}
	n, _ := strconv.Atoi(string(m[3]))
	a := goodAnswer{version: v, sessionOK: string(m[2]) == "ok", count: n}
	if a.sessionOK && n < 1 {
		return goodAnswer{}, fmt.Errorf("session ok but count %d", n)
	}
	return a, nil
}
