package gceemu

import (
	"encoding/json"
	"fmt"
	"net/http"

	"google.golang.org/api/compute/v1"
)

// apiError is an error answered in GCE's JSON error shape.
type apiError struct {
	Code    int
	Reason  string
	Message string
	Domain  string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Code, e.Reason, e.Message) }

func errf(code int, reason, format string, args ...any) *apiError {
	return &apiError{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...), Domain: "global"}
}

func notFound(path string) *apiError {
	return errf(404, "notFound", "The resource '%s' was not found", path)
}

func alreadyExists(path string) *apiError {
	return errf(409, "alreadyExists", "The resource '%s' already exists", path)
}

func invalid(format string, args ...any) *apiError { return errf(400, "invalid", format, args...) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Domain == "" {
		e.Domain = "global"
	}
	body := map[string]any{"error": map[string]any{
		"code":    e.Code,
		"message": e.Message,
		"errors":  []map[string]string{{"message": e.Message, "domain": e.Domain, "reason": e.Reason}},
	}}
	if e.Code == 401 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
	}
	writeJSON(w, e.Code, body)
}

// opError is how a failed asynchronous mutation shows in Operation.error.
func opError(e *apiError) *compute.OperationError {
	code := map[int]string{404: "RESOURCE_NOT_FOUND", 409: "RESOURCE_ALREADY_EXISTS", 400: "INVALID_FIELD_VALUE",
		412: "CONDITION_NOT_MET", 403: "PERMISSION_DENIED"}[e.Code]
	if code == "" {
		code = "INTERNAL_ERROR"
	}
	return &compute.OperationError{Errors: []*compute.OperationErrorErrors{{Code: code, Message: e.Message}}}
}
