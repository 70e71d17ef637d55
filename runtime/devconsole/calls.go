package devconsole

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/dialua/dialua/runtime/ivr"
)

// Bounds on what the page can make the console hold: calls kept (running
// or finished, for their streams), events per call, log lines per call.
const (
	maxCalls    = 16
	maxEvents   = 30000
	maxLogLines = 2000
	maxBytes    = 8 << 20 // of bodies, URLs, parameters and log text, per call
)

// Event is one thing the page learns about a call, in order: a transcript
// step, a log line of the script, the call's session after an answer, and
// last the end of the call.
type Event struct {
	Seq     int               `json:"seq"`
	Type    string            `json:"type"` // step, log, session, end
	Step    *ivr.Step         `json:"step,omitempty"`
	Log     *LogLine          `json:"log,omitempty"`
	Session map[string]string `json:"session,omitempty"`
	End     *CallEnd          `json:"end,omitempty"`
}

// CallEnd is how a call finished, and what the page needs to replay it.
type CallEnd struct {
	Outcome ivr.Outcome       `json:"outcome"`
	Vars    map[string]string `json:"vars"`
	Inputs  string            `json:"inputs"` // keys pressed, _ for silences, ! for a hang-up
}

// liveCall is a call placed from the page.
type liveCall struct {
	ID      string
	CallID  string
	IVR     string
	Started time.Time

	mu       sync.Mutex
	live     *ivr.Live // nil until the walker has started
	stopped  bool
	events   []Event
	logLines int
	bytes    int // what its events hold, roughly
	full     bool
	inputs   []byte
	ended    bool
	wake     chan struct{} // closed and replaced at every new event
}

func (lc *liveCall) add(e Event) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.ended {
		return
	}
	if e.Type == "log" {
		lc.logLines++
		if lc.logLines > maxLogLines {
			if lc.logLines == maxLogLines+1 {
				e = Event{Type: "log", Log: &LogLine{Level: "WARN", Msg: fmt.Sprintf("more than %d log lines in this call: the console shows no more", maxLogLines)}}
			} else {
				return
			}
		}
	}
	if e.Type != "end" {
		if lc.full {
			return
		}
		lc.bytes += e.size()
		if len(lc.events) >= maxEvents || lc.bytes > maxBytes {
			// One note says why the page sees no more; the end still comes.
			lc.full = true
			e = Event{Type: "log", Log: &LogLine{Level: "WARN", Msg: "this call's transcript is too large for the console: it shows no more steps until the end"}}
		}
	}
	e.Seq = len(lc.events)
	lc.events = append(lc.events, e)
	if e.Type == "end" {
		lc.ended = true
	}
	close(lc.wake)
	lc.wake = make(chan struct{})
}

// size is roughly what an event holds in memory.
func (e *Event) size() int {
	n := 64
	if s := e.Step; s != nil {
		n += len(s.Body) + len(s.URL) + len(s.Text) + len(s.Value)
		for k, v := range s.Params {
			n += len(k) + len(v)
		}
	}
	if l := e.Log; l != nil {
		n += len(l.Msg) + len(l.Source)
		for k, v := range l.Attrs {
			n += len(k) + len(v)
		}
	}
	for k, v := range e.Session {
		n += len(k) + len(v)
	}
	return n
}

// since returns the events from seq on, a channel closed at the next one,
// and whether the call has ended.
func (lc *liveCall) since(seq int) ([]Event, <-chan struct{}, bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if seq < 0 || seq > len(lc.events) {
		seq = len(lc.events)
	}
	return lc.events[seq:], lc.wake, lc.ended
}

func (lc *liveCall) input(k string) {
	lc.mu.Lock()
	if len(lc.inputs) < 4096 {
		lc.inputs = append(lc.inputs, k...)
	}
	lc.mu.Unlock()
}

func (lc *liveCall) setLive(l *ivr.Live) {
	lc.mu.Lock()
	lc.live = l
	stop := lc.stopped
	lc.mu.Unlock()
	if stop {
		l.Stop()
	}
}

// walker is the running call; nil when the call was let go of before its
// walker started.
func (lc *liveCall) walker() *ivr.Live {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.live
}

func (lc *liveCall) stop() {
	lc.mu.Lock()
	lc.stopped = true
	l := lc.live
	lc.mu.Unlock()
	if l != nil {
		l.Stop()
	}
}

func (lc *liveCall) isEnded() bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.ended
}

// registry holds the page's calls, by id and by CallID (for log lines).
type registry struct {
	mu       sync.Mutex
	order    []*liveCall
	byID     map[string]*liveCall
	byCallID map[string]*liveCall
}

func newRegistry() *registry {
	return &registry{byID: map[string]*liveCall{}, byCallID: map[string]*liveCall{}}
}

// add keeps a new call, letting go of the oldest when full: a finished one
// first, else the oldest running one, which is stopped.
func (r *registry) add(lc *liveCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.order) >= maxCalls {
		victim := 0
		for i, o := range r.order {
			if o.isEnded() {
				victim = i
				break
			}
		}
		old := r.order[victim]
		old.stop()
		r.order = append(r.order[:victim], r.order[victim+1:]...)
		delete(r.byID, old.ID)
		delete(r.byCallID, old.CallID)
	}
	r.order = append(r.order, lc)
	r.byID[lc.ID] = lc
	r.byCallID[lc.CallID] = lc
}

func (r *registry) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order) == 0
}

func (r *registry) get(id string) *liveCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

func (r *registry) byCall(callID string) *liveCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byCallID[callID]
}

