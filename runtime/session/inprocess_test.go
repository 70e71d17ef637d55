package session

import (
	"testing"
	"time"
)

// loopy is an embedder's wrapper that unwraps to itself.
type loopy struct{ Store }

func (l *loopy) Unwrap() Store { return l }

type countingObserver struct{ n int }

func (o *countingObserver) SessionOp(string, string, error, time.Duration) { o.n++ }

func TestInProcess(t *testing.T) {
	mem := NewMemory(MemoryLimits{})
	defer mem.Close()
	o := &countingObserver{}
	cases := []struct {
		name string
		s    Store
		want bool
	}{
		{"memory", mem, true},
		{"observed memory", Observe(mem, "memory", o), true},
		{"observed twice", Observe(Observe(mem, "memory", o), "outer", o), true},
		{"an embedder's store", &loopy{}, false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		if got := InProcess(c.s); got != c.want {
			t.Errorf("%s: InProcess = %v, want %v", c.name, got, c.want)
		}
	}
	if NewValues(mem).InProcess() != true || (*Values)(nil).InProcess() != false {
		t.Error("Values.InProcess does not follow its store")
	}
}
