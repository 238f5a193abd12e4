package armemu

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// armError is an error answered in ARM's JSON shape: {"error":{"code","message"}}.
type armError struct {
	Status  int
	Code    string
	Message string
	Target  string
}

func (e *armError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errf(status int, code, format string, args ...any) *armError {
	return &armError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *armError) body() map[string]any {
	inner := map[string]any{"code": e.Code, "message": e.Message}
	if e.Target != "" {
		inner["target"] = e.Target
	}
	return map[string]any{"error": inner}
}

func notFound(typ, name, rg string) *armError {
	return errf(404, "ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", typ, name, rg)
}

func parentNotFound(typ, name string) *armError {
	return errf(404, "ParentResourceNotFound", "Can not perform requested operation on nested resource. Parent resource '%s' of type '%s' not found.", name, typ)
}

func invalidParam(target, format string, args ...any) *armError {
	e := errf(400, "InvalidParameter", format, args...)
	e.Target = target
	return e
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// aadError is an Entra ID token endpoint error: {"error","error_description","error_codes",...}.
type aadError struct {
	Status int
	Err    string
	Code   int // AADSTS number
	Desc   string
}

func aadErrf(status int, err string, code int, format string, args ...any) *aadError {
	return &aadError{Status: status, Err: err, Code: code, Desc: fmt.Sprintf(format, args...)}
}