func (r *registry) stopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, lc := range r.order {
		lc.stop()
	}
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// placeRequest is what the page posts to place a call.
type placeRequest struct {
	IVR    string     `json:"ivr"`
	Caller ivr.Caller `json:"caller"`
	Entry  string     `json:"entry"`
}

func (c *Console) placeCall(w http.ResponseWriter, r *http.Request) {
	var req placeRequest
	if !readJSON(w, r, &req) {
		return
	}
	def := c.loadIVR(w, req.IVR)
	if def == nil {
		return
	}
	caller := req.Caller
	if err := caller.Check(); err != nil {
		writeError(w, http.StatusBadRequest, "caller: "+err.Error())
		return
	}
	keys, _ := ivr.NormalizeDigits(caller.Digits)
	opts := c.callOptions()
	if req.Entry != "" {
		if cx := def.Contexts[req.Entry]; cx == nil || cx.Options["start"] == nil {
			writeError(w, http.StatusBadRequest, "entry "+req.Entry+": the IVR has no such context with a start option")
			return
		}
		opts.Entry = req.Entry
	}
	// The console names the call, so it can route the server's log lines
	// for it here.
	caller.CallID = "dev-" + randomID(8)
	lc := &liveCall{ID: randomID(8), CallID: caller.CallID, IVR: req.IVR, Started: time.Now(), wake: make(chan struct{}), inputs: []byte(keys)}
	opts.OnStep = func(s ivr.Step) {
		st := s
		lc.add(Event{Type: "step", Step: &st})
		if s.Kind == "response" && c.cfg.Sessions != nil {
			lc.add(Event{Type: "session", Session: c.cfg.Sessions.Snapshot(lc.CallID)})
		}
	}
	// The registry knows the call before its first request leaves, so the
	// log lines of that request find it.
	c.calls.add(lc)
	live := ivr.Start(context.Background(), def, caller, opts)
	lc.setLive(live)
	go func() {
		<-live.Done()
		tr := live.Transcript()
		lc.mu.Lock()
		inputs := string(lc.inputs)
		lc.mu.Unlock()
		lc.add(Event{Type: "end", End: &CallEnd{Outcome: tr.Outcome, Vars: tr.Vars, Inputs: inputs}})
	}()
	writeJSON(w, http.StatusCreated, map[string]string{"id": lc.ID, "call_id": lc.CallID, "ivr": req.IVR, "name": def.Name})
}

func (c *Console) callFor(w http.ResponseWriter, r *http.Request) *liveCall {
	lc := c.calls.get(r.PathValue("id"))
	if lc == nil || lc.walker() == nil {
		writeError(w, http.StatusNotFound, "no such call (the console keeps the last "+strconv.Itoa(maxCalls)+")")
	}
	return lc
}

func (c *Console) press(w http.ResponseWriter, r *http.Request) {
	lc := c.callFor(w, r)
	if lc == nil {
		return
	}
	var req struct {
		Keys string `json:"keys"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	keys, err := ivr.NormalizeDigits(req.Keys)
	if err == nil {
		err = lc.walker().Press(keys)
	}
	if c.inputDone(w, err) {
		lc.input(keys)
	}
}

func (c *Console) silence(w http.ResponseWriter, r *http.Request) {
	c.keyless(w, r, "_", (*ivr.Live).Silence)
}

func (c *Console) hangup(w http.ResponseWriter, r *http.Request) {
	c.keyless(w, r, "!", (*ivr.Live).Hangup)
}

// keyless takes an input without keys (a silence, a hang-up), recorded for
// a replay as mark.
func (c *Console) keyless(w http.ResponseWriter, r *http.Request, mark string, do func(*ivr.Live) error) {
	lc := c.callFor(w, r)
	if lc == nil {
		return
	}
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	if c.inputDone(w, do(lc.walker())) {
		lc.input(mark)
	}
}

// inputDone answers an input request and reports whether it was taken.
func (c *Console) inputDone(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return true
	case errors.Is(err, ivr.ErrCallEnded):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
	return false
}

// callEvents streams a call's events as server-sent events, from the
// start (or after Last-Event-ID), and ends after the call's end.
func (c *Console) callEvents(w http.ResponseWriter, r *http.Request) {
	lc := c.callFor(w, r)
	if lc == nil {
		return
	}
	from := 0
	if id, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil {
		from = id + 1
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		evs, wake, ended := lc.since(from)
		for _, e := range evs {
			b, _ := json.Marshal(e)
			if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", e.Seq, b); err != nil {
				return
			}
		}
		from += len(evs)
		if rc.Flush() != nil {
			return
		}
		if ended && len(evs) == 0 {
			return
		}
		if ended {
			continue
		}
		select {
		case <-wake:
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// callInfo is a call in the list of the console's calls.
type callInfo struct {
	ID      string `json:"id"`
	CallID  string `json:"call_id"`
	IVR     string `json:"ivr"`
	Started string `json:"started"`
	Ended   bool   `json:"ended"`
}

// listCalls answers the calls the console keeps, oldest first.
func (c *Console) listCalls(w http.ResponseWriter, r *http.Request) {
	c.calls.mu.Lock()
	order := append([]*liveCall(nil), c.calls.order...)
	c.calls.mu.Unlock()
	out := []callInfo{}
	for _, lc := range order {
		out = append(out, callInfo{ID: lc.ID, CallID: lc.CallID, IVR: lc.IVR, Started: lc.Started.Format(time.RFC3339), Ended: lc.isEnded()})
	}
	writeJSON(w, http.StatusOK, out)
}
