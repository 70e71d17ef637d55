package main

// The ```console examples of README.md, examples/README.md, docs/ivr.md and
// docs/console.md
// are run as a reader would type them, from the repository's root, and what
// they print is compared with what the page shows:
//
//   - `$ go run ./cmd/dialua ARGS` (or `$ dialua ARGS`) runs the binary;
//     `serve` starts a server that later commands of the same page talk to
//     (a documented 127.0.0.1:8080 is rewritten to its real port); `dev`
//     starts the dev phone on free ports and its banner must match the
//     page's, with the documented default addresses;
//   - `$ curl URL` is a GET; the lines after it are the XML answer, which
//     may be wrapped and may leave out the XML declaration;
//   - other commands' output lines must match stdout, `...` standing for any
//     number of lines; a command shown without output must exit 0;
//   - a block preceded by `<!-- not run: reason -->` is skipped, and any
//     other command fails the test, so a new example cannot go unchecked.

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// shellCmd is one `$` line of a console block and the output shown under it.
type shellCmd struct {
	line int // of the page
	args []string
	want []string
}

// consoleBlocks returns the commands of a page's runnable console blocks,
// in page order.
func consoleBlocks(t *testing.T, page string) []shellCmd {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []shellCmd
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```console" {
			continue
		}
		skip := i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "<!-- not run:")
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			if skip {
				continue
			}
			l := lines[i]
			if cmd, ok := strings.CutPrefix(l, "$ "); ok {
				args, err := shellWords(cmd)
				if err != nil {
					t.Fatalf("%s line %d: %v", page, i+1, err)
				}
				out = append(out, shellCmd{line: i + 1, args: args})
				continue
			}
			if len(out) == 0 {
				t.Fatalf("%s line %d: output before any command", page, i+1)
			}
			out[len(out)-1].want = append(out[len(out)-1].want, l)
		}
	}
	return out
}

// shellWords splits a command line the way sh would for the quoting docs
// use: single and double quotes, a `#` comment, a trailing `&` (dropped:
// servers are started in the background anyway).
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, &quoteError{s}
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			i = len(s)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if n := len(words); n > 0 && words[n-1] == "&" {
		words = words[:n-1]
	}
	return words, nil
}

type quoteError struct{ line string }

func (e *quoteError) Error() string { return "unbalanced quote in " + e.line }

var betweenTags = regexp.MustCompile(`>\s+<`)

// sameXML compares an answer with the wrapped XML a page shows for it.
func sameXML(got string, want []string) bool {
	var w strings.Builder
	for _, l := range want {
		w.WriteString(strings.TrimSpace(l))
	}
	ws := betweenTags.ReplaceAllString(w.String(), "><")
	gs := betweenTags.ReplaceAllString(strings.TrimSpace(got), "><")
	if !strings.HasPrefix(ws, "<?xml") {
		if i := strings.Index(gs, "?>"); strings.HasPrefix(gs, "<?xml") && i >= 0 {
			gs = gs[i+2:]
		}
	}
	return gs == ws
}

// matchLines matches output lines against a page's, where a `...` line
// stands for any number of lines.
func matchLines(got, want []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if strings.TrimSpace(want[0]) == "..." {
		for i := 0; i <= len(got); i++ {
			if matchLines(got[i:], want[1:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && strings.TrimRight(got[0], " ") == strings.TrimRight(want[0], " ") && matchLines(got[1:], want[1:])
}

func TestConsoleDocExamples(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"README.md", "examples/README.md", "docs/ivr.md", "docs/console.md"} {
		t.Run(strings.ReplaceAll(page, "/", "_"), func(t *testing.T) {
			cmds := consoleBlocks(t, filepath.Join(root, page))
			if len(cmds) == 0 {
				t.Fatalf("no console commands found in %s; the extractor is broken", page)
			}
			runConsolePage(t, root, page, cmds)
		})
	}
}

func runConsolePage(t *testing.T, root, page string, cmds []shellCmd) {
	var srv *serveProc
	client := newClient()
	rewrite := func(s string) string {
		if srv == nil {
			return s
		}
		return strings.ReplaceAll(s, "127.0.0.1:8080", srv.addr)
	}
	for _, c := range cmds {
		where := page + " line " + strconv.Itoa(c.line)
		args := c.args
		switch {
		case len(args) >= 3 && args[0] == "go" && args[1] == "run" && args[2] == "./cmd/dialua":
			args = args[3:]
		case len(args) >= 1 && args[0] == "dialua":
			args = args[1:]
		case len(args) == 2 && args[0] == "curl":
			resp, err := client.Get(rewrite(args[1]))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: HTTP %d", where, resp.StatusCode)
			}
			if !sameXML(string(body), c.want) {
				t.Errorf("%s: the page shows\n%s\nthe server answered\n%s", where, strings.Join(c.want, "\n"), body)
			}
			continue
		default:
			t.Fatalf("%s: the test cannot run %q; mark its block <!-- not run: reason -->", where, strings.Join(args, " "))
		}
		if len(args) > 0 && args[0] == "dev" {
			checkDevBanner(t, root, where, args[1:], c.want)
			continue
		}
		if len(args) > 0 && args[0] == "serve" {
			if srv != nil {
				srv.cmd.Process.Kill()
				<-srv.done
			}
			srv = startServeIn(t, root, args[1:]...)
			continue
		}
		for i := range args {
			args[i] = rewrite(args[i])
		}
		r := runDialua(t, root, args...)
		if r.code != 0 {
			t.Errorf("%s: dialua %s exited %d; stderr:\n%s", where, strings.Join(args, " "), r.code, r.stderr)
			continue
		}
		if len(c.want) > 0 && !matchLines(lines(r.stdout), c.want) {
			t.Errorf("%s: the page shows\n%s\ndialua %s printed\n%s", where, strings.Join(c.want, "\n"), strings.Join(args, " "), r.stdout)
		}
	}
}

// checkDevBanner starts `dialua dev ARGS` on free ports and compares what it
// prints first with the page, the ports read as the defaults.
func checkDevBanner(t *testing.T, root, where string, args, want []string) {
	t.Helper()
	listen, console := freePort(t), freePort(t)
	cmd := exec.Command(binPath, append(append([]string{"dev"}, args...), "--listen", listen, "--console", console)...)
	cmd.Dir = root
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var got []string
	for i := 0; i < 100; i++ {
		got = lines(strings.NewReplacer(listen, "127.0.0.1:8080", console, "127.0.0.1:8090").Replace(out.String()))
		if len(got) >= len(want) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !matchLines(got, want) {
		t.Errorf("%s: the page shows\n%s\ndialua dev printed\n%s", where, strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}
