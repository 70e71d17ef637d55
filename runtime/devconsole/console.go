// Package devconsole is the dev phone: one web page, served on a loopback
// listener of its own, that places simulated calls through the IVR files of
// a folder against a Call Interactive server and shows them live: the
// prompts (spoken with the browser's speech synthesis), a keypad, every
// request and answer with the script's log lines, the IVR variables, the
// call's session, the call flow as a graph with the caller's position, and
// scenario runs. `dialua dev` wires it to an in-process server; docs/console.md
// walks through it.
//
// The console drives calls with ivr.Start, the same walker as `dialua call`
// and `dialua test`. It is a tool for the machine it runs on: it answers only
// requests addressed to a loopback name and made from its own page (guard.go),
// so a web page the author visits cannot drive it.
package devconsole

import (
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/dialua/dialua/runtime/ivr"
)

//go:embed assets
var assets embed.FS

// Config says where calls go and where the files are.
type Config struct {
	// BaseURL is the Call Interactive server calls are made to: URLs in IVR
	// files that are paths are resolved against it.
	BaseURL string
	// IVRDir holds the IVR files (*.ivr.yaml) and scenario files
	// (*.test.yaml) the page offers, in any subfolder.
	IVRDir string
	// ScriptsDir, when set, is where error locations' source lines are read
	// from and which saves are reported to the page.
	ScriptsDir string
	// Sessions, when set, is the recording store the server's engine uses;
	// the page shows each call's session from it.
	Sessions *Recorder
	// Logger is for the console's own messages; default: discarded.
	Logger *slog.Logger
}

// Console is the dev phone's state: the calls placed from the page and the
// page's notification hub.
type Console struct {
	cfg   Config
	log   *slog.Logger
	calls *registry
	hub   *hub
	watch *watcher
	mux   *http.ServeMux
	runs  chan struct{} // scenario runs in progress (at most 2)

	closeOnce sync.Once
}

// New builds a console. Close stops its calls and its file watcher.
func New(cfg Config) (*Console, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("devconsole: no BaseURL")
	}
	if cfg.IVRDir == "" {
		return nil, errors.New("devconsole: no IVRDir")
	}
	c := &Console{cfg: cfg, log: cfg.Logger, calls: newRegistry(), hub: newHub(), runs: make(chan struct{}, 2)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ScriptsDir != "" {
		w, err := newWatcher(cfg.ScriptsDir, c.hub.saved, c.log)
		if err != nil {
			return nil, err
		}
		c.watch = w
	}
	c.routes()
	return c, nil
}

// Close ends every call and stops watching files.
func (c *Console) Close() {
	c.closeOnce.Do(func() {
		c.calls.stopAll()
		c.hub.close()
		if c.watch != nil {
			c.watch.close()
		}
	})
}

// Handler is the console's HTTP handler, every route behind the guard.
func (c *Console) Handler() http.Handler { return guard(c.mux) }

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	m.Handle("GET /", http.FileServerFS(static))
	m.HandleFunc("GET /api/ivrs", c.listIVRs)
	m.HandleFunc("GET /api/flow", c.flow)
	m.HandleFunc("GET /api/scenarios", c.listScenarios)
	m.HandleFunc("POST /api/scenarios/run", c.runScenarios)
	m.HandleFunc("POST /api/calls", c.placeCall)
	m.HandleFunc("GET /api/calls", c.listCalls)
	m.HandleFunc("GET /api/calls/{id}/events", c.callEvents)
	m.HandleFunc("POST /api/calls/{id}/press", c.press)
	m.HandleFunc("POST /api/calls/{id}/silence", c.silence)
	m.HandleFunc("POST /api/calls/{id}/hangup", c.hangup)
	m.HandleFunc("GET /api/events", c.pageEvents)
	c.mux = m
}

// maxJSONBody bounds what the page posts: a call's settings, a key.
const maxJSONBody = 64 << 10

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// callOptions are the walker's options for a call from the page.
func (c *Console) callOptions() ivr.Options {
	return ivr.Options{BaseURL: c.cfg.BaseURL, CallTimeout: 30 * time.Minute}
}
