// Package apperr is the typed error every service returns for a user's
// mistake: a stable machine code, an HTTP status and a message that says what
// to fix. Handlers turn it into PocketBase's {status, message, data} shape with
// the code in data.code, which the JS SDK exposes as err.response.data.code.
package apperr

import (
	"errors"
	"net/http"

	"github.com/pocketbase/pocketbase/tools/router"
)

// Error is a user-facing error with a stable code.
type Error struct {
	Code    string
	Status  int
	Message string
	// Details are extra machine-readable fields (e.g. the id of the existing
	// duplicate, or the list of merge conflicts).
	Details map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns an error with code, status and message.
func New(status int, code, message string) *Error {
	return &Error{Code: code, Status: status, Message: message}
}

// With returns a copy of e carrying extra details.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Details = make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		c.Details[k] = v
	}
	c.Details[key] = value
	return &c
}

// BadRequest, Forbidden, NotFound and Conflict are the usual shapes.
func BadRequest(code, message string) *Error { return New(http.StatusBadRequest, code, message) }
func Forbidden(code, message string) *Error  { return New(http.StatusForbidden, code, message) }
func NotFound(code, message string) *Error   { return New(http.StatusNotFound, code, message) }
func Conflict(code, message string) *Error   { return New(http.StatusConflict, code, message) }
func Unauthorized(code, message string) *Error {
	return New(http.StatusUnauthorized, code, message)
}

// As lets PocketBase find an *Error wherever it looks for its own
// *router.ApiError (errors.As in its error handler, record routes and batch):
// a coded error returned from a route, a middleware or a record hook is
// rendered with its status, message and code, without a conversion by hand.
func (e *Error) As(target any) bool {
	t, ok := target.(**router.ApiError)
	if !ok {
		return false
	}
	*t = e.api()
	return true
}

func (e *Error) api() *router.ApiError {
	data := make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		data[k] = v
	}
	data["code"] = e.Code
	return &router.ApiError{Status: e.Status, Message: e.Message, Data: data}
}

// ToAPI converts err into the router error PocketBase renders. Errors that are
// not an *Error pass through unchanged (PocketBase maps them itself). Code
// that returns errors to PocketBase need not call it (see As).
func ToAPI(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	return e.api()
}
