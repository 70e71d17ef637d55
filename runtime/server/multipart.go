package server

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"

	"github.com/valyala/fasthttp"
)

// MaxFormParts bounds the parts of a multipart/form-data body, file parts
// included: IVRs send a dozen or two parameters, and each part costs a
// header parse however small it is, so a hostile client could otherwise
// make a 64 KiB body into thousands of them.
const MaxFormParts = 256

var (
	errBadMultipart   = errors.New("malformed multipart/form-data body")
	errTooManyParts   = errors.New("too many parts in a multipart/form-data body")
	errMultipartField = errors.New("multipart/form-data field larger than the body limit")
)

// bodyForm says how a POST body is read.
type bodyForm int

const (
	bodyRefused   bodyForm = iota // not a form: 415
	bodyURLForm                   // application/x-www-form-urlencoded, or no Content-Type
	bodyMultipart                 // multipart/form-data with a boundary
)

// postForm tells how a POST body is read from its Content-Type and, for a
// multipart body, returns its boundary. A body with no Content-Type is read
// as a URL-encoded form (some IVRs send none).
func postForm(ctx *fasthttp.RequestCtx) (bodyForm, string) {
	ct := ctx.Request.Header.ContentType()
	if len(ct) == 0 {
		ctx.Request.Header.SetContentType("application/x-www-form-urlencoded")
		return bodyURLForm, ""
	}
	if hasMediaType(ct, "application/x-www-form-urlencoded") {
		return bodyURLForm, ""
	}
	if !hasMediaType(ct, "multipart/form-data") {
		return bodyRefused, ""
	}
	// Only here, off the common path, is the header parsed in full (it
	// allocates): the boundary may be quoted.
	_, params, err := mime.ParseMediaType(string(ct))
	if b := params["boundary"]; err == nil && b != "" {
		return bodyMultipart, b
	}
	return bodyRefused, ""
}

// hasMediaType reports whether the Content-Type ct is the media type mt
// (lower case), in any case, with or without parameters.
func hasMediaType(ct []byte, mt string) bool {
	if len(ct) < len(mt) {
		return false
	}
	for i := 0; i < len(mt); i++ {
		c := ct[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != mt[i] {
			return false
		}
	}
	return len(ct) == len(mt) || ct[len(mt)] == ';' || ct[len(mt)] == ' '
}

// addMultipart adds the fields of a multipart/form-data body to the
// exchange, in the body's order. File parts (a filename in their
// Content-Disposition) and parts that are not form-data fields are skipped
// without being read: IVRs send no files, and a client that attaches one
// by mistake still gets its fields read. Every part, skipped or not,
// counts towards MaxFormParts; a field's value can be no larger than the
// body, which fasthttp has bounded already (limit is that bound). A
// quoted-printable part is decoded (mime/multipart does it); any other
// transfer encoding, which RFC 7578 deprecates for form data, is taken as
// sent.
func (ex *exchange) addMultipart(body []byte, boundary string, limit int) error {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for n := 0; ; n++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errBadMultipart
		}
		if n >= MaxFormParts {
			return errTooManyParts
		}
		name := p.FormName()
		if name == "" || p.FileName() != "" {
			continue
		}
		start := len(ex.raw)
		ex.raw = append(ex.raw, name...)
		mid := len(ex.raw)
		if ex.raw, err = appendPart(ex.raw, p, limit); err != nil {
			return err
		}
		ex.spans = append(ex.spans, span{start, mid, len(ex.raw)})
	}
}

// appendPart appends what r holds to dst, failing past limit bytes.
func appendPart(dst []byte, r io.Reader, limit int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst)-start > limit {
			return dst, errMultipartField
		}
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			if len(dst)-start > limit {
				return dst, errMultipartField
			}
			return dst, nil
		}
		if err != nil {
			return dst, errBadMultipart
		}
	}
}
