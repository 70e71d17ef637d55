package main

import (
	"bytes"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// loadResult is what one group of closed-loop clients saw in one phase
// window. Only requests that completed inside the window are counted; the
// ones still in flight when it closed are counted apart as cut, since they
// are neither a success nor a failure of the server.
type loadResult struct {
	ok       int64            // 200 with the expected body
	failed   int64            // everything else that completed in the window
	cut      int64            // in flight when the window closed
	statuses map[string]int64 // "200", "500", "503", "timeout", "error", "bad body"
	latency  []time.Duration  // of the ok requests only
}

func (r *loadResult) completed() int64 { return r.ok + r.failed }

func (r *loadResult) add(o *loadResult) {
	r.ok += o.ok
	r.failed += o.failed
	r.cut += o.cut
	for k, v := range o.statuses {
		r.statuses[k] += v
	}
	r.latency = append(r.latency, o.latency...)
}

func newLoadResult() *loadResult { return &loadResult{statuses: map[string]int64{}} }

// newClient gives one client group its own connections (keep-alive, one per
// client), so the calm tenant never queues behind the attacker's sockets in
// the harness: any wait it sees is the server's.
func newClient(addr string, clients int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          addr,
		MaxConns:                      clients,
		MaxConnWaitTimeout:            time.Second,
		MaxIdleConnDuration:           time.Minute,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
	}
}

// closedLoop runs n clients against url from now until end: each sends its
// next request when the previous one answered. A request may take at most
// timeout (a slower one is a failure) and never runs past end, so every loop
// stops by itself by end. marker, when not empty, must be in a 200's body.
func closedLoop(hc *fasthttp.HostClient, url string, n int, end time.Time, timeout time.Duration, marker string) *loadResult {
	results := make([]*loadResult, n)
	var wg sync.WaitGroup
	for i := range n {
		res := newLoadResult()
		results[i] = res
		wg.Add(1)
		go func() {
			defer wg.Done()
			runClient(hc, url, end, timeout, []byte(marker), res)
		}()
	}
	wg.Wait()
	total := newLoadResult()
	for _, r := range results {
		total.add(r)
	}
	return total
}

func runClient(hc *fasthttp.HostClient, url string, end time.Time, timeout time.Duration, marker []byte, res *loadResult) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	for {
		start := time.Now()
		if !start.Before(end) {
			return
		}
		deadline := start.Add(timeout)
		cutByWindow := false
		if deadline.After(end) {
			deadline, cutByWindow = end, true
		}
		err := hc.DoDeadline(req, resp, deadline)
		took := time.Since(start)
		switch {
		case err != nil && errors.Is(err, fasthttp.ErrTimeout) && cutByWindow:
			res.cut++
			return
		case err != nil && time.Now().After(end):
			// Any other error at the very end is the window closing too.
			res.cut++
			return
		case err != nil:
			res.failed++
			res.statuses[errorKind(err)]++
			// Do not spin on a refused connection (server gone).
			time.Sleep(10 * time.Millisecond)
		default:
			code := resp.StatusCode()
			if code == 200 && len(marker) > 0 && !bytes.Contains(resp.Body(), marker) {
				res.failed++
				res.statuses["bad body"]++
			} else if code == 200 {
				res.ok++
				res.statuses["200"]++
				res.latency = append(res.latency, took)
			} else {
				res.failed++
				res.statuses[strconv.Itoa(code)]++
			}
		}
	}
}

func errorKind(err error) string {
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
