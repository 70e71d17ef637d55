package server

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

// paramScripts answer with what a script sees of the parameters: t/dump
// sets a variable per parameter it iterates (in name order, with a count),
// t/read reads code and team directly, without iterating first (the lazy
// path of request.params and the request.call_id shortcut).
var paramScripts = map[string]string{
	"t/dump.lua": `
local names = {}
for k in pairs(request.params) do names[#names + 1] = k end
table.sort(names)
for _, k in ipairs(names) do response:set_var("p_" .. k, request.params[k]) end
response:set_var("count", #names)`,
	"t/read.lua": `
response:set_var("code", request.params.code or "<nil>")
response:set_var("team", request.params.team or "<nil>")
response:set_var("call_id", request.call_id or "<nil>")`,
}

// part is one part of a multipart body: a field, or a file when file is set.
type part struct{ name, value, file string }

func multipartBody(t *testing.T, parts []part) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		var err error
		if p.file != "" {
			var fw interface{ Write([]byte) (int, error) }
			if fw, err = w.CreateFormFile(p.name, p.file); err == nil {
				_, err = fw.Write([]byte(p.value))
			}
		} else {
			err = w.WriteField(p.name, p.value)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &b, w.FormDataContentType()
}

func (s *testServer) postBody(path, ctype string, body *bytes.Buffer) answer {
	s.t.Helper()
	resp, err := client.Post(s.base+path, ctype, body)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	return read(s.t, resp)
}

func wantVars(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: %s = %q (present %v), want %q", what, k, g, ok, v)
		}
	}
}

// TestMultipartForm: a multipart/form-data POST is read as form fields,
// after the query's parameters like a URL-encoded body: fields in order,
// the body's value winning over the query's, a later field over an earlier
// one of the same name, file parts skipped, values byte for byte.
func TestMultipartForm(t *testing.T) {
	s := start(t, testkit.Scripts(t, paramScripts), engine.Options{})

	body, ctype := multipartBody(t, []part{
		{name: "CallID", value: "5205dc5c"},
		{name: "code", value: "first"},
		{name: "text", value: "line one\r\nline two & <three> €"},
		{name: "empty", value: ""},
		{name: "code", value: "second"},
		{name: "team", value: "from a file", file: "team.txt"},
	})
	got := testkit.Vars(s.postBody("/t/dump?code=query&team=ops", ctype, body).verbs(t))
	wantVars(t, "multipart dump", got, map[string]string{
		"p_CallID": "5205dc5c", "p_code": "second", "p_text": "line one\r\nline two & <three> €",
		"p_empty": "", "p_team": "ops", "count": "5",
	})

	body, ctype = multipartBody(t, []part{{name: "code", value: "b1"}, {name: "code", value: "b2"}, {name: "CallID", value: "c9"}})
	got = testkit.Vars(s.postBody("/t/read?code=q&team=ops", ctype, body).verbs(t))
	wantVars(t, "multipart read", got, map[string]string{"code": "b2", "team": "ops", "call_id": "c9"})

	// A quoted boundary, the media type in capitals, and a part that is not
	// a form field (no name) are all as a client may send them.
	raw := "--a b\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\n42\r\n" +
		"--a b\r\nContent-Disposition: attachment\r\n\r\nignored\r\n--a b--\r\n"
	got = testkit.Vars(s.postBody("/t/read", `Multipart/Form-Data; boundary="a b"`, bytes.NewBufferString(raw)).verbs(t))
	wantVars(t, "quoted boundary", got, map[string]string{"code": "42", "team": "<nil>"})
}

