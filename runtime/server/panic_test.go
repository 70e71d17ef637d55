package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

// panicky is an engine that panics, as a bug would.
type panicky struct{}

func (panicky) Run(context.Context, *protocol.Request, []byte) ([]byte, error) {
	var m map[string]int
	m["boom"]++ // assignment to a nil map
	return nil, nil
}

// A panic while serving is answered 500 and logged with the stack that
// led to it, and the server goes on serving.
func TestPanicLoggedWithStack(t *testing.T) {
	logs := testkit.NewLogs()
	srv := New(Config{Engine: panicky{}, Logger: logs.Logger()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close() })
	for i := range 2 {
		resp, err := http.Get("http://" + ln.Addr().String() + "/acme/ivr")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Fatalf("request %d: status %d, want 500", i, resp.StatusCode)
		}
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"panic serving request"`) || !strings.Contains(out, "assignment to entry in nil map") {
		t.Fatalf("panic not logged: %s", out)
	}
	if !strings.Contains(out, `"stack":"goroutine`) || !strings.Contains(out, "panicky.Run") {
		t.Errorf("no stack naming the panicking function: %s", out)
	}
}
