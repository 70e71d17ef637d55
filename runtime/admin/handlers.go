package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/dialua/dialua/runtime/deploy"
)

// maxJSONBody bounds the JSON bodies of activate, rollback and canary.
const maxJSONBody = 64 << 10

// releaseAnswer is a release and the tenant's state after the change.
type releaseAnswer struct {
	deploy.Release
	Tenant string       `json:"tenant"`
	State  deploy.State `json:"state"`
}

// stateAnswer is a tenant's state after a change, and the release it
// concerned (omitted when none).
type stateAnswer struct {
	Tenant  string          `json:"tenant"`
	Active  string          `json:"active,omitempty"`
	Canary  *deploy.Canary  `json:"canary,omitempty"`
	Release *deploy.Release `json:"release,omitempty"`
}

func (s *Server) state(x *exchange, rel *deploy.Release) {
	st, err := s.cfg.Store.State(x.r.Context(), x.tenant)
	if err != nil {
		s.failErr(x, err)
		return
	}
	s.reply(x, http.StatusOK, stateAnswer{Tenant: x.tenant, Active: st.Active, Canary: st.Canary, Release: rel})
}

// countingBody counts the upload's bytes and notes when it passes the
// total limit (what deploy reports as a read error is then a 413).
type countingBody struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
}

func (c *countingBody) Read(p []byte) (int, error) {
	if c.n > c.max {
		c.over = true
		return 0, errors.New("body over the limit")
	}
	if int64(len(p)) > c.max+1-c.n {
		p = p[:c.max+1-c.n]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.over = true
		return n, errors.New("body over the limit")
	}
	return n, err
}

// upload: POST /v1/tenants/{tenant}/releases?message=&activate=&canary=
func (s *Server) upload(x *exchange) {
	defer s.released(x, "upload")
	q := x.r.URL.Query()
	msg := q.Get("message")
	if len(msg) > s.cfg.MaxMessage || !utf8.ValidString(msg) {
		s.fail(x, http.StatusBadRequest, fmt.Sprintf("message: at most %d bytes of UTF-8", s.cfg.MaxMessage), nil)
		return
	}
	activate := false
	if v := q.Get("activate"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.fail(x, http.StatusBadRequest, fmt.Sprintf("activate=%q: use true or false", clip(v, 32)), nil)
			return
		}
		activate = b
	}
	canary := 0
	if v := q.Get("canary"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 99 {
			s.fail(x, http.StatusBadRequest, fmt.Sprintf("canary=%q: a percentage of new calls from 1 to 99 (activate=true for all of them)", clip(v, 32)), nil)
			return
		}
		canary = n
	}
	if activate && canary > 0 {
		s.fail(x, http.StatusBadRequest, "activate=true and canary=PCT together: choose one (a canary keeps the active release for the other calls)", nil)
		return
	}
	ctx := x.r.Context()
	if canary > 0 {
		// Refused before anything is stored, rather than after.
		st, err := s.cfg.Store.State(ctx, x.tenant)
		if err != nil {
			s.failErr(x, err)
			return
		}
		if st.Active == "" {
			s.fail(x, http.StatusConflict, "tenant "+x.tenant+" has no active release for the rest of the calls: deploy with activate=true first, then canaries", nil)
			return
		}
	}
	max := s.cfg.Limits.MaxTotalBytes
	if x.r.ContentLength > max {
		s.fail(x, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is %d bytes; a release may be at most %d bytes", x.r.ContentLength, max), nil)
		return
	}
	if _, busy := s.uploading.LoadOrStore(x.tenant, struct{}{}); busy {
		s.fail(x, http.StatusTooManyRequests, "an upload for tenant "+x.tenant+" is in progress: wait for it to finish", nil)
		return
	}
	defer s.uploading.Delete(x.tenant)
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	default:
		s.fail(x, http.StatusTooManyRequests, fmt.Sprintf("%d uploads are in progress: try again shortly", maxUploads), nil)
		return
	}
	uctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	body := &countingBody{r: x.r.Body, max: max}
	rel, err := deploy.Upload(uctx, s.cfg.Store, x.tenant, body, s.cfg.Limits, msg)
	if body.over {
		s.fail(x, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes; a release may be at most %d bytes", max, max), nil)
		return
	}
	if err != nil && uctx.Err() != nil && ctx.Err() == nil {
		s.fail(x, http.StatusUnprocessableEntity, fmt.Sprintf("reading and checking the release took over %v: it is too costly to compile; split it or simplify its largest files", uploadTimeout), nil)
		return
	}
	if err != nil {
		s.failErr(x, err)
		return
	}
	x.release = rel.ID
	switch {
	case activate:
		err = s.cfg.Store.Activate(ctx, x.tenant, rel.ID)
	case canary > 0:
		err = s.cfg.Store.SetCanary(ctx, x.tenant, rel.ID, canary)
	}
	if err != nil {
		what := "activated"
		if canary > 0 {
			what = "put on canary"
		}
		s.failErr(x, fmt.Errorf("release %s was stored but not %s: %w", rel.ID, what, err))
		return
	}
	st, err := s.cfg.Store.State(ctx, x.tenant)
	if err != nil {
		s.failErr(x, err)
		return
	}
	s.reply(x, http.StatusCreated, releaseAnswer{Release: rel, Tenant: x.tenant, State: st})
}

