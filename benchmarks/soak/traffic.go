package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// counters is everything the traffic loops saw. The good-request counters
// are the soak's verdict; the rest is context.
type counters struct {
	goodSent, goodOK, goodLost atomic.Int64
	sessionDown                atomic.Int64 // good answers that said the session store failed (valid, by design)
	countAnomalies             atomic.Int64 // session counter neither previous+1 nor a fresh 1 (valid body, odd store)

	mu           sync.Mutex
	lostBy       map[string]int64            // why good requests were lost
	lostExamples []string                    // the first few, with the body
	broken       map[string]int64            // statuses of the failing scripts
	brokenOdd    int64                       // failing-script answers other than 500
	bombs        map[string]map[string]int64 // script -> status -> count
}

func newCounters() *counters {
	return &counters{lostBy: map[string]int64{}, broken: map[string]int64{}, bombs: map[string]map[string]int64{}}
}

func (c *counters) lose(reason, detail string) {
	c.goodLost.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lostBy[reason]++
	if len(c.lostExamples) < 10 {
		c.lostExamples = append(c.lostExamples, time.Now().Format("15:04:05.000")+" "+reason+": "+detail)
	}
}

func newClient(addr string, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: addr, MaxConns: conns, MaxConnWaitTimeout: time.Second,
		MaxIdleConnDuration: time.Minute, NoDefaultUserAgentHeader: true}
}

// pacer spaces one loop's requests interval apart without bursting to catch
// up after a slow answer: the soak is about steady load for a long time, not
// about saturating the (shared) machine.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func (p *pacer) wait(ctx context.Context) bool {
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(p.next)):
	}
	p.next = p.next.Add(p.interval)
	return true
}

// callState is one simulated call of one good tenant: its CallID and the
// last counter the session gave it (-1: unknown, e.g. after the store failed).
type callState struct {
	id    string
	reqs  int
	count int
}

// goodClient sends paced requests to the good tenants in turn. Each tenant
// gets a call of 20 requests, then a new CallID, so sessions stay small and
// expire. Every answer must be 200 with a body of the right tenant's script
// in a version the swapper allows; anything else is lost.
func goodClient(ctx context.Context, hc *fasthttp.HostClient, id int, interval, timeout time.Duration,
	res []*regexp.Regexp, vs *versions, c *counters) {
	calls := make([]callState, len(res))
	for t := range calls {
		calls[t] = callState{id: fmt.Sprintf("soak-%d-%d-0", id, t), count: -1}
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	p := &pacer{interval: interval}
	seq := 0
	for n := 0; p.wait(ctx); n++ {
		t := (id + n) % len(res)
		cs := &calls[t]
		if cs.reqs == 20 {
			seq++
			*cs = callState{id: fmt.Sprintf("soak-%d-%d-%d", id, t, seq), count: -1}
		}
		cs.reqs++
		req.SetRequestURI("http://" + hc.Addr + "/" + goodTenant(t) + "/counter?attempts=0&CallID=" + cs.id)
		lo := vs.lowest(t)
		c.goodSent.Add(1)
		err := hc.DoTimeout(req, resp, timeout)
		if err != nil {
			c.lose(errKind(err), err.Error())
			continue
		}
		if resp.StatusCode() != 200 {
			c.lose("status "+strconv.Itoa(resp.StatusCode()), goodTenant(t)+": "+string(resp.Body()))
			continue
		}
		a, err := parseGood(res[t], resp.Body())
		if err != nil {
			c.lose("bad body", goodTenant(t)+": "+err.Error()+": "+string(resp.Body()))
			continue
		}
		if hi := vs.highest(t); a.version < lo || a.version > hi {
			c.lose("stale or unknown version", fmt.Sprintf("%s answered version %d, allowed %d..%d", goodTenant(t), a.version, lo, hi))
			continue
		}
		vs.observe(t, a.version)
		c.goodOK.Add(1)
		if !a.sessionOK {
			c.sessionDown.Add(1)
			cs.count = -1
			continue
		}
		if cs.count >= 0 && a.count != cs.count+1 && a.count != 1 {
			c.countAnomalies.Add(1)
		}
		cs.count = a.count
	}
}

// brokenClient cycles through the failing scripts; each must answer 500.
func brokenClient(ctx context.Context, hc *fasthttp.HostClient, interval, timeout time.Duration, c *counters) {
	names := []string{"error", "nilcall", "syntax"}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	p := &pacer{interval: interval}
	for n := 0; p.wait(ctx); n++ {
		req.SetRequestURI("http://" + hc.Addr + "/broken/" + names[n%len(names)])
		status := "?"
		if err := hc.DoTimeout(req, resp, timeout); err != nil {
			status = errKind(err)
		} else {
			status = strconv.Itoa(resp.StatusCode())
		}
		c.mu.Lock()
		c.broken[status]++
		if status != "500" {
			c.brokenOdd++
		}
		c.mu.Unlock()
	}
}

// bombClient sends one bomb, waits for its answer, rests every, and again.
func bombClient(ctx context.Context, hc *fasthttp.HostClient, script string, every, timeout time.Duration, c *counters) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + hc.Addr + "/bombs/" + script)
	p := &pacer{interval: every}
	for p.wait(ctx) {
		status := "?"
		if err := hc.DoTimeout(req, resp, timeout); err != nil {
			status = errKind(err)
		} else {
			status = strconv.Itoa(resp.StatusCode())
		}
		c.mu.Lock()
		if c.bombs[script] == nil {
			c.bombs[script] = map[string]int64{}
		}
		c.bombs[script][status]++
		c.mu.Unlock()
	}
}

func errKind(err error) string {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		return "timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free conn"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "conn closed"
	}
	return "error"
}
