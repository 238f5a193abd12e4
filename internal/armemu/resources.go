package armemu

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
)

// Resource types, as ARM spells them in "type".
const (
	typeGallery      = "Microsoft.Compute/galleries"
	typeImage        = "Microsoft.Compute/galleries/images"
	typeVersion      = "Microsoft.Compute/galleries/images/versions"
	typeVM           = "Microsoft.Compute/virtualMachines"
	typeVMSS         = "Microsoft.Compute/virtualMachineScaleSets"
	typeRG           = "Microsoft.Resources/resourceGroups"
	typeDeploy       = "Microsoft.Resources/deployments"
	typePIP          = "Microsoft.Network/publicIPAddresses"
	typeManagedImage = "Microsoft.Compute/images"
	typeDisk         = "Microsoft.Compute/disks"
)

// entry is one stored resource. val is what a GET shows: during an update or delete
// the old value in provisioningState Updating/Deleting, during a create the new one
// in Creating.
type entry struct {
	id     string // as first created: ARM keeps the case of the creating request
	typ    string
	sub    string
	rg     string
	parent string // lower-case id of the parent resource; "" for top-level ones
	val    any    // *armcompute.Gallery, *GalleryImage, *GalleryImageVersion, *VirtualMachine, *VirtualMachineScaleSet; generic: map[string]any
	op     *operation
	power  string // virtual machines: running, deallocated or generalized
}

func key(id string) string { return strings.ToLower(id) }

func rgID(sub, rg string) string { return "/subscriptions/" + sub + "/resourceGroups/" + rg }

func galleryID(sub, rg, g string) string {
	return rgID(sub, rg) + "/providers/Microsoft.Compute/galleries/" + g
}

func imageID(sub, rg, g, i string) string { return galleryID(sub, rg, g) + "/images/" + i }

func versionID(sub, rg, g, i, v string) string { return imageID(sub, rg, g, i) + "/versions/" + v }

func vmID(sub, rg, name string) string {
	return rgID(sub, rg) + "/providers/Microsoft.Compute/virtualMachines/" + name
}

func vmssID(sub, rg, name string) string {
	return rgID(sub, rg) + "/providers/Microsoft.Compute/virtualMachineScaleSets/" + name
}

func lastSeg(id string) string { return id[strings.LastIndex(id, "/")+1:] }