// history: GET /v1/tenants/{tenant}/releases
func (s *Server) history(x *exchange) {
	h, err := deploy.GetHistory(x.r.Context(), s.cfg.Store, x.tenant)
	if err != nil {
		s.failErr(x, err)
		return
	}
	s.reply(x, http.StatusOK, h)
}

// readJSON decodes a small JSON body strictly into v; an empty body is
// allowed when optional.
func (s *Server) readJSON(x *exchange, v any, optional bool, shape string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(x.w, x.r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) && optional {
		return true
	}
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(x, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes; send %s", maxJSONBody, shape), nil)
			return false
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body")
		}
		s.fail(x, http.StatusBadRequest, fmt.Sprintf("body: %v; send %s", err, shape), nil)
		return false
	}
	return true
}

// activate: POST /v1/tenants/{tenant}/activate {"release": ID}
func (s *Server) activate(x *exchange) {
	defer s.released(x, "activate")
	const shape = `{"release": "ID"} (GET .../releases lists the ids)`
	var body struct {
		Release string `json:"release"`
	}
	if !s.readJSON(x, &body, false, shape) {
		return
	}
	if body.Release == "" {
		s.fail(x, http.StatusBadRequest, "release is missing; send "+shape, nil)
		return
	}
	x.release = body.Release
	ctx := x.r.Context()
	rel, err := s.cfg.Store.Release(ctx, x.tenant, body.Release)
	if err == nil {
		err = s.cfg.Store.Activate(ctx, x.tenant, body.Release)
	}
	if err != nil {
		s.failErr(x, err)
		return
	}
	s.state(x, &rel)
}

// rollback: POST /v1/tenants/{tenant}/rollback [{"to": ID}]
func (s *Server) rollback(x *exchange) {
	defer s.released(x, "rollback")
	var body struct {
		To string `json:"to"`
	}
	if !s.readJSON(x, &body, true, `{"to": "ID"}, or nothing for the release before the active one`) {
		return
	}
	rel, err := deploy.Rollback(x.r.Context(), s.cfg.Store, x.tenant, body.To)
	if err != nil {
		s.failErr(x, err)
		return
	}
	x.release = rel.ID
	s.state(x, &rel)
}

// setCanary: POST /v1/tenants/{tenant}/canary {"release": ID, "percent": N}
func (s *Server) setCanary(x *exchange) {
	const shape = `{"release": "ID", "percent": 1 to 99}`
	var body struct {
		Release string `json:"release"`
		Percent int    `json:"percent"`
	}
	if !s.readJSON(x, &body, false, shape) {
		return
	}
	if body.Release == "" || body.Percent < 1 || body.Percent > 99 {
		s.fail(x, http.StatusBadRequest, "send "+shape+"; DELETE .../canary aborts a canary, POST .../promote makes it the active release", nil)
		return
	}
	x.release = body.Release
	ctx := x.r.Context()
	rel, err := s.cfg.Store.Release(ctx, x.tenant, body.Release)
	if err == nil {
		err = s.cfg.Store.SetCanary(ctx, x.tenant, body.Release, body.Percent)
	}
	if err != nil {
		s.failErr(x, err)
		return
	}
	s.state(x, &rel)
}

// abortCanary: DELETE /v1/tenants/{tenant}/canary
func (s *Server) abortCanary(x *exchange) {
	if err := s.cfg.Store.SetCanary(x.r.Context(), x.tenant, "", 0); err != nil {
		s.failErr(x, err)
		return
	}
	s.state(x, nil)
}

// promote: POST /v1/tenants/{tenant}/promote
func (s *Server) promote(x *exchange) {
	defer s.released(x, "promote")
	rel, err := deploy.Promote(x.r.Context(), s.cfg.Store, x.tenant)
	if err != nil {
		s.failErr(x, err)
		return
	}
	x.release = rel.ID
	s.state(x, &rel)
}

// diff: GET /v1/tenants/{tenant}/diff?from=A&to=B
func (s *Server) diff(x *exchange) {
	q := x.r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	if from == "" || to == "" {
		s.fail(x, http.StatusBadRequest, "send ?from=ID&to=ID (GET .../releases lists the ids)", nil)
		return
	}
	d, err := deploy.DiffReleases(x.r.Context(), s.cfg.Store, x.tenant, from, to)
	if err != nil {
		s.failErr(x, err)
		return
	}
	s.reply(x, http.StatusOK, d)
}

// removeTenant: DELETE /v1/tenants/{tenant} (operator token only)
func (s *Server) removeTenant(x *exchange) {
	if err := s.cfg.Store.RemoveTenant(x.r.Context(), x.tenant); err != nil {
		s.failErr(x, err)
		return
	}
	s.reply(x, http.StatusOK, map[string]any{"tenant": x.tenant, "removed": true})
}
