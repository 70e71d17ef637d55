package main

// The dev phone in a real browser: `dialua dev` on copies of the bundled
// scripts and examples, driven through Debian's chromium (headless) with
// chromedp. Without chromium the test skips, except under CI (CI set),
// where .ci/run installs it. DIALUA_SCREENSHOTS=DIR saves the screenshots
// docs/console.md shows.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found; .ci/run installs Debian's chromium package")
	}
	t.Skip("chromium not found (apt-get install chromium); the dev phone's browser test is skipped")
	return ""
}

// devProc is a running `dialua dev`.
type devProc struct {
	console, scripts string // base URLs
	out              *syncBuffer
}

func startDev(t *testing.T, scripts, ivrDir string) *devProc {
	t.Helper()
	listen, console := freePort(t), freePort(t)
	cmd := exec.Command(binPath, "dev", "--scripts", scripts, "--ivr", ivrDir, "--listen", listen, "--console", console)
	d := &devProc{console: "http://" + console, scripts: "http://" + listen, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("dialua dev output:\n%s", d.out.String())
		}
	})
	client := &http.Client{Timeout: time.Second}
	for i := 0; i < 100; i++ {
		select {
		case <-done:
			t.Fatalf("dialua dev exited:\n%s", d.out.String())
		default:
		}
		if resp, err := client.Get(d.console + "/api/ivrs"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the dev console did not answer within 5s:\n%s", d.out.String())
	return nil
}

func (d *devProc) calls(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(d.console + "/api/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []map[string]any
	json.NewDecoder(resp.Body).Decode(&list)
	return len(list)
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func TestDevPhoneInBrowser(t *testing.T) {
	chromium := findChromium(t)
	work := t.TempDir()
	scripts, examples := filepath.Join(work, "scripts"), filepath.Join(work, "examples")
	copyTree(t, bundledScripts, scripts)
	copyTree(t, "../../examples", examples)
	d := startDev(t, scripts, examples)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(work, "chromium")),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1500, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first action starts the browser, on a context without a timeout
	// (a timeout there would stop the browser); later steps have one each.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}

	shots := os.Getenv("DIALUA_SCREENSHOTS")
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), png, 0o644)
		})
	}
	until := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second))
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 40*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			page, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.querySelector("#transcript") || document.body).innerText + "\n" + ((document.querySelector("#call-state") || {}).innerText || "")`))
			t.Fatalf("%s: %v\npage:\n%s", step, err, page)
		}
	}
	eval := func(step string, dst any, js string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js))
		if err == nil {
			err = json.Unmarshal(raw, dst)
		}
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}

	// Place a call through demo/support and key a wrong id with the mouse,
	// then the right one with the keyboard.
	run("load the console",
		chromedp.Navigate(d.console+"/?ivr=support/support.ivr.yaml"),
		chromedp.WaitReady(css(`body[data-ready="1"]`)),
		chromedp.SetValue(css("#caller-name"), "Alice"),
		chromedp.Click(css("#call-btn")),
		until(`document.querySelector("#call-state").classList.contains("waiting")`),
	)
	var at string
	eval("the call waits in Support/start", &at, `document.querySelector("#flow .node.current").dataset.node`)
	if at != "Support/start" {
		t.Errorf("highlighted node while waiting for the subscription: %q, want Support/start", at)
	}
	for range 6 {
		run("press 1 on the keypad", chromedp.Click(css(`#keypad .key[data-key="1"]`)))
	}
	run("the wrong id is answered",
		until(`[...document.querySelectorAll("#transcript .step")].some(s => s.innerText.includes("invalid-subscription"))`),
		until(`document.querySelector("#call-state").classList.contains("waiting")`),
		chromedp.KeyEvent("934924"),
		until(`document.querySelector("#outcome").dataset.outcome === "queue gold-support"`),
		shot("console-call.png"),
	)
	var got struct {
		Tier, Attempts, AttemptsHistory, Current, Spoken, Session string
		ScriptEdge, Requests                                      int
		XML, Logs                                                 string
	}
	eval("read the page", &got, `(() => {
		const cell = (sel) => { const e = document.querySelector(sel); return e ? e.innerText : ""; };
		return {
			Tier: cell('#vars tr[data-var="subscription_tier"] td:nth-child(2)'),
			Attempts: cell('#vars tr[data-var="support_attempts"] td:nth-child(2)'),
			AttemptsHistory: (document.querySelector('#vars tr[data-var="support_attempts"]') || {}).title || "",
			Current: document.querySelector("#flow .node.current").dataset.node,
			Spoken: window.dialuaSpoken.join("|"),
			Session: cell('#session'),
			ScriptEdge: document.querySelectorAll('#flow .edge.script[data-to="QueueGold/start"]').length,
			Requests: document.querySelectorAll("#transcript .request").length,
			XML: [...document.querySelectorAll("#transcript .request pre.xml")].map(p => p.innerText).join("\n"),
			Logs: [...document.querySelectorAll("#transcript .request .log")].map(p => p.innerText).join("\n"),
		};
	})()`)
	// support_attempts was 1 after the wrong id, 0 once the right one came.
	if got.Tier != "gold" || got.Attempts != "0 (2 values)" || !strings.Contains(got.AttemptsHistory, `Support/start/3: "1"`) || !strings.Contains(got.AttemptsHistory, `: "0"`) {
		t.Errorf("variables panel: subscription_tier %q, support_attempts %q, its history %q", got.Tier, got.Attempts, got.AttemptsHistory)
	}
	if got.Current != "QueueGold/start" || got.ScriptEdge == 0 {
		t.Errorf("flow graph: current node %q (want QueueGold/start), script jump edges %d", got.Current, got.ScriptEdge)
	}
	if !strings.Contains(got.Spoken, "Thank you, Alice Martin. Connecting you to gold support.") {
		t.Errorf("spoken prompts: %q", got.Spoken)
	}
	if got.Requests < 4 || !strings.Contains(got.XML, `  <Jump context="QueueGold" option="start"/>`) {
		t.Errorf("%d request cards; pretty-printed answers:\n%s", got.Requests, got.XML)
	}
	if !strings.Contains(got.Logs, "INFO request") || !strings.Contains(got.Logs, "status=200") {
		t.Errorf("log lines in the request cards:\n%s", got.Logs)
	}

	// The bundled scenarios pass; then the author edits the script: the
	// page says so, a replay with the same keys hears the new prompt, and
	// the scenario file now fails with its diff.
	run("run the scenarios",
		chromedp.SetValue(css("#scenario"), "support/support.test.yaml"),
		chromedp.Click(css("#run-scenarios")),
		until(`(() => { const s = document.querySelector("#scenario-results .summary"); return s && s.dataset.failed === "0" && +s.dataset.passed >= 6; })()`),
		shot("console-scenarios.png"),
	)
	src := filepath.Join(scripts, "demo", "support.lua")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte(`". Connecting you to "`), []byte(`". Putting you through to "`), 1)
	if bytes.Equal(edited, b) {
		t.Fatal("support.lua no longer has the prompt this test edits")
	}
	if err := os.WriteFile(src, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	run("the save shows", until(`!document.querySelector("#saved").hidden && document.querySelector("#saved").dataset.file === "demo/support.lua"`))
	waitServed(t, d.scripts+"/demo/support?subscription_code=934924", "Putting you through")
	run("replay the call",
		chromedp.Click(css("#saved-replay")),
		until(`document.querySelector("#outcome").dataset.outcome === "queue gold-support" && window.dialuaSpoken.some(s => s.includes("Putting you through to gold support"))`),
		shot("console-saved.png"),
		chromedp.Click(css("#run-scenarios")),
		until(`(() => { const s = document.querySelector("#scenario-results .summary"); return s && +s.dataset.failed > 0; })()`),
	)
	var diff string
	eval("read the diff", &diff, `[...document.querySelectorAll("#scenario-results .result.fail pre.diff")].map(p => p.innerText).join("\n")`)
	if !strings.Contains(diff, "Putting you through to gold support") {
		t.Errorf("scenario diff after the edit:\n%s", diff)
	}

	// A script error shows in its request's card with file:line and the
	// line of source it points at.
	if err := os.WriteFile(src, append([]byte("local account = nil\nlocal tier = account.tier\n"), edited...), 0o644); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, d.scripts+"/demo/support?subscription_code=934924", http.StatusInternalServerError)
	run("replay into the error",
		chromedp.Click(css("#replay-btn")),
		until(`[...document.querySelectorAll("#transcript .request .log .src")].some(e => e.innerText.includes("demo/support.lua:2") && e.innerText.includes("2 | local tier = account.tier"))`),
		shot("console-error.png"),
	)

	// Another context to start in, and a call that is never answered.
	run("start in MainMenu",
		chromedp.SetValue(css("#ivr"), "routing/routing.ivr.yaml"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#ivr").dispatchEvent(new Event("change"))`),
		until(`[...document.querySelectorAll("#entry option")].some(o => o.value === "MainMenu")`),
		chromedp.SetValue(css("#entry"), "MainMenu"),
		chromedp.Click(css("#call-btn")),
		until(`document.querySelector("#call-state").classList.contains("waiting") && document.querySelector("#flow .node.current").dataset.node === "MainMenu/start"`),
		chromedp.Click(css("#hangup-btn")),
		until(`document.querySelector("#outcome").dataset.outcome === "caller-hangup"`),
		chromedp.SetValue(css("#status"), "BUSY"),
		chromedp.Click(css("#call-btn")),
		until(`document.querySelector("#outcome").dataset.outcome === "unanswered BUSY"`),
		chromedp.SetValue(css("#status"), ""),
	)

	// Another origin cannot drive the console: a page on another loopback
	// port posts to it the ways a page can without asking (a form, a
	// no-cors fetch) and opens its live channel.
	before := d.calls(t)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id=f method=POST action="%[1]s/api/calls" enctype="text/plain"><input name='{"ivr":"support/support.ivr.yaml","caller":{},"x":"' value='"}'></form>
<script>
fetch("%[1]s/api/calls", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: '{"ivr":"support/support.ivr.yaml","caller":{}}'}).finally(() => { document.title += " fetched"; });
const es = new EventSource("%[1]s/api/events");
es.onerror = () => { document.title += " refused"; es.close(); };
</script>`, d.console)
	}))
	defer evil.Close()
	run("another origin's page",
		chromedp.Navigate(evil.URL),
		until(`document.title.includes("fetched") && document.title.includes("refused")`),
		chromedp.Submit(css("#f")),
		chromedp.Sleep(300*time.Millisecond),
	)
	if n := d.calls(t); n != before {
		t.Errorf("another origin placed %d call(s)", n-before)
	}
}

// waitServed waits until the server answers url with want in the body:
// the engine's hot swap and the page's notice are separate watchers.
func waitServed(t *testing.T, url, want string) {
	t.Helper()
	client := newClient()
	var body []byte
	for i := 0; i < 50; i++ {
		resp, err := client.Get(url)
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(body, []byte(want)) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the edited script was not served within 5s: %s", body)
}

// waitStatus waits until the server answers url with the status.
func waitStatus(t *testing.T, url string, status int) {
	t.Helper()
	client := newClient()
	got := 0
	for i := 0; i < 50; i++ {
		if resp, err := client.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if got = resp.StatusCode; got == status {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: HTTP %d after 5s, want %d", url, got, status)
}
