package runtime

import (
	"context"
	"time"
)

// pool bounds how many VMs exist and hands each to one run at a time. slots
// holds one token per VM that may exist; idle holds VMs ready for reuse. A
// run takes a slot (waiting, up to its deadline, when all are taken), then an
// idle VM or a new one; it gives the VM back, or closes it when the run
// failed, and returns the slot.
type pool struct {
	slots chan struct{}
	idle  chan *vm
	make  func() *vm
}

func newPool(size int, mk func() *vm) *pool {
	p := &pool{slots: make(chan struct{}, size), idle: make(chan *vm, size), make: mk}
	for i := 0; i < size; i++ {
		p.slots <- struct{}{}
	}
	return p
}

// get waits until deadline (or ctx's end) for a slot.
func (p *pool) get(ctx context.Context, deadline time.Time) (*vm, error) {
	select {
	case <-p.slots:
	default:
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case <-p.slots:
		case <-t.C:
			return nil, ErrBusy
		case <-ctx.Done():
			return nil, ErrBusy
		}
	}
	select {
	case v := <-p.idle:
		return v, nil
	default:
		return p.make(), nil
	}
}

// put returns a healthy VM for reuse.
func (p *pool) put(v *vm) {
	p.idle <- v
	p.slots <- struct{}{}
}

// discard closes a VM that must not run again (it failed, timed out or hit a
// limit) and frees its slot for a fresh one.
func (p *pool) discard(v *vm) {
	v.close()
	p.slots <- struct{}{}
}

// warm creates n VMs ahead of the first requests.
func (p *pool) warm(n int) {
	for i := 0; i < n && i < cap(p.idle); i++ {
		<-p.slots
		p.put(p.make())
	}
}

// closeIdle closes every idle VM, at shutdown.
func (p *pool) closeIdle() {
	for {
		select {
		case v := <-p.idle:
			v.close()
		default:
			return
		}
	}
}
