// Command cmd runs the example subscriptions backend on loopback.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/dialua/dialua/examples/backend"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8089", "address to listen on")
	flag.Parse()
	log.Printf("example subscriptions backend on http://%s/subscriptions/{id}", *addr)
	log.Fatal(http.ListenAndServe(*addr, &backend.Server{}))
}
