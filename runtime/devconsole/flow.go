package devconsole

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/dialua/dialua/runtime/ivr"
)

// Flow is an IVR file drawn as a graph: its contexts, in the order a call
// reaches them from the entry, each with its options and what they do; and
// the moves the file itself makes (jump actions, and a menu's keys). The
// moves scripts answer with are only known as a call makes them; the page
// adds those from the call's jump steps.
type Flow struct {
	Name     string        `json:"name"`
	Entry    string        `json:"entry"`
	Contexts []FlowContext `json:"contexts"`
	Edges    []FlowEdge    `json:"edges"`
}

// FlowContext is a context and its options.
type FlowContext struct {
	Name    string       `json:"name"`
	Depth   int          `json:"depth"` // moves from the entry; -1 unreachable by the file's own moves
	Options []FlowOption `json:"options"`
}

// FlowOption is one option: its node id is "Context/option".
type FlowOption struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// FlowEdge is a move from one option to another.
type FlowEdge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Kind  string `json:"kind"` // jump, menu (a key, or timeout and invalid)
	Label string `json:"label,omitempty"`
}

// optionOrder is the order options are listed in.
var optionOrder = map[string]int{"start": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9, "0": 10, "*": 11, "#": 12, "timeout": 13, "invalid": 14}

func flowOf(def *ivr.IVR) Flow {
	f := Flow{Name: def.Name, Entry: def.Entry}
	depth := map[string]int{}
	next := map[string][]string{}
	var edges []FlowEdge
	names := make([]string, 0, len(def.Contexts))
	for n := range def.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, cn := range names {
		cx := def.Contexts[cn]
		for _, on := range sortedOptions(cx) {
			from := cn + "/" + on
			for _, a := range cx.Options[on] {
				switch a.Kind {
				case ivr.ActJump:
					opt := a.Option
					if opt == "" {
						opt = "start"
					}
					edges = append(edges, FlowEdge{From: from, To: a.Context + "/" + opt, Kind: "jump"})
					next[cn] = append(next[cn], a.Context)
				case ivr.ActMenu:
					for _, k := range sortedOptions(cx) {
						if k != "start" {
							edges = append(edges, FlowEdge{From: from, To: cn + "/" + k, Kind: "menu", Label: k})
						}
					}
				}
			}
		}
	}
	// Breadth first from the entry, so the page can lay contexts out in
	// columns in the order a call meets them.
	queue := []string{def.Entry}
	depth[def.Entry] = 0
	for len(queue) > 0 {
		cn := queue[0]
		queue = queue[1:]
		for _, n := range next[cn] {
			if _, seen := depth[n]; !seen && def.Contexts[n] != nil {
				depth[n] = depth[cn] + 1
				queue = append(queue, n)
			}
		}
	}
	sort.SliceStable(names, func(i, j int) bool {
		di, iok := depth[names[i]]
		dj, jok := depth[names[j]]
		if iok != jok {
			return iok
		}
		return iok && di < dj
	})
	for _, cn := range names {
		cx := def.Contexts[cn]
		d, ok := depth[cn]
		if !ok {
			d = -1
		}
		fc := FlowContext{Name: cn, Depth: d}
		for _, on := range sortedOptions(cx) {
			fo := FlowOption{ID: cn + "/" + on, Name: on, Actions: []string{}}
			for _, a := range cx.Options[on] {
				fo.Actions = append(fo.Actions, actionText(a))
			}
			fc.Options = append(fc.Options, fo)
		}
		f.Contexts = append(f.Contexts, fc)
	}
	f.Edges = edges
	if f.Edges == nil {
		f.Edges = []FlowEdge{}
	}
	return f
}

func sortedOptions(cx *ivr.Context) []string {
	out := make([]string, 0, len(cx.Options))
	for o := range cx.Options {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return optionOrder[out[i]] < optionOrder[out[j]] })
	return out
}

// actionText is an action in a few words.
func actionText(a ivr.Action) string {
	switch a.Kind {
	case ivr.ActPlay:
		return "play " + a.Sound
	case ivr.ActTTS:
		return fmt.Sprintf("say %q", a.Text)
	case ivr.ActRecord:
		return fmt.Sprintf("record %d keys into %s", a.Digits, a.Var)
	case ivr.ActMenu:
		return "menu: wait for a key"
	case ivr.ActSet:
		return fmt.Sprintf("set %s = %q", a.Var, a.Value)
	case ivr.ActCaller:
		return fmt.Sprintf("caller ID %q <%s>", a.Name, a.Number)
	case ivr.ActInteractive:
		m := a.Request.Method
		if m == "" {
			m = "GET"
		}
		return "Call Interactive " + m + " " + a.Request.URL
	case ivr.ActJump:
		return "jump to " + a.Context
	case ivr.ActPause:
		return fmt.Sprintf("pause %ds", a.Seconds)
	case ivr.ActTransfer:
		return "transfer to " + a.Target
	case ivr.ActQueue:
		return "queue " + a.Target
	case ivr.ActHangup:
		return "hang up"
	}
	return a.Kind
}

func (c *Console) flow(w http.ResponseWriter, r *http.Request) {
	if def := c.loadIVR(w, r.URL.Query().Get("ivr")); def != nil {
		writeJSON(w, http.StatusOK, flowOf(def))
	}
}
