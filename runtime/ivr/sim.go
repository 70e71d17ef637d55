package ivr

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dialua/dialua/runtime/protocol"
)

// Caller is the simulated person on the line.
type Caller struct {
	Number    string `yaml:"number" json:"number,omitempty"`
	Name      string `yaml:"name" json:"name,omitempty"`
	Extension string `yaml:"extension" json:"extension,omitempty"` // CallerExtension, for internal calls
	// Digits are the keys the caller presses, in order, as the IVR asks
	// for them: 0-9, * and #. An underscore is a silence: the caller lets
	// one prompt time out. After the last key the caller stays silent.
	Digits    string `yaml:"digits" json:"digits,omitempty"`
	CallID    string `yaml:"call_id" json:"call_id,omitempty"`         // default: random
	CallAPIID string `yaml:"call_api_id" json:"call_api_id,omitempty"` // for calls started through the call-control API
	// Status is how the call turns out: ANSWER (the default) walks the IVR;
	// BUSY, NOANSWER, CANCEL, CONGESTION or CHANUNAVAIL is a call that is
	// never answered: the Dial-In or Dial-Out event is sent, then the
	// Hangup event with that CallStatus, and nothing in between.
	Status string `yaml:"status" json:"status,omitempty"`
}

// Options say where the server is and how to reach it.
type Options struct {
	// BaseURL is prepended to request URLs that are paths ("/demo/x").
	BaseURL string
	// Client sends the requests; default: a client with the IVR's timeout.
	Client *http.Client
	// CallTimeout bounds the whole call in real time; default 5 minutes
	// (30 for a live call, where a person presses the keys).
	CallTimeout time.Duration
	// Entry starts the call in this context instead of the IVR's entry.
	Entry string
	// Strict makes a 200 answer whose body is not XML end the call as an
	// error; by default it is a warning and the IVR carries on, as a real
	// one does with a PHP warning for an answer.
	Strict bool
	// OnStep, when set, sees every step as it is added to the transcript,
	// on the goroutine that walks the call.
	OnStep func(Step)
}

// Bounds that keep a hostile or broken server from making the simulator
// itself run away: the transcript of one call, the verbs of one answer, the
// size of one answer, and how much of each body the transcript keeps.
const (
	maxTranscript   = 20000
	maxVerbs        = 1000
	maxResponseBody = 1 << 20
	keptBody        = 8 << 10
)

// Outcome is how a call ended.
type Outcome struct {
	State  string `json:"state"`            // hangup, transfer, queue, ended, error, loop
	Target string `json:"target,omitempty"` // transfer destination or queue
	Reason string `json:"reason,omitempty"`
}

func (o Outcome) String() string {
	s := o.State
	if o.Target != "" {
		s += " " + o.Target
	}
	return s
}

// Outcome states.
const (
	EndHangup   = "hangup"   // a Hangup verb or hangup action
	EndTransfer = "transfer" // a transfer action
	EndQueue    = "queue"    // a queue action
	EndEnded    = "ended"    // the option ran out of actions, or no input and no timeout option
	EndError    = "error"    // the server's answer broke the protocol
	EndLoop     = "loop"     // the loop guard stopped the call
	// EndUnanswered: the caller model's status says the call was never
	// answered (Target is the CallStatus: BUSY, NOANSWER, ...).
	EndUnanswered = "unanswered"
	// EndCallerHangup: the caller hung up (a ! in the digits, or
	// Live.Hangup).
	EndCallerHangup = "caller-hangup"
)

