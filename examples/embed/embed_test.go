package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.LimitArrays() // as main does
	os.Exit(m.Run())
}

// The program's own serve, over real HTTP on a loopback port, answering
// the requests an IVR sends.
func TestEmbed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, "scripts", log) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not return after cancel")
		}
	}()
	base := "http://" + ln.Addr().String()

	get := func(t *testing.T, caller string) []protocol.Verb {
		t.Helper()
		q := url.Values{"CallerIDNum": {caller}, "CallID": {"5205dc5cc5a411e5ab9eb3691b90ea15"}}
		resp, err := http.Get(base + "/acme/welcome?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, %v:\n%s", resp.StatusCode, err, body)
		}
		doc, err := protocol.Decode(body)
		if err != nil {
			t.Fatalf("%v:\n%s", err, body)
		}
		return doc.Verbs
	}
	check := func(t *testing.T, got []protocol.Verb, want ...protocol.Verb) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range want {
			if got[i].String() != want[i].String() {
				t.Fatalf("verb %d: got %s, want %s", i, got[i], want[i])
			}
		}
	}
	t.Run("known caller", func(t *testing.T) {
		check(t, get(t, "0040741234567"),
			protocol.Verb{Kind: protocol.PlayTTS, Voice: "Alice-8KHz", Text: "Hello Alice, welcome back to Acme."},
			protocol.Verb{Kind: protocol.SetVar, Name: "tier", Text: "gold"},
			protocol.Verb{Kind: protocol.Jump, Context: "QueueGold", Option: "start"})
	})
	t.Run("unknown caller", func(t *testing.T) {
		check(t, get(t, "0040700000000"),
			protocol.Verb{Kind: protocol.PlayTTS, Voice: "Alice-8KHz", Text: "Welcome to Acme. An agent will be with you shortly."},
			protocol.Verb{Kind: protocol.Jump, Context: "QueueGeneral", Option: "start"})
	})
}
