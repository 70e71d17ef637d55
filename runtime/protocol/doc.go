// Package protocol is the Call Interactive contract in Go: the request
// parameters an IVR sends, how a request is classified as a call event, and the
// seven response verbs with their XML encoding and a strict decoder.
//
// The encoder is used by the Lua response builder on the request path, so it
// appends to caller-owned byte slices and never allocates on its own. The
// decoder is used by whoever plays the IVR's side (the simulator, the tests) and
// rejects anything a real IVR would reject instead of guessing.
package protocol
