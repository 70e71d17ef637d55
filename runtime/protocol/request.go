package protocol

// Names of the default parameters a phone system sends on every request.
const (
	ParamCallID            = "CallID"
	ParamCallerIDNum       = "CallerIDNum"
	ParamCallerIDName      = "CallerIDName"
	ParamCalledDID         = "CalledDID"
	ParamCalledExtension   = "CalledExtension"
	ParamCallStatus        = "CallStatus"
	ParamCallFlow          = "CallFlow"
	ParamCallerExtension   = "CallerExtension"
	ParamCalledNumber      = "CalledNumber"
	ParamCallAPIID         = "CallAPIID"
	ParamEventType         = "EventType"
	ParamCalledExtensionID = "CalledExtensionID"
	ParamCallerExtensionID = "CallerExtensionID"
)

// Param is one request parameter as it arrived.
type Param struct {
	Name  string
	Value string
}

// Request is one Call Interactive request after it left the HTTP layer: plain
// strings the engine and the scripts may keep, no pointers into server memory.
type Request struct {
	Method string // GET or POST
	Path   string // the URL path as requested, e.g. /demo/support
	Tenant string // first path segment
	Script string // the rest of the path, without extension: "support", "billing/index"

	// Params holds every parameter in arrival order: the query string first,
	// then the form body. When a name repeats, the later value wins, so a body
	// parameter overrides a query parameter of the same name.
	Params []Param

	// Release is set by the engine when it runs the request: the tenant's
	// release that served it ("" for the scripts folder), for the access
	// log.
	Release string
}

// Get returns the value of the named parameter (the last one when repeated)
// and whether it was present at all.
func (r *Request) Get(name string) (string, bool) {
	for i := len(r.Params) - 1; i >= 0; i-- {
		if r.Params[i].Name == name {
			return r.Params[i].Value, true
		}
	}
	return "", false
}

// Value returns the named parameter or "" when it is absent.
func (r *Request) Value(name string) string {
	v, _ := r.Get(name)
	return v
}

// Event classifies the request with Classify.
func (r *Request) Event() Event {
	return Classify(r.Value(ParamEventType), r.Value(ParamCallStatus), r.Value(ParamCallFlow))
}
