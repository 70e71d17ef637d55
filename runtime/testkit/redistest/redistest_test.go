package redistest_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/testkit/redistest"
)

// ping sends PING and reports whether +PONG came back within d.
func ping(addr string, d time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

func TestUpDownHang(t *testing.T) {
	r := redistest.Start(t)
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/0") {
		t.Errorf("URL %q", r.URL())
	}
	if !ping(r.Addr(), time.Second) {
		t.Fatal("no PONG from a started server")
	}
	resume := r.Hang()
	if ping(r.Addr(), 200*time.Millisecond) {
		t.Error("a hung server answered")
	}
	resume()
	if !ping(r.Addr(), time.Second) {
		t.Error("no PONG after resume")
	}
	r.Hang() // left hung: Down must still stop it
	r.Down()
	if ping(r.Addr(), 200*time.Millisecond) {
		t.Error("a server that is down answered")
	}
	r.Down() // twice is fine
	r.Up()
	if !ping(r.Addr(), time.Second) {
		t.Error("no PONG after Up on the same port")
	}
}
