package devconsole

import (
	"mime"
	"net"
	"net/http"
	"strings"
)

// guard lets through only what the console's own page, in a browser on this
// machine, can send:
//
//   - the Host must be a loopback name (127.0.0.1, localhost, ::1, with any
//     port): a DNS-rebinding page reaches the port under its own name;
//   - an Origin, when sent, must be the console itself (http://HOST), and a
//     Sec-Fetch-Site, when sent, must be same-origin or none (typed in the
//     address bar): another site's fetch, EventSource or form is refused,
//     live channel included;
//   - a POST must be application/json, which no form and no cross-site
//     request without a CORS preflight (never granted) can send.
//
// The console answers no CORS headers, so no other origin can read it.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "the dev console answers only requests to 127.0.0.1, localhost or ::1", http.StatusMisdirectedRequest)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			http.Error(w, "the dev console answers only its own page (Origin "+o+" refused)", http.StatusForbidden)
			return
		}
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
			http.Error(w, "the dev console answers only its own page (Sec-Fetch-Site "+s+" refused)", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				http.Error(w, "POST needs Content-Type: application/json", http.StatusUnsupportedMediaType)
				return
			}
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine by a
// loopback name.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LoopbackAddr reports whether a listen address binds a loopback address
// only; the console refuses any other.
func LoopbackAddr(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackHost(addr)
}
