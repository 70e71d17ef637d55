// Package backend is the example's stand-in for a customer's CRM: a small
// HTTP API the support script checks subscription ids against.
//
//	GET /subscriptions/{id}  200 {"id", "name", "tier", "suspended"} | 404 {"error"}
//
// Run it with `go run ./examples/backend/cmd` (127.0.0.1:8089 by default).
package backend

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
)

// Subscription is one customer's subscription.
type Subscription struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Tier      string `json:"tier"`
	Suspended bool   `json:"suspended,omitempty"`
}

// The same subscriptions as scripts/demo/lib/subscriptions.lua, the script's
// fallback when the backend cannot be reached.
var subscriptions = map[string]Subscription{
	"934924": {ID: "934924", Name: "Alice Martin", Tier: "gold"},
	"100200": {ID: "100200", Name: "Bob Ionescu", Tier: "standard"},
	"555123": {ID: "555123", Name: "Carla Diaz", Tier: "standard", Suspended: true},
}

// Server is the backend's handler; it counts lookups so tests can see the
// script used it.
type Server struct {
	Lookups atomic.Int64
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/subscriptions/")
	w.Header().Set("Content-Type", "application/json")
	if !ok || r.Method != http.MethodGet {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": "no such endpoint"})
		return
	}
	s.Lookups.Add(1)
	sub, found := subscriptions[id]
	if !found {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": "unknown subscription"})
		return
	}
	json.NewEncoder(w).Encode(sub)
}
