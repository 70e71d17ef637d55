// Package pathname is the one rule for the names dialua turns into folder
// and file names: tenant names and the segments of script paths. It lives
// here so that both the loader (which serves the folders) and the tenants
// file (which names them) check the same rule. It imports nothing of dialua.
package pathname

// ValidSegment is the whole path grammar: letters, digits, '.', '_' and '-',
// at most 128 bytes, not starting with a dot. That one rule keeps out "..",
// hidden files and anything needing escaping.
func ValidSegment(s string) bool {
	if s == "" || s[0] == '.' || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Rule says ValidSegment in words, for error messages.
const Rule = "letters, digits, '.', '_' and '-', at most 128, not starting with a dot"
