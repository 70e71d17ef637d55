package loader

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"

	lua "github.com/yuin/gopher-lua"
)

// Files that differ only in their constants share their code and debug
// information. A hosting provider's customers mostly deploy one template
// with their own names, numbers and URLs filled in: the bytes differ, so
// templates (share.go) cannot share them, but the instructions, line
// numbers, local variable names and call names are the same, and they are
// two thirds of a small script's compiled form. Each file keeps its own
// constants and its own FunctionProto structs. Those slices are never
// written after sandbox.Compile, by any VM, so sharing them between
// tenants shares nothing a script can change.
//
// A shape lives as long as a template that uses it; the index holds weak
// pointers only, as the template index does.
type shapes struct{ index weakIndex[shape] }

// shape is a compiled form's shareable slices, as a proto tree without
// constants (a struct literal, so that gopher-lua's private copy of the
// string constants is not kept either).
type shape struct{ proto *lua.FunctionProto }

// share makes p use the slices of an earlier compiled form of the same
// shape, or makes p's the ones later forms use, and returns the shape p
// now depends on.
func (ss *shapes) share(p *lua.FunctionProto) *shape {
	sum := shapeSum(p)
	if s := ss.index.get(sum); s != nil && sameShape(s.proto, p) {
		adopt(p, s.proto)
		return s
	}
	s := &shape{proto: skeleton(p)}
	ss.index.put(sum, s)
	return s
}

func skeleton(p *lua.FunctionProto) *lua.FunctionProto {
	s := &lua.FunctionProto{
		Code:               p.Code,
		DbgSourcePositions: p.DbgSourcePositions,
		DbgLocals:          p.DbgLocals,
		DbgCalls:           p.DbgCalls,
		DbgUpvalues:        p.DbgUpvalues,
	}
	for _, c := range p.FunctionPrototypes {
		s.FunctionPrototypes = append(s.FunctionPrototypes, skeleton(c))
	}
	return s
}

// adopt points p's shareable slices at s's, which sameShape found equal.
func adopt(p, s *lua.FunctionProto) {
	p.Code = s.Code
	p.DbgSourcePositions = s.DbgSourcePositions
	p.DbgLocals = s.DbgLocals
	p.DbgCalls = s.DbgCalls
	p.DbgUpvalues = s.DbgUpvalues
	for i, c := range p.FunctionPrototypes {
		adopt(c, s.FunctionPrototypes[i])
	}
}

// sameShape compares what adopt replaces, whole: the sum only finds the
// candidate.
func sameShape(s, p *lua.FunctionProto) bool {
	if !slices.Equal(s.Code, p.Code) || !slices.Equal(s.DbgSourcePositions, p.DbgSourcePositions) ||
		!slices.Equal(s.DbgCalls, p.DbgCalls) || !slices.Equal(s.DbgUpvalues, p.DbgUpvalues) ||
		!slices.EqualFunc(s.DbgLocals, p.DbgLocals, func(a, b *lua.DbgLocalInfo) bool { return *a == *b }) ||
		len(s.FunctionPrototypes) != len(p.FunctionPrototypes) {
		return false
	}
	for i, c := range p.FunctionPrototypes {
		if !sameShape(s.FunctionPrototypes[i], c) {
			return false
		}
	}
	return true
}

func shapeSum(p *lua.FunctionProto) [sha256.Size]byte {
	h := sha256.New()
	writeShape(h, p)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func writeShape(h hash.Hash, p *lua.FunctionProto) {
	var b []byte
	num := func(n int) { b = binary.AppendUvarint(b, uint64(n)) }
	str := func(s string) { num(len(s)); b = append(b, s...) }
	num(len(p.Code))
	for _, c := range p.Code {
		b = binary.LittleEndian.AppendUint32(b, c)
	}
	num(len(p.DbgSourcePositions))
	for _, l := range p.DbgSourcePositions {
		num(l)
	}
	num(len(p.DbgLocals))
	for _, l := range p.DbgLocals {
		str(l.Name)
		num(l.StartPc)
		num(l.EndPc)
	}
	num(len(p.DbgCalls))
	for _, c := range p.DbgCalls {
		str(c.Name)
		num(c.Pc)
	}
	num(len(p.DbgUpvalues))
	for _, u := range p.DbgUpvalues {
		str(u)
	}
	num(len(p.FunctionPrototypes))
	h.Write(b)
	for _, c := range p.FunctionPrototypes {
		writeShape(h, c)
	}
}
