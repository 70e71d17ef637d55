// Package testkit is what dialua's own tests use to run scripts, and what an
// embedder can use to test its own scripts and Go modules (luaapi.Module
// values) the same way: it is public for that reason, and small.
//
//   - Scripts and WriteFile write a scripts folder (one folder per tenant,
//     a tenants.yaml beside them) from a map of name to source.
//   - Logs records an engine's (or a server's) JSON log lines and hands
//     them back parsed, by message.
//   - NewEngine builds an engine.Engine over a folder, logging to a Logs,
//     and closes it when the test ends. It calls sandbox.LimitArrays first
//     when nothing has (the engine refuses to start without it); a test
//     package that also runs VMs of its own should still call it in its
//     TestMain, before any test runs, because the setting is process-wide.
//   - Request, and Engine's Do, Call, Verbs, Vars and Fail, run a script
//     directly on the engine (no HTTP: a protocol.Request built from a path
//     and parameters, as the server would build it) and decode the XML back
//     into verbs with runtime/protocol's strict decoder.
//   - NewBackend is a loopback HTTP backend (httptest on 127.0.0.1) that
//     records what it was sent, for scripts that call the http module.
//   - Within polls a condition, for things that happen in the background
//     (file watching, a store coming back).
//
// Options other than the folder and the logger are the caller's: the engine's
// defaults hold (a 1s deadline, the standard modules, an in-process session
// store), so a test of a Go module passes it in Options.Modules as a program
// would.
//
// A real Redis (redis-server on a free loopback port, with Up, Down and
// Hang) is in the subpackage redistest, and RedisSessions opens a session
// store on one. redistest imports nothing of dialua because runtime/session's
// own tests use it: they are internal tests (package session, for its
// unexported limits and breakers), and this package imports runtime/engine,
// which imports runtime/session, so those tests cannot import this package
// without an import cycle. The same holds for every package the engine
// imports (luaapi, loader, sandbox, tenant, protocol, ...): their tests use
// this package from an external test package (package luaapi_test, as
// luaapi's script-level tests do), never from internal ones.
package testkit