// cloneModel deep-copies an armcompute model through its own JSON codec, so answers
// never share state with the store.
func cloneModel[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

func cloneAny(v any) any {
	switch m := v.(type) {
	case *armcompute.Gallery:
		return cloneModel(m)
	case *armcompute.GalleryImage:
		return cloneModel(m)
	case *armcompute.GalleryImageVersion:
		return cloneModel(m)
	case *armcompute.VirtualMachine:
		return cloneModel(m)
	case *armcompute.VirtualMachineScaleSet:
		return cloneModel(m)
	case map[string]any:
		return *cloneModel(&m)
	}
	panic("armemu: cannot clone " + reflect.TypeOf(v).String())
}

// setCommon fills the read-only envelope: id, name and type.
func setCommon(v any, id, typ string) {
	name := lastSeg(id)
	switch m := v.(type) {
	case *armcompute.Gallery:
		m.ID, m.Name, m.Type = &id, &name, &typ
	case *armcompute.GalleryImage:
		m.ID, m.Name, m.Type = &id, &name, &typ
	case *armcompute.GalleryImageVersion:
		m.ID, m.Name, m.Type = &id, &name, &typ
	case *armcompute.VirtualMachine:
		m.ID, m.Name, m.Type = &id, &name, &typ
	case *armcompute.VirtualMachineScaleSet:
		m.ID, m.Name, m.Type = &id, &name, &typ
	case map[string]any:
		m["id"], m["name"], m["type"] = id, name, typ
	}
}

// setState sets properties.provisioningState.
func setState(v any, state string) {
	gs := to.Ptr(armcompute.GalleryProvisioningState(state))
	switch m := v.(type) {
	case *armcompute.Gallery:
		if m.Properties == nil {
			m.Properties = &armcompute.GalleryProperties{}
		}
		m.Properties.ProvisioningState = gs
	case *armcompute.GalleryImage:
		if m.Properties == nil {
			m.Properties = &armcompute.GalleryImageProperties{}
		}
		m.Properties.ProvisioningState = gs
	case *armcompute.GalleryImageVersion:
		if m.Properties == nil {
			m.Properties = &armcompute.GalleryImageVersionProperties{}
		}
		m.Properties.ProvisioningState = gs
	case *armcompute.VirtualMachine:
		if m.Properties == nil {
			m.Properties = &armcompute.VirtualMachineProperties{}
		}
		m.Properties.ProvisioningState = to.Ptr(state)
	case *armcompute.VirtualMachineScaleSet:
		if m.Properties == nil {
			m.Properties = &armcompute.VirtualMachineScaleSetProperties{}
		}
		m.Properties.ProvisioningState = to.Ptr(state)
	case map[string]any:
		p, _ := m["properties"].(map[string]any)
		if p == nil {
			p = map[string]any{}
			m["properties"] = p
		}
		p["provisioningState"] = state
	}
}

func locationOf(v any) string {
	var l *string
	switch m := v.(type) {
	case *armcompute.Gallery:
		l = m.Location
	case *armcompute.GalleryImage:
		l = m.Location
	case *armcompute.GalleryImageVersion:
		l = m.Location
	case *armcompute.VirtualMachine:
		l = m.Location
	case *armcompute.VirtualMachineScaleSet:
		l = m.Location
	case map[string]any:
		s, _ := m["location"].(string)
		return s
	}
	if l == nil {
		return ""
	}
	return *l
}

// children lists the entries of typ under parent (a lower-case id), sorted by id.
func (s *Server) children(parent, typ string) []*entry {
	var out []*entry
	for _, e := range s.res {
		if e.parent == parent && e.typ == typ {
			out = append(out, e)
		}
	}
	return sortedByID(out)
}

// inScope lists the top-level entries of typ in a subscription, or one of its
// resource groups when rg is not "", sorted by id.
func (s *Server) inScope(sub, rg, typ string) []*entry {
	var out []*entry
	for _, e := range s.res {
		if e.typ == typ && strings.EqualFold(e.sub, sub) && (rg == "" || strings.EqualFold(e.rg, rg)) {
			out = append(out, e)
		}
	}
	return sortedByID(out)
}

func values(es []*entry) []any {
	out := make([]any, len(es))
	for i, e := range es {
		out[i] = cloneAny(e.val)
	}
	return out
}

// store puts a seeded resource in place, Succeeded and with no operation.
func (s *Server) store(id, typ, sub, rg, parent string, v any) *entry {
	if e := s.res[key(id)]; e != nil {
		id = e.id
	}
	setCommon(v, id, typ)
	setState(v, "Succeeded")
	e := &entry{id: id, typ: typ, sub: sub, rg: rg, parent: parent, val: v}
	s.res[key(id)] = e
	return e
}

// busy is ARM's answer to a mutation while another one on the resource is running.
func busy(e *entry) *armError {
	return errf(409, "AnotherOperationInProgress", "Another operation on the resource '%s' is in progress (operation '%s'). Retry when it has completed.", e.id, e.op.name)
}

// put creates or replaces the resource at id with v, already validated and filled in,
// as a long-running operation: 201 Creating or 200 Updating.
func (c *call) put(id, typ, rg, parent string, v any) (int, any, *armError) {
	s := c.s
	k := key(id)
	e := s.res[k]
	if e != nil && e.op != nil {
		return 0, nil, busy(e)
	}
	status, pending := 200, "Updating"
	if e == nil {
		status, pending = 201, "Creating"
		e = &entry{id: id, typ: typ, sub: c.sub, rg: rg, parent: parent}
		s.res[k] = e
	}
	setCommon(v, e.id, typ)
	final := cloneAny(v)
	setState(final, "Succeeded")
	if status == 201 {
		e.val = cloneAny(v)
	}
	setState(e.val, pending)
	c.startOp(e, locationOf(v), func() { e.val = final }, func() { setState(e.val, "Failed") })
	resp := cloneAny(v)
	setState(resp, pending)
	return status, resp, nil
}

// del deletes the resource at id as a long-running operation (202); a resource
// that is not there answers 204, as ARM's deletes are idempotent.
func (c *call) del(id string, check func(e *entry) *armError) (int, any, *armError) {
	s := c.s
	k := key(id)
	e := s.res[k]
	if e == nil {
		return 204, nil, nil
	}
	if e.op != nil {
		return 0, nil, busy(e)
	}
	if check != nil {
		if err := check(e); err != nil {
			return 0, nil, err
		}
	}
	setState(e.val, "Deleting")
	c.startOp(e, locationOf(e.val), func() { delete(s.res, k) }, func() { setState(e.val, "Failed") })
	return 202, nil, nil
}

// nested refuses to delete a resource that still has children, as ARM does.
func (c *call) nested(typ string) func(e *entry) *armError {
	return func(e *entry) *armError {
		if len(c.s.children(key(e.id), typ)) > 0 {
			return errf(409, "CannotDeleteResource", "Can not delete resource before nested resources are deleted.")
		}
		return nil
	}
}

func (c *call) requireLocation(v any) *armError {
	if locationOf(v) == "" {
		return errf(400, "LocationRequired", "The location property is required for this definition.")
	}
	return nil
}