// Step is one line of the transcript.
type Step struct {
	T      float64           `json:"t"`            // simulated seconds since the call started
	At     string            `json:"at,omitempty"` // context/option/priority of the action
	Kind   string            `json:"kind"`         // play, tts, key, silence, request, redirect, response, set, caller, jump, pause, wait, end, warning, error, note
	Sound  string            `json:"sound,omitempty"`
	Text   string            `json:"text,omitempty"`
	Key    string            `json:"key,omitempty"`
	Var    string            `json:"var,omitempty"`
	Value  string            `json:"value,omitempty"`
	Method string            `json:"method,omitempty"`
	URL    string            `json:"url,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	Status int               `json:"status,omitempty"`
	Body   string            `json:"body,omitempty"`
	// Ms is how long a request took, in real milliseconds (response steps).
	Ms float64 `json:"ms,omitempty"`
	// ByScript marks a jump a script's answer made, as opposed to a jump
	// action of the IVR file.
	ByScript bool `json:"by_script,omitempty"`
}

// Transcript is everything that happened on one call.
type Transcript struct {
	IVR      string            `json:"ivr"`
	CallID   string            `json:"call_id"`
	Steps    []Step            `json:"steps"`
	Vars     map[string]string `json:"vars"`
	Outcome  Outcome           `json:"outcome"`
	Elapsed  float64           `json:"elapsed"`
	Requests []string          `json:"requests"` // each Call Interactive request: method and configured URL after $variable substitution
	Heard    []string          `json:"heard"`    // sounds (folder/name) and "tts:<text>", in order
}

// call is the state of a call in progress.
type call struct {
	ivr    *IVR
	opts   Options
	caller Caller
	keys   []byte
	live   *Live // nil: the caller's keys are all in keys
	vars   map[string]string
	now    float64
	tr     *Transcript
	at     string
	steps  int
	ctx    context.Context
}

// Run simulates one whole call, with the keys the caller's Digits give.
func Run(ctx context.Context, ivr *IVR, caller Caller, opts Options) *Transcript {
	c, cancel := newCall(ctx, ivr, caller, opts, nil)
	defer cancel()
	return c.run()
}

func newCall(ctx context.Context, ivr *IVR, caller Caller, opts Options, live *Live) (*call, context.CancelFunc) {
	if caller.CallID == "" {
		var b [16]byte
		rand.Read(b[:])
		caller.CallID = hex.EncodeToString(b[:])
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: time.Duration(ivr.Timeout * float64(time.Second))}
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Minute
		if live != nil {
			opts.CallTimeout = 30 * time.Minute
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
	keys, _ := NormalizeDigits(caller.Digits)
	c := &call{
		ivr: ivr, opts: opts, caller: caller, ctx: ctx, live: live,
		keys: []byte(keys),
		vars: map[string]string{},
		tr:   &Transcript{IVR: ivr.Name, CallID: caller.CallID},
	}
	return c, cancel
}

func (c *call) run() *Transcript {
	status := strings.ToUpper(c.caller.Status)
	if status == "" {
		status = "ANSWER"
	}
	if err := c.caller.Check(); err != nil {
		// No request is sent for a caller the simulator cannot play.
		c.tr.Outcome = Outcome{State: EndError, Reason: "caller: " + err.Error()}
		c.step(Step{Kind: "error", Text: c.tr.Outcome.Reason})
		c.tr.Vars = c.vars
		return c.tr
	}
	c.tr.Outcome = c.walk(status)
	c.step(Step{Kind: "end", Text: c.tr.Outcome.String() + reasonSuffix(c.tr.Outcome.Reason)})
	c.event(c.ivr.Events.Hangup, "hangup", status)
	c.tr.Vars = c.vars
	c.tr.Elapsed = c.now
	return c.tr
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

func (c *call) step(s Step) {
	if len(c.tr.Steps) >= maxTranscript {
		return
	}
	if len(s.Body) > keptBody {
		s.Body = s.Body[:keptBody] + "...[truncated]"
	}
	s.T = c.now
	if s.At == "" {
		s.At = c.at
	}
	c.tr.Steps = append(c.tr.Steps, s)
	if c.opts.OnStep != nil {
		c.opts.OnStep(s)
	}
	switch s.Kind {
	case "play":
		c.tr.Heard = append(c.tr.Heard, s.Sound)
	case "tts":
		c.tr.Heard = append(c.tr.Heard, "tts:"+s.Text)
	}
}

// walk runs actions from the entry context until the call ends.
func (c *call) walk(status string) Outcome {
	if strings.EqualFold(c.ivr.Defaults["CallFlow"], "OUT") {
		c.event(c.ivr.Events.DialOut, "dial-out", "CALLING")
	} else {
		c.event(c.ivr.Events.DialIn, "dial-in", "CALLING")
	}
	if status != "ANSWER" {
		c.step(Step{Kind: "note", Text: "the call is not answered: " + status})
		return Outcome{State: EndUnanswered, Target: status}
	}
	ctxName, option, pc := c.ivr.Entry, "start", 0
	if c.opts.Entry != "" {
		ctxName = c.opts.Entry
		if cx := c.ivr.Contexts[ctxName]; cx == nil || cx.Options["start"] == nil {
			return Outcome{State: EndError, Reason: fmt.Sprintf("entry context %q does not exist or has no start option", ctxName)}
		}
	}
	for {
		acts := c.ivr.Contexts[ctxName].Options[option]
		if pc >= len(acts) {
			c.at = ""
			return Outcome{State: EndEnded, Reason: fmt.Sprintf("no more actions in %s/%s", ctxName, option)}
		}
		c.steps++
		if len(c.tr.Steps) >= maxTranscript {
			return Outcome{State: EndError, Reason: fmt.Sprintf("the call's transcript passed %d steps", maxTranscript)}
		}
		if c.steps > c.ivr.MaxSteps {
			return Outcome{State: EndLoop, Reason: fmt.Sprintf("more than %d actions: the call goes round in circles", c.ivr.MaxSteps)}
		}
		if err := c.ctx.Err(); err != nil {
			return Outcome{State: EndError, Reason: err.Error()}
		}
		if c.live != nil && c.live.hungUp.Load() {
			return *c.callerHungUp()
		}
		a := acts[pc]
		c.at = fmt.Sprintf("%s/%s/%d", ctxName, option, pc+1)
		pc++
		next, end := c.act(&a, ctxName)
		if end != nil {
			return *end
		}
		if next != nil {
			ctxName, option, pc = next.context, next.option, next.pc
		}
	}
}

// position is where the call goes next.
type position struct {
	context, option string
	pc              int
}

func (c *call) act(a *Action, ctxName string) (*position, *Outcome) {
	switch a.Kind {
	case ActPlay:
		c.step(Step{Kind: "play", Sound: joinFolder(a.Folder, a.Sound)})
	case ActTTS:
		c.step(Step{Kind: "tts", Text: c.subst(a.Text, nil)})
	case ActRecord:
		digits := ""
		for len(digits) < a.Digits {
			k, ok := c.key("record " + a.Var)
			if k == hangupKey {
				return nil, c.callerHungUp()
			}
			if !ok {
				c.step(Step{Kind: "silence", Text: fmt.Sprintf("no key within %gs", a.Wait)})
				c.now += a.Wait
				break
			}
			if a.Finish != "" && k == a.Finish[0] {
				c.step(Step{Kind: "key", Key: string(k)})
				break
			}
			digits += string(k)
			c.step(Step{Kind: "key", Key: string(k)})
		}
		c.set(a.Var, digits)
	case ActMenu:
		k, ok := c.key("menu " + ctxName)
		if k == hangupKey {
			return nil, c.callerHungUp()
		}
		opts := c.ivr.Contexts[ctxName].Options
		if !ok {
			c.step(Step{Kind: "silence", Text: fmt.Sprintf("no key within %gs", a.Wait)})
			c.now += a.Wait
			if opts["timeout"] != nil {
				return &position{ctxName, "timeout", 0}, nil
			}
			return nil, &Outcome{State: EndEnded, Reason: "no key pressed and " + ctxName + " has no timeout option"}
		}
		c.step(Step{Kind: "key", Key: string(k)})
		if opts[string(k)] != nil {
			return &position{ctxName, string(k), 0}, nil
		}
		if opts["invalid"] != nil {
			return &position{ctxName, "invalid", 0}, nil
		}
		return nil, &Outcome{State: EndEnded, Reason: "key " + string(k) + " has no option and " + ctxName + " has no invalid option"}
	case ActSet:
		c.set(a.Var, c.subst(a.Value, nil))
	case ActCaller:
		if a.Name != "" {
			c.caller.Name = c.subst(a.Name, nil)
		}
		if a.Number != "" {
			c.caller.Number = c.subst(a.Number, nil)
		}
		c.step(Step{Kind: "caller", Text: c.caller.Name, Value: c.caller.Number})
	case ActInteractive:
		return c.interactive(&a.Request)
	case ActJump:
		c.step(Step{Kind: "jump", Text: fmt.Sprintf("%s/%s", a.Context, a.Option)})
		return c.jump(a.Context, a.Option, a.Priority)
	case ActPause:
		c.step(Step{Kind: "pause", Value: strconv.Itoa(a.Seconds)})
		c.now += float64(a.Seconds)
	case ActTransfer:
		c.step(Step{Kind: "note", Text: "transferred to " + a.Target})
		return nil, &Outcome{State: EndTransfer, Target: a.Target}
	case ActQueue:
		c.step(Step{Kind: "note", Text: "queued in " + a.Target})
		return nil, &Outcome{State: EndQueue, Target: a.Target}
	case ActHangup:
		return nil, &Outcome{State: EndHangup, Reason: "hangup action"}
	}
	return nil, nil
}

func joinFolder(folder, sound string) string {
	if folder == "" {
		return sound
	}
	return strings.TrimSuffix(folder, "/") + "/" + sound
}

// hangupKey is what key returns when the caller hangs up.
const hangupKey = '!'

// key takes the caller's next key; false means silence, and hangupKey that
// the caller hung up. After the last preset key the caller is silent, or, on
// a live call, is asked (what says what the IVR waits for).
func (c *call) key(what string) (byte, bool) {
	if len(c.keys) == 0 && c.live != nil {
		c.step(Step{Kind: "wait", Text: what})
		c.keys = c.live.next(c.ctx)
	}
	if len(c.keys) == 0 {
		return 0, false
	}
	k := c.keys[0]
	c.keys = c.keys[1:]
	switch k {
	case '_':
		return 0, false
	case hangupKey:
		return hangupKey, false
	}
	return k, true
}

func (c *call) callerHungUp() *Outcome {
	c.step(Step{Kind: "note", Text: "the caller hangs up"})
	return &Outcome{State: EndCallerHangup}
}

var unansweredStatus = map[string]bool{"BUSY": true, "NOANSWER": true, "CANCEL": true, "CONGESTION": true, "CHANUNAVAIL": true}

func (c *call) set(name, value string) {
	c.vars[name] = value
	c.step(Step{Kind: "set", Var: name, Value: value})
}

func (c *call) jump(ctxName, option string, priority int) (*position, *Outcome) {
	if option == "" {
		option = "start"
	}
	if priority == 0 {
		priority = 1
	}
	fail := func(format string, args ...any) (*position, *Outcome) {
		msg := fmt.Sprintf(format, args...)
		c.step(Step{Kind: "error", Text: msg})
		return nil, &Outcome{State: EndError, Reason: msg}
	}
	cx := c.ivr.Contexts[ctxName]
	if cx == nil {
		return fail("Jump to unknown context %q", ctxName)
	}
	acts, ok := cx.Options[option]
	if !ok {
		return fail("Jump to %s: no option %q", ctxName, option)
	}
	if priority > len(acts) {
		return fail("Jump to %s/%s priority %d: the option has %d actions", ctxName, option, priority, len(acts))
	}
	return &position{ctxName, option, priority - 1}, nil
}

// substURL substitutes $variables in a configured URL: form-encoded in the
// query string, path-escaped before it.
func (c *call) substURL(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return c.subst(s[:i], url.PathEscape) + "?" + c.subst(s[i+1:], url.QueryEscape)
	}
	return c.subst(s, url.PathEscape)
}

// subst replaces $name with the variable's value (unset: empty), passed
// through escape when one is given.
func (c *call) subst(s string, escape func(string) string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || j > i+1 && s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == i+1 {
			b.WriteByte('$')
			continue
		}
		v := c.vars[s[i+1:j]]
		if escape != nil {
			v = escape(v)
		}
		b.WriteString(v)
		i = j - 1
	}
	return b.String()
}

// defaultParams are the parameters a VoipNow-style IVR sends on every
// request, empty when it has no value for them (its documented example
// request has CallerIDName= and the like).
var defaultParams = []string{
	protocol.ParamCallID, protocol.ParamCallerIDNum, protocol.ParamCallerIDName,
	protocol.ParamCalledDID, protocol.ParamCalledExtension, protocol.ParamCallStatus,
	protocol.ParamCallFlow, protocol.ParamCallerExtension, protocol.ParamCalledNumber,
	protocol.ParamCallAPIID,
}

// defaults builds the default parameters of a request: every one of
// defaultParams, in the order VoipNow documents them, from the caller and
// the IVR file's defaults; then the file's other defaults, sorted; then
// EventType, only when the IVR file asks for it.
func (c *call) defaults(status, eventType string) paramList {
	vals := map[string]string{}
	for k, v := range c.ivr.Defaults {
		vals[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			vals[k] = v
		}
	}
	set(protocol.ParamCallID, c.caller.CallID)
	set(protocol.ParamCallerIDNum, c.caller.Number)
	set(protocol.ParamCallerIDName, c.caller.Name)
	set(protocol.ParamCallerExtension, c.caller.Extension)
	set(protocol.ParamCallAPIID, c.caller.CallAPIID)
	set(protocol.ParamCallStatus, status)
	if vals[protocol.ParamCallFlow] == "" {
		vals[protocol.ParamCallFlow] = "IN"
	}
	if c.ivr.EventType != nil && *c.ivr.EventType {
		vals[protocol.ParamEventType] = eventType
	}
	var p paramList
	for _, k := range defaultParams {
		p = append(p, [2]string{k, vals[k]})
		delete(vals, k)
	}
	ev, hasEv := vals[protocol.ParamEventType]
	delete(vals, protocol.ParamEventType)
	rest := make([]string, 0, len(vals))
	for k := range vals {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		p = append(p, [2]string{k, vals[k]})
	}
	if hasEv {
		p = append(p, [2]string{protocol.ParamEventType, ev})
	}
	return p
}

// paramList is parameters in the order they are sent.
type paramList [][2]string

// Encode form-encodes the list in order.
func (p paramList) Encode() string {
	var b strings.Builder
	for i, kv := range p {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[0]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[1]))
	}
	return b.String()
}

// Map is the list as a map, for the transcript.
func (p paramList) Map() map[string]string {
	m := make(map[string]string, len(p))
	for _, kv := range p {
		m[kv[0]] = kv[1]
	}
	return m
}

// send makes one request and returns the decoded response, or an error step
// already recorded. A transport error or a non-200 answer is recorded and
// treated as an empty response (the IVR carries on); a 200 answer that is
// not a valid response ends the call.
func (c *call) send(r *Request, status, eventType string) (*protocol.Response, *Outcome) {
	target := c.substURL(r.URL)
	if strings.HasPrefix(target, "/") {
		target = strings.TrimSuffix(c.opts.BaseURL, "/") + target
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		c.step(Step{Kind: "error", Text: fmt.Sprintf("cannot request %q: not an absolute URL (give the server's base URL with --url)", target)})
		return nil, &Outcome{State: EndError, Reason: "bad request URL " + target}
	}
	params := c.defaults(status, eventType)
	var req *http.Request
	if r.Method == "POST" {
		req, err = http.NewRequestWithContext(c.ctx, "POST", u.String(), strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		q := u.RawQuery
		if q != "" {
			q += "&"
		}
		u.RawQuery = q + params.Encode()
		req, err = http.NewRequestWithContext(c.ctx, "GET", u.String(), nil)
	}
	if err != nil {
		c.step(Step{Kind: "error", Text: err.Error()})
		return nil, &Outcome{State: EndError, Reason: err.Error()}
	}
	flat := params.Map()
	c.step(Step{Kind: "request", Method: r.Method, URL: req.URL.String(), Params: flat, Text: r.Event})
	if eventType == "call_interactive" {
		c.tr.Requests = append(c.tr.Requests, r.Method+" "+c.substURL(r.URL))
	}
	began := time.Now()
	resp, err := c.client().Do(req)
	if err != nil {
		c.step(Step{Kind: "error", Text: "request failed: " + err.Error() + "; the IVR carries on"})
		return &protocol.Response{}, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	resp.Body.Close()
	if err != nil {
		c.step(Step{Kind: "error", Text: "reading the response: " + err.Error() + "; the IVR carries on"})
		return &protocol.Response{}, nil
	}
	if len(body) > maxResponseBody {
		msg := fmt.Sprintf("response larger than %d bytes", maxResponseBody)
		c.step(Step{Kind: "error", Text: msg, Body: string(body)})
		return nil, &Outcome{State: EndError, Reason: msg}
	}
	ms := float64(time.Since(began).Microseconds()) / 1000
	c.step(Step{Kind: "response", Status: resp.StatusCode, Body: string(body), Ms: ms})
	if resp.StatusCode != http.StatusOK {
		c.step(Step{Kind: "error", Text: fmt.Sprintf("HTTP %d: the IVR ignores the body and carries on", resp.StatusCode)})
		return &protocol.Response{}, nil
	}
	if !looksLikeXML(body) {
		msg := "the answer is not XML (a PHP warning or a plain-text message?)"
		if c.opts.Strict {
			c.step(Step{Kind: "error", Text: msg + "; --strict ends the call", Body: string(body)})
			return nil, &Outcome{State: EndError, Reason: msg}
		}
		c.step(Step{Kind: "warning", Text: msg + ": the IVR ignores it and carries on (--strict makes this an error)"})
		return &protocol.Response{}, nil
	}
	decoded, err := protocol.Decode(body)
	if err != nil {
		c.step(Step{Kind: "error", Text: err.Error(), Body: string(body)})
		return nil, &Outcome{State: EndError, Reason: err.Error()}
	}
	if len(decoded.Verbs) > maxVerbs {
		msg := fmt.Sprintf("response has %d verbs; the simulator takes at most %d", len(decoded.Verbs), maxVerbs)
		c.step(Step{Kind: "error", Text: msg})
		return nil, &Outcome{State: EndError, Reason: msg}
	}
	return decoded, nil
}

// client is the call's HTTP client, with every redirect it follows
// recorded in the transcript (a real IVR follows them too, at most 10).
func (c *call) client() *http.Client {
	cl := *c.opts.Client
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		c.step(Step{Kind: "redirect", Status: status, Method: req.Method, URL: req.URL.String()})
		if len(via) >= 10 {
			return fmt.Errorf("stopped after 10 redirects")
		}
		return nil
	}
	return &cl
}

// looksLikeXML tells an XML answer (maybe empty, maybe after a byte-order
// mark) from text that is not XML at all; malformed XML is still XML here,
// and protocol.Decode reports what is wrong with it.
func looksLikeXML(body []byte) bool {
	b := bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) == 0 || b[0] == '<'
}

// interactive runs a Call Interactive action: one request, then its verbs in
// order, until a Jump or Hangup (whose followers are never executed).
func (c *call) interactive(r *Request) (*position, *Outcome) {
	resp, end := c.send(r, "ANSWER", "call_interactive")
	if end != nil {
		return nil, end
	}
	for i, v := range resp.Verbs {
		switch v.Kind {
		case protocol.SetVar:
			c.set(v.Name, v.Text)
		case protocol.PlaySound:
			c.step(Step{Kind: "play", Sound: joinFolder(v.Folder, v.Text), Text: v.String()})
			for n := 1; n < v.Loop && len(c.tr.Heard) < maxTranscript; n++ {
				c.tr.Heard = append(c.tr.Heard, joinFolder(v.Folder, v.Text)) // heard again: loop
			}
			if v.DigitVar != "" && v.Where != "foreground" {
				k, ok := c.key("a key during " + v.Text)
				if k == hangupKey {
					return nil, c.callerHungUp()
				}
				if ok {
					c.step(Step{Kind: "key", Key: string(k)})
					c.set(v.DigitVar, string(k))
				}
			}
		case protocol.PlayTTS:
			c.step(Step{Kind: "tts", Text: v.Text, Value: v.Voice})
		case protocol.Pause:
			c.step(Step{Kind: "pause", Value: strconv.Itoa(v.Length)})
			c.now += float64(v.Length)
		case protocol.SetCaller:
			c.caller.Name, c.caller.Number = v.Name, v.Number
			c.step(Step{Kind: "caller", Text: v.Name, Value: v.Number})
		case protocol.Hangup:
			c.ignoredAfter(resp.Verbs[i+1:], "Hangup")
			return nil, &Outcome{State: EndHangup, Reason: "Hangup from " + c.at}
		case protocol.Jump:
			c.step(Step{Kind: "jump", Text: v.Context + "/" + v.Option + priorityText(v.Priority), ByScript: true})
			c.ignoredAfter(resp.Verbs[i+1:], "Jump")
			return c.jump(v.Context, v.Option, v.Priority)
		}
	}
	return nil, nil
}

func priorityText(p int) string {
	if p == 0 {
		return ""
	}
	return "/" + strconv.Itoa(p)
}

func (c *call) ignoredAfter(rest []protocol.Verb, verb string) {
	if len(rest) > 0 {
		c.step(Step{Kind: "note", Text: fmt.Sprintf("%d verb(s) after %s not executed", len(rest), verb)})
	}
}

// event sends a call-event request, if configured. Its response is checked
// like any other, but its verbs are not executed: events notify the script,
// they do not steer the call.
func (c *call) event(r *Request, eventType, status string) {
	if r == nil {
		return
	}
	saved := c.at
	c.at = "event " + eventType
	resp, _ := c.send(r, status, eventType)
	if resp != nil && len(resp.Verbs) > 0 {
		c.step(Step{Kind: "note", Text: fmt.Sprintf("%d verb(s) in a %s event response are not executed", len(resp.Verbs), eventType)})
	}
	c.at = saved
}
