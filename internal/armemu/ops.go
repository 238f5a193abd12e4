package armemu

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// operation is a long-running mutation, polled at its Azure-AsyncOperation URL.
type operation struct {
	name     string
	sub      string
	location string
	start    time.Time
	end      time.Time
	status   string // InProgress, Succeeded, Failed
	left     int    // status GETs still answering InProgress
	isDelete bool
	apply    func() // the change, applied when the operation succeeds
	onFail   func()
	err      *armError // the operation ends Failed with this
	owner    *entry    // the resource whose op this is, cleared when done
}

const opsAction = "Microsoft.Compute/locations/operations/read"

func init() {
	handle("GET", "subscriptions/{}/providers/Microsoft.Compute/locations/{}/operations/{}", opsAction, "locations/operations", apiAny, getOp)
}

// normRegion is how Azure compares region names: "West Europe" == "westeurope".
func normRegion(r string) string { return strings.ToLower(strings.ReplaceAll(r, " ", "")) }

// startOp registers the operation a mutation answers with and sets its headers. With
// no polls configured it is over at once, as gceemu's are: the change is visible to
// the next GET and the first status poll is terminal.
func (c *call) startOp(e *entry, location string, apply, onFail func()) *operation {
	s := c.s
	s.opSeq++
	op := &operation{name: fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", s.opSeq, c.now.Unix()&0xffff, s.opSeq&0xfff, s.rng.Intn(0xfff), s.opSeq*2654435761),
		sub: c.sub, location: normRegion(location), start: c.now, status: "InProgress", left: s.polls,
		isDelete: c.r.Method == http.MethodDelete, apply: apply, onFail: onFail, owner: e}
	if op.location == "" {
		op.location = "westeurope"
	}
	if c.opFails {
		op.err = errf(500, "InternalExecutionError", "An internal execution error occurred. Please retry later. (injected)")
	}
	s.ops[op.name] = op
	e.op = op
	u := fmt.Sprintf("%ssubscriptions/%s/providers/Microsoft.Compute/locations/%s/operations/%s?api-version=%s", s.base, c.sub, op.location, op.name, c.api)
	c.hdr.Set("Azure-AsyncOperation", u)
	c.hdr.Set("Retry-After", "0") // integer seconds: autorest panics on an HTTP-date
	if op.isDelete {
		c.hdr.Set("Location", u+"&monitor=true")
	}
	if op.left == 0 {
		c.finish(op)
	}
	return op
}

func (c *call) finish(op *operation) {
	op.end = c.now
	if op.err != nil {
		op.status = "Failed"
		if op.onFail != nil {
			op.onFail()
		}
	} else {
		op.status = "Succeeded"
		if op.apply != nil {
			op.apply()
		}
	}
	if op.owner != nil && op.owner.op == op {
		op.owner.op = nil
	}
	op.apply, op.onFail, op.owner = nil, nil, nil
}

// getOp answers the status poll. With monitor=true it answers as a Location URL does
// (202 while running, then 204, or the error), for clients that poll Location.
func getOp(c *call) (int, any, *armError) {
	op := c.s.ops[c.args[2]]
	if op == nil || !strings.EqualFold(op.sub, c.sub) {
		return 0, nil, errf(404, "NotFound", "The operation '%s' could not be found.", c.args[2])
	}
	if op.status == "InProgress" {
		if op.left > 0 {
			op.left--
		} else {
			c.finish(op)
		}
	}
	if c.q.Get("monitor") == "true" {
		switch op.status {
		case "InProgress":
			c.hdr.Set("Retry-After", "0")
			c.hdr.Set("Location", c.s.base+strings.TrimPrefix(c.r.URL.RequestURI(), "/"))
			return 202, nil, nil
		case "Failed":
			return 0, nil, op.err
		}
		return 204, nil, nil
	}
	body := map[string]any{"name": op.name, "status": op.status, "startTime": timestamp(op.start)}
	if op.status != "InProgress" {
		body["endTime"] = timestamp(op.end)
	} else {
		c.hdr.Set("Retry-After", "0")
	}
	if op.status == "Failed" {
		body["error"] = map[string]any{"code": op.err.Code, "message": op.err.Message}
	}
	return 200, body, nil
}
