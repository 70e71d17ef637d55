package loader

import (
	"bytes"
	"fmt"

	"github.com/yuin/gopher-lua/parse"
)

// unclosed names the block a file leaves open, for a syntax error at the
// end of the file: gopher-lua says only "syntax error at end of file",
// where Lua 5.1 says "'end' expected (to close 'if' at line 2)". It
// re-reads the file's tokens (a file that fails to compile costs this once
// per version) and keeps a stack of the open blocks.
func unclosed(src []byte) (string, bool) {
	type open struct {
		kw   string
		line int
	}
	var stack []open
	loopDo := 0 // a while or for whose do is still to come
	sc := parse.NewScanner(bytes.NewReader(src), "")
	lx := &parse.Lexer{}
	for {
		tok, err := sc.Scan(lx)
		if err != nil {
			return "", false
		}
		if tok.Type == parse.EOF || tok.Type == 0 {
			break
		}
		lx.PrevTokenType = tok.Type
		switch tok.Type {
		case parse.TFunction, parse.TIf:
			stack = append(stack, open{tok.Str, tok.Pos.Line})
		case parse.TWhile, parse.TFor:
			stack = append(stack, open{tok.Str, tok.Pos.Line})
			loopDo++
		case parse.TDo:
			if loopDo > 0 {
				loopDo--
			} else {
				stack = append(stack, open{"do", tok.Pos.Line})
			}
		case parse.TRepeat:
			stack = append(stack, open{"repeat", tok.Pos.Line})
		case parse.TEnd, parse.TUntil:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) == 0 {
		return "", false
	}
	top := stack[len(stack)-1]
	want := "end"
	if top.kw == "repeat" {
		want = "until"
	}
	return fmt.Sprintf("'%s' expected (to close '%s' at line %d) at end of file", want, top.kw, top.line), true
}
