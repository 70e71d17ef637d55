package main

import (
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/dialua/dialua/benchmarks/internal/harness"
)

// runPhase runs the calm clients and (except for the baseline) the attacker's
// clients over the same window. The attacker starts first and gets a short
// head start outside the window, so the row measures the calm tenant under a
// running attack rather than the attack's ramp-up.
func runPhase(srv *harness.Server, calm *fasthttp.HostClient, calmURL string, ph attack, cfg config) *phaseResult {
	row := &phaseResult{label: ph.label, dur: cfg.duration}
	linesBefore, _ := srv.Log.Counts()
	var wg sync.WaitGroup
	if ph.clients > 0 {
		headStart := min(cfg.duration/10, 500*time.Millisecond)
		end := time.Now().Add(headStart + cfg.duration)
		hc := newClient(srv.Addr, ph.clients)
		url := "http://" + srv.Addr + "/attacker/" + ph.script
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := closedLoop(hc, url, ph.clients, end, cfg.timeout, "")
			row.attacker = res
			hc.CloseIdleConnections()
		}()
		row.attackerDur = headStart + cfg.duration
		time.Sleep(headStart)
	}
	end := time.Now().Add(cfg.duration)
	row.calm = closedLoop(calm, calmURL, cfg.calm, end, cfg.timeout, calmMarker)
	wg.Wait()
	row.rssKiB = srv.RSSKiB()
	linesAfter, _ := srv.Log.Counts()
	row.logLines = linesAfter - linesBefore
	row.serverDied = !srv.Alive()
	return row
}
