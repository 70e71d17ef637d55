package main

import "testing"

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, headroom uint64
		want           int
	}{
		{0, 64 * mib, maxGCPercent},
		{4 * mib, 64 * mib, 1600},   // a small server: room of 64 MiB
		{1 * mib, 64 * mib, 2000},   // capped
		{32 * mib, 64 * mib, 200},   // room of 64 MiB = twice the live heap
		{100 * mib, 64 * mib, 64},   // room of 64 MiB, over half the live heap
		{200 * mib, 64 * mib, 50},   // a large server: grows by half its live heap
		{200 * mib, 400 * mib, 200}, // a larger headroom set by the operator
	} {
		if got := gcPercentFor(c.live, c.headroom); got != c.want {
			t.Errorf("live %d MiB, headroom %d MiB: %d, want %d", c.live/mib, c.headroom/mib, got, c.want)
		}
	}
}
