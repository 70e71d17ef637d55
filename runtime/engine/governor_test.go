package engine

import (
	"testing"
	"time"
)

// useAt gives a tenant a steady CPU use of cores, as the decaying sum would
// hold it, and marks it active.
func useAt(sc *sched, name string, cores float64) *share {
	sh := sc.get(name, 1)
	now := sc.now()
	sh.stamp = now
	sh.usage = cores * float64(usageHalfLife) / ln2
	sh.recent = cores * float64(recentHalfLife) / ln2
	sh.lastRun = now
	return sh
}

// A tenant that used much a while ago and little now (its loop attack has
// become slow network calls) is no measure of what others may use: the calm
// tenant it crowded is not held back to its fading memory.
func TestGovernorIgnoresATenantThatStoppedWanting(t *testing.T) {
	sc := newSched(16, 2)
	defer sc.close()
	sc.mu.Lock()
	calm := useAt(sc, "calm", 1.4)
	was := useAt(sc, "attacker", 0.15) // what 1 s of memory still holds...
	was.recent = 0.005 * float64(recentHalfLife) / ln2
	sc.mu.Unlock()
	sc.decide(true)
	if calm.heavy.Load() || was.heavy.Load() {
		t.Fatalf("heavy: calm %v, attacker %v; the attacker wants nothing now", calm.heavy.Load(), was.heavy.Load())
	}
	// ...while one that still burns CPU is a measure.
	sc.mu.Lock()
	was.recent = 0.15 * float64(recentHalfLife) / ln2
	sc.mu.Unlock()
	sc.decide(true)
	if !calm.heavy.Load() {
		t.Error("a tenant using 9x what a competing one uses was not held back")
	}
}

func TestGovernorHoldsBackTheTenantThatCrowdsOthers(t *testing.T) {
	sc := newSched(16, 2)
	defer sc.close()
	sc.mu.Lock()
	flood := useAt(sc, "flood", 1.4)
	calm := useAt(sc, "calm", 0.4)
	idle := useAt(sc, "idle", 0.001) // wants next to nothing: not a measure
	sc.mu.Unlock()

	sc.decide(false)
	if flood.heavy.Load() {
		t.Fatal("held back without contention: spare CPU is for whoever wants it")
	}
	sc.decide(true)
	if !flood.heavy.Load() || calm.heavy.Load() || idle.heavy.Load() {
		t.Fatalf("heavy: flood %v calm %v idle %v", flood.heavy.Load(), calm.heavy.Load(), idle.heavy.Load())
	}
	if want := heldShare * 0.4; flood.pace < want*0.99 || flood.pace > want*1.01 {
		t.Errorf("flood paced to %.3f cores, want %.3f", flood.pace, want)
	}

	// Paced, a run of the flood waits once it is ahead of its pace.
	sc.mu.Lock()
	sc.charge(flood, 10*time.Millisecond)
	sc.mu.Unlock()
	if d := sc.ahead(flood); d <= 0 {
		t.Error("a paced tenant ahead of its pace may run at once")
	}
	if d := sc.ahead(calm); d != 0 {
		t.Errorf("the calm tenant waits %v", d)
	}

	// Two tenants using alike are both left alone.
	sc2 := newSched(16, 2)
	defer sc2.close()
	sc2.mu.Lock()
	a, b := useAt(sc2, "a", 0.9), useAt(sc2, "b", 0.8)
	sc2.mu.Unlock()
	sc2.decide(true)
	if a.heavy.Load() || b.heavy.Load() {
		t.Error("tenants of similar use held back")
	}

	// The end of contention lets the flood go.
	sc.decide(false)
	if flood.heavy.Load() {
		t.Error("still held back after contention ended")
	}
}

// Weights scale what a tenant may use before it counts as crowding others.
func TestGovernorWeights(t *testing.T) {
	sc := newSched(16, 2)
	defer sc.close()
	sc.mu.Lock()
	big := useAt(sc, "big", 1.2)
	big.weight = 4
	small := useAt(sc, "small", 0.4)
	sc.mu.Unlock()
	sc.decide(true)
	if big.heavy.Load() || small.heavy.Load() {
		t.Error("a weight-4 tenant using 3x a weight-1 tenant was held back")
	}
}
