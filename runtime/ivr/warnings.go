package ivr

import (
	"fmt"
	"regexp"
	"strings"
)

// commentWarnings finds where YAML's comments have most likely eaten a key
// the author meant: an unquoted `#:` option line (YAML drops it, and the
// actions under it join the option above), and a value given as a bare #
// for one of keys (the value is then empty).
func commentWarnings(b []byte, keys ...string) []string {
	var out []string
	lines := strings.Split(string(b), "\n")
	valueRe := regexp.MustCompile(`(?:^|[\s{,-])(` + strings.Join(keys, "|") + `):\s+#`)
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "#:" || strings.HasPrefix(t, "#: ") || strings.HasPrefix(t, "#:\t") {
			if next := nextContent(lines, i+1); next >= 0 && indentOf(lines[next]) >= indentOf(l) && strings.HasPrefix(strings.TrimSpace(lines[next]), "-") {
				out = append(out, fmt.Sprintf("line %d: #: is a YAML comment, so the actions below it join the option above: write \"#\": (quoted) or hash:", i+1))
			}
			continue
		}
		if len(keys) > 0 && !strings.HasPrefix(t, "#") {
			if m := valueRe.FindStringSubmatch(l); m != nil {
				out = append(out, fmt.Sprintf("line %d: %s: a bare # starts a YAML comment, so %s is empty here: write \"#\" (quoted) or hash", i+1, m[1], m[1]))
			}
		}
	}
	return out
}

// nextContent is the index of the next line that is neither blank nor a
// comment, or -1.
func nextContent(lines []string, from int) int {
	for i := from; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t != "" && !strings.HasPrefix(t, "#") {
			return i
		}
	}
	return -1
}

func indentOf(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
