package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcHeadroom is dialua serve's default GC policy. Scripts make much
// short-lived garbage while the live heap of a small server is a few MiB, so
// Go's default (collect when the heap doubles) collects hundreds of times a
// second; a fixed higher GOGC (400) buys throughput but multiplies the heap
// of a server hosting thousands of tenants, whose live heap is larger. The
// policy gives the collector a fixed amount of room instead: after each
// collection, GOGC is set so that the next starts when the heap has grown by
// max(half the live heap, headroom). A small server then collects rarely; a
// large one, mostly compiled scripts that live long, grows by half its live
// heap (GOGC 50). Measured on 10,000 tenants x 5 distinct scripts
// (benchmarks/README.md): RSS 267-281 MiB against 365-411 MiB with a floor of
// GOGC 100, for a second pass about 15% slower; a server of few tenants never
// reaches the floor, so its throughput does not change.
type gcHeadroom struct {
	headroom uint64
	stop     chan struct{}
}

// How often the live heap is looked at, and the range GOGC is kept in.
const (
	gcCheckEvery = 100 * time.Millisecond
	minGCPercent = 50
	maxGCPercent = 2000
)

func startGCHeadroom(headroom uint64) *gcHeadroom {
	g := &gcHeadroom{headroom: headroom, stop: make(chan struct{})}
	go g.loop()
	return g
}

func (g *gcHeadroom) loop() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	t := time.NewTicker(gcCheckEvery)
	defer t.Stop()
	var lastCycles uint64
	current := -1
	for {
		metrics.Read(sample)
		live, cycles := sample[0].Value.Uint64(), sample[1].Value.Uint64()
		if cycles != lastCycles || current < 0 {
			lastCycles = cycles
			if p := gcPercentFor(live, g.headroom); p != current {
				debug.SetGCPercent(p)
				current = p
			}
		}
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
	}
}

// gcPercentFor is the GOGC that lets the heap grow by max(live/2, headroom).
func gcPercentFor(live, headroom uint64) int {
	if live == 0 {
		return maxGCPercent
	}
	p := 100 * headroom / live
	return int(min(max(p, minGCPercent), maxGCPercent))
}

func (g *gcHeadroom) close() { close(g.stop) }
