package engine

import "time"

// pool keeps idle VMs for reuse. How many VMs may exist at once is the
// scheduler's business (a VM slot is granted before a VM is taken); the pool
// only saves building a new VM for every run.
type pool struct {
	idle chan *vm
	make func() *vm
}

func newPool(size int, mk func() *vm) *pool {
	return &pool{idle: make(chan *vm, size), make: mk}
}

// get returns an idle VM, or a new one and the time it took to build.
func (p *pool) get() (*vm, time.Duration) {
	select {
	case v := <-p.idle:
		return v, 0
	default:
		begin := time.Now()
		v := p.make()
		return v, max(time.Since(begin), 1)
	}
}

// put returns a healthy VM for reuse.
func (p *pool) put(v *vm) {
	select {
	case p.idle <- v:
	default:
		v.close()
	}
}

// warm creates n VMs ahead of the first requests.
func (p *pool) warm(n int) {
	for i := 0; i < n && i < cap(p.idle); i++ {
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
