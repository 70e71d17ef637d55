package sandbox

import "testing"

func TestPureData(t *testing.T) {
	for src, want := range map[string]bool{
		"return {a = 1, b = {\"x\", \"y\"}, [3] = true, c = -2}": true,
		"local t = {a = 1}\nreturn t":                            true,
		"return 42":                                              true,
		"return {}":                                              true,
		"return {a = x}":                                         false, // a global
		"return {a = f()}":                                       false,
		"return {a = \"x\" .. \"y\"}":                            false, // .. is a call here
		"return {f = function() end}":                            false,
		"return {...}":                                           false,
		"local t = {}\nt.a = os\nreturn t":                       false,
		"print(1)\nreturn {}":                                    false,
		"return {a = 1 + 2}":                                     true, // folded to a constant
		"return {a = #\"abc\"}":                                  false,
	} {
		p, err := Compile([]byte(src), "m.lua")
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got := PureData(p); got != want {
			t.Errorf("PureData(%q) = %v, want %v", src, got, want)
		}
	}
}

func TestHasDataMarker(t *testing.T) {
	for src, want := range map[string]bool{
		"-- dialua: data\nreturn {}":      true,
		"\xef\xbb\xbf-- dialua: data\r\n": true,
		"-- dialua: data  (a note)\n":     true,
		"-- dialua: database\n":           false,
		"\n-- dialua: data\n":             false,
		"return {} -- dialua: data":       false,
	} {
		if got := HasDataMarker([]byte(src)); got != want {
			t.Errorf("HasDataMarker(%q) = %v, want %v", src, got, want)
		}
	}
}
