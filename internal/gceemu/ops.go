package gceemu

import (
	"fmt"

	"github.com/google/uuid"

	"google.golang.org/api/compute/v1"
)

type opState struct {
	op     *compute.Operation
	left   int    // gets still answering RUNNING
	onDone func() // applied when the operation becomes DONE
	err    *apiError
}

func init() {
	handle("GET", "global/operations/{}", "compute.globalOperations.get", getOp("global", false))
	handle("POST", "global/operations/{}/wait", "compute.globalOperations.wait", getOp("global", true))
	handle("DELETE", "global/operations/{}", "compute.globalOperations.delete", deleteOp)
	handle("GET", "zones/{}/operations/{}", "compute.zoneOperations.get", getOp("zone", false))
	handle("POST", "zones/{}/operations/{}/wait", "compute.zoneOperations.wait", getOp("zone", true))
	handle("GET", "regions/{}/operations/{}", "compute.regionOperations.get", getOp("region", false))
	handle("POST", "regions/{}/operations/{}/wait", "compute.regionOperations.wait", getOp("region", true))
}

// scope of an operation: "global", "zones/z" or "regions/r".
func opKey(scope, name string) string { return scope + "|" + name }

func getOp(kind string, wait bool) handlerFunc {
	return func(c *req) (any, *apiError) {
		scope, name := "global", c.args[0]
		switch kind {
		case "zone":
			scope, name = "zones/"+c.args[0], c.args[1]
		case "region":
			scope, name = "regions/"+c.args[0], c.args[1]
		}
		st := c.p.ops[opKey(scope, name)]
		if st == nil {
			return nil, notFound(relPath(c.project, scope+"/operations/"+name))
		}
		if st.op.Status != "DONE" {
			if wait {
				st.left = 0
			} else if st.left > 0 {
				st.left--
			}
			if st.left == 0 {
				c.finish(st)
			} else {
				st.op.Progress = int64(100 / (st.left + 1))
			}
		}
		return clone(st.op), nil
	}
}

func deleteOp(c *req) (any, *apiError) {
	k := opKey("global", c.args[0])
	if c.p.ops[k] == nil {
		return nil, notFound(relPath(c.project, "global/operations/"+c.args[0]))
	}
	delete(c.p.ops, k)
	return struct{}{}, nil
}

func (c *req) finish(st *opState) {
	st.op.Status, st.op.Progress, st.op.EndTime = "DONE", 100, Timestamp(c.now)
	if st.err != nil {
		st.op.Error = opError(st.err)
		st.op.HttpErrorStatusCode = int64(st.err.Code)
		st.op.HttpErrorMessage = map[int]string{400: "BAD REQUEST", 404: "NOT FOUND", 409: "CONFLICT", 412: "PRECONDITION FAILED"}[st.err.Code]
	} else if st.onDone != nil {
		st.onDone()
	}
	st.onDone = nil
}

// opSpec describes the operation a mutation answers with.
type opSpec struct {
	typ      string // operationType: insert, delete, setLabels, ...
	scope    string // "global", "zones/z" or "regions/r"
	target   string // project-relative path of the target, e.g. global/images/x
	targetID uint64
	onDone   func()    // applied at once or when the operation is DONE
	err      *apiError // the mutation fails asynchronously with this
	warnings []*compute.OperationWarnings
}

// mutate runs fn, which applies the synchronous part of a mutation and returns the
// operation it answers with, unless a request with the same requestId was already
// served: then it answers that operation again without applying anything.
func (c *req) mutate(fn func() (*opSpec, *apiError)) (any, *apiError) {
	rid := c.q.Get("requestId")
	if rid != "" {
		if u, err := uuid.Parse(rid); err != nil || u == uuid.Nil {
			return nil, invalid("Invalid value for field 'requestId': '%s'. The request ID must be a valid UUID with the exception that zero UUID is not supported (00000000-0000-0000-0000-000000000000).", rid)
		}
		if key, ok := c.p.requests[c.method+"|"+rid]; ok && c.p.ops[key] != nil {
			return c.getStoredOp(key), nil
		}
	}
	spec, e := fn()
	if e != nil {
		return nil, e
	}
	spec.warnings = append(spec.warnings, c.warnings...)
	op := c.newOp(spec)
	if rid != "" {
		c.p.requests[c.method+"|"+rid] = opKey(spec.scope, op.Name)
	}
	return clone(op), nil
}

func (c *req) getStoredOp(key string) *compute.Operation { return clone(c.p.ops[key].op) }

func (c *req) newOp(spec *opSpec) *compute.Operation {
	s := c.s
	s.opSeq++
	name := fmt.Sprintf("operation-%d-%012x-%08x-%08x", c.now.UnixMilli(), s.opSeq, s.rng.Uint32(), s.opSeq*2654435761&0xffffffff)
	op := &compute.Operation{
		Kind: "compute#operation", Id: s.newID(), Name: name, OperationType: spec.typ,
		TargetLink: s.link(c.project, spec.target), TargetId: spec.targetID, Status: "RUNNING",
		User: "emulator@" + c.project + ".iam.gserviceaccount.com", Progress: 0,
		InsertTime: Timestamp(c.now), StartTime: Timestamp(c.now), Warnings: spec.warnings,
		SelfLink: s.link(c.project, spec.scope+"/operations/"+name),
	}
	switch {
	case len(spec.scope) > 6 && spec.scope[:6] == "zones/":
		op.Zone = s.link(c.project, spec.scope)
	case len(spec.scope) > 8 && spec.scope[:8] == "regions/":
		op.Region = s.link(c.project, spec.scope)
	}
	if spec.targetID == 0 {
		op.TargetId = s.newID()
	}
	st := &opState{op: op, left: s.polls, onDone: spec.onDone, err: spec.err}
	c.p.ops[opKey(spec.scope, name)] = st
	if st.left == 0 {
		c.finish(st)
	}
	return op
}
