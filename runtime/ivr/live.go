package ivr

import (
	"context"
	"errors"
	"sync/atomic"
)

// Live is a call a person drives key by key, as the dev console does: the
// same walker as Run, on a goroutine of its own. Whenever the IVR waits for
// a key and none is queued, the walker adds a "wait" step (Text says what
// for) and blocks until Press, Silence or Hangup. Options.OnStep sees every
// step as it happens.
type Live struct {
	input  chan string
	done   chan struct{}
	hungUp atomic.Bool
	cancel context.CancelFunc
	tr     *Transcript
}

// ErrCallEnded is returned for input to a call that has ended.
var ErrCallEnded = errors.New("the call has ended")

// errQueueFull bounds what a page can queue ahead of the walker.
var errQueueFull = errors.New("too many keys waiting: wait for the IVR to take them")

// Start places a live call. Keys in caller.Digits are pressed first, as in
// Run; after them the walker waits for Press, Silence or Hangup.
func Start(ctx context.Context, ivr *IVR, caller Caller, opts Options) *Live {
	l := &Live{input: make(chan string, 32), done: make(chan struct{})}
	c, cancel := newCall(ctx, ivr, caller, opts, l)
	l.cancel = cancel
	go func() {
		defer close(l.done)
		defer cancel()
		l.tr = c.run()
	}()
	return l
}

// Press queues keys (0-9, *, #, and the words star and hash) for the IVR to
// take as it asks for them.
func (l *Live) Press(keys string) error {
	k, err := NormalizeDigits(keys)
	if err != nil {
		return err
	}
	if k == "" {
		return errors.New("no key to press")
	}
	return l.send(k)
}

// Silence lets the prompt the IVR is waiting on time out.
func (l *Live) Silence() error { return l.send("_") }

// Hangup ends the call as the caller hanging up: the walker stops before its
// next action (a request in flight finishes first), and the Hangup event is
// sent as usual.
func (l *Live) Hangup() error {
	select {
	case <-l.done:
		return ErrCallEnded
	default:
	}
	l.hungUp.Store(true)
	select {
	case l.input <- string(hangupKey):
	default: // the queue is full: hungUp stops the walker anyway
	}
	return nil
}

// Stop abandons the call at once, requests in flight included.
func (l *Live) Stop() { l.cancel() }

// Done is closed when the call has ended and its Hangup event was sent.
func (l *Live) Done() <-chan struct{} { return l.done }

// Transcript is the whole call once Done is closed, nil before.
func (l *Live) Transcript() *Transcript {
	select {
	case <-l.done:
		return l.tr
	default:
		return nil
	}
}

func (l *Live) send(k string) error {
	select {
	case <-l.done:
		return ErrCallEnded
	default:
	}
	select {
	case l.input <- k:
		return nil
	default:
		return errQueueFull
	}
}

// next blocks until the person gives input; a call that runs out of time
// is a caller hanging up.
func (l *Live) next(ctx context.Context) []byte {
	select {
	case s := <-l.input:
		return []byte(s)
	case <-ctx.Done():
		return []byte{hangupKey}
	}
}