// TestDuplicateParameters: the last value of a repeated name wins, within
// the query, within a URL-encoded body, and between them (the body comes
// after the query), whether the script reads the name or iterates.
func TestDuplicateParameters(t *testing.T) {
	s := start(t, testkit.Scripts(t, paramScripts), engine.Options{})

	got := testkit.Vars(s.get("/t/read?code=1&team=a&code=2&CallID=x&CallID=y").verbs(t))
	wantVars(t, "query read", got, map[string]string{"code": "2", "team": "a", "call_id": "y"})
	got = testkit.Vars(s.get("/t/dump?code=1&team=a&code=2").verbs(t))
	wantVars(t, "query dump", got, map[string]string{"p_code": "2", "p_team": "a", "count": "2"})

	form := url.Values{"code": {"b1", "b2"}, "team": {"body"}}
	got = testkit.Vars(s.post("/t/read?code=q1&code=q2&team=q", form).verbs(t))
	wantVars(t, "form read", got, map[string]string{"code": "b2", "team": "body"})
	got = testkit.Vars(s.post("/t/dump?code=q1&code=q2&team=q&only=q", form).verbs(t))
	wantVars(t, "form dump", got, map[string]string{"p_code": "b2", "p_team": "body", "p_only": "q", "count": "3"})

	// An empty value is a value: it wins over an earlier non-empty one.
	got = testkit.Vars(s.post("/t/read?code=q", url.Values{"code": {""}}).verbs(t))
	wantVars(t, "empty wins", got, map[string]string{"code": ""})
}

// TestMultipartLimits: a hostile multipart body is bounded: at most
// MaxFormParts parts (file parts count too) else 413, a malformed body 400,
// a multipart type without a boundary 415, and the body limit as for any
// POST. None of them runs the script.
func TestMultipartLimits(t *testing.T) {
	s := start(t, testkit.Scripts(t, paramScripts), engine.Options{})

	// Short parts, so that MaxFormParts of them fit in the test server's
	// 16 KiB body limit; the first is a file part, counted like the rest.
	many := func(n int) *bytes.Buffer {
		var b bytes.Buffer
		b.WriteString("--x\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\nv\r\n")
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, "--x\r\nContent-Disposition: form-data; name=f%d\r\n\r\nv\r\n", i)
		}
		b.WriteString("--x--\r\n")
		return &b
	}
	const mp = "multipart/form-data; boundary=x"
	if got := testkit.Vars(s.postBody("/t/dump", mp, many(MaxFormParts)).verbs(t)); got["count"] != fmt.Sprint(MaxFormParts-1) {
		t.Errorf("%d parts: count %q, want %d (the file part skipped)", MaxFormParts, got["count"], MaxFormParts-1)
	}
	s.postBody("/t/dump", mp, many(MaxFormParts+1)).wantEmptyError(t, http.StatusRequestEntityTooLarge)

	// Empty parts are the cheapest a client can send: still counted.
	var b strings.Builder
	for range MaxFormParts + 1 {
		b.WriteString("--x\r\n\r\n\r\n")
	}
	b.WriteString("--x--\r\n")
	s.postBody("/t/dump", mp, bytes.NewBufferString(b.String())).
		wantEmptyError(t, http.StatusRequestEntityTooLarge)

	for name, raw := range map[string]string{
		"no closing boundary": "--x\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\n42",
		"no boundary at all":  "code=42",
		"broken part header":  "--x\r\nContent-Disposition form-data\r\n\r\n42\r\n--x--\r\n",
	} {
		r := s.postBody("/t/read", mp, bytes.NewBufferString(raw))
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, r.status)
			continue
		}
		r.wantEmptyError(t, http.StatusBadRequest)
	}
	s.postBody("/t/read", "multipart/form-data", bytes.NewBufferString("--x--\r\n")).
		wantEmptyError(t, http.StatusUnsupportedMediaType)

	// The server's body limit (16 KiB in these tests) holds for multipart
	// too: one field larger than it is refused before any parsing.
	body, ctype := multipartBody(t, []part{{name: "code", value: strings.Repeat("9", 20<<10)}})
	s.postBody("/t/read", ctype, body).wantEmptyError(t, http.StatusRequestEntityTooLarge)

	if n := strings.Count(s.logs.String(), "script failed"); n != 0 {
		t.Errorf("%d script failures logged", n)
	}
}
