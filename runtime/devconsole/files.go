package devconsole

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dialua/dialua/runtime/ivr"
)

// maxListed bounds the files the page is offered.
const maxListed = 500

// files lists the IVR folder's files whose names end in suffix, as
// slash-separated paths relative to the folder.
func (c *Console) files(suffix string) []string {
	var out []string
	filepath.WalkDir(c.cfg.IVRDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != c.cfg.IVRDir && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if len(out) >= maxListed {
			return fs.SkipAll
		}
		if strings.HasSuffix(d.Name(), suffix) {
			if rel, err := filepath.Rel(c.cfg.IVRDir, p); err == nil {
				out = append(out, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// path turns a name the page sent into a file of the IVR folder, refusing
// anything that is not a plain relative path to a file with that suffix.
func (c *Console) path(name, suffix string) (string, error) {
	p := filepath.FromSlash(name)
	if name == "" || !filepath.IsLocal(p) || !strings.HasSuffix(name, suffix) {
		return "", errors.New("no such file: " + name)
	}
	full := filepath.Join(c.cfg.IVRDir, p)
	if fi, err := os.Stat(full); err != nil || !fi.Mode().IsRegular() {
		return "", errors.New("no such file: " + name)
	}
	return full, nil
}

// loadIVR reads the IVR file the page named, or answers why not (nil).
func (c *Console) loadIVR(w http.ResponseWriter, name string) *ivr.IVR {
	path, err := c.path(name, ".ivr.yaml")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil
	}
	def, err := ivr.Load(path)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return nil
	}
	return def
}

type ivrEntry struct {
	File  string `json:"file"`
	Name  string `json:"name,omitempty"`
	Error string `json:"error,omitempty"`
}

func (c *Console) listIVRs(w http.ResponseWriter, r *http.Request) {
	out := []ivrEntry{}
	for _, f := range c.files(".ivr.yaml") {
		e := ivrEntry{File: f}
		if def, err := ivr.Load(filepath.Join(c.cfg.IVRDir, filepath.FromSlash(f))); err != nil {
			e.Error = err.Error()
		} else {
			e.Name = def.Name
		}
		out = append(out, e)
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Console) listScenarios(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.files(".test.yaml"))
}

type scenarioResult struct {
	Name       string   `json:"name"`
	Passed     bool     `json:"passed"`
	Diffs      []string `json:"diffs,omitempty"`
	Transcript string   `json:"transcript"`
}

type scenarioRun struct {
	File     string           `json:"file"`
	Passed   int              `json:"passed"`
	Failed   int              `json:"failed"`
	Warnings []string         `json:"warnings,omitempty"`
	Results  []scenarioResult `json:"results"`
	Error    string           `json:"error,omitempty"`
}

// runScenarios runs one scenario file against the server, as `dialua test`
// does, and answers every verdict with its diff and transcript.
func (c *Console) runScenarios(w http.ResponseWriter, r *http.Request) {
	var req struct {
		File string `json:"file"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	path, err := c.path(req.File, ".test.yaml")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	select {
	case c.runs <- struct{}{}:
		defer func() { <-c.runs }()
	default:
		writeError(w, http.StatusTooManyRequests, "scenario files are already running; wait for them")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	results, warnings, err := ivr.RunSuite(ctx, path, ivr.Options{BaseURL: c.cfg.BaseURL})
	run := scenarioRun{File: req.File, Warnings: warnings, Results: []scenarioResult{}}
	if err != nil {
		run.Error = strings.TrimPrefix(err.Error(), c.cfg.IVRDir+string(filepath.Separator))
		writeJSON(w, http.StatusOK, run)
		return
	}
	for _, res := range results {
		var tr strings.Builder
		res.Transcript.WriteText(&tr)
		run.Results = append(run.Results, scenarioResult{Name: res.Name, Passed: res.Passed(), Diffs: res.Diffs, Transcript: tr.String()})
		if res.Passed() {
			run.Passed++
		} else {
			run.Failed++
		}
	}
	writeJSON(w, http.StatusOK, run)
}
