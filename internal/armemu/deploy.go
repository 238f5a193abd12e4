package armemu

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/google/uuid"
)

// What the azure-arm builder needs besides galleries: a resource group to
// build in, a template deployment that creates the VM and its network, the
// VM's public IP (PublicIP, where the emulator's SSH server listens), deallocate
// and generalize, and deletes. Resources the emulator does not model (virtual
// networks, NICs, NSGs, extensions) are kept as plain JSON so they can be read
// and deleted.
func init() {
	const rgs = "subscriptions/{}/resourcegroups/{}"
	const rga = "Microsoft.Resources/subscriptions/resourceGroups/"
	handle("GET", rgs, rga+"read", typeRG, apiAny, getRG)
	handle("PUT", rgs, rga+"write", typeRG, apiAny, putRG)
	handle("DELETE", rgs, rga+"delete", typeRG, apiAny, deleteRG)

	const dep = rgs + "/providers/Microsoft.Resources/deployments/{}"
	const da = "Microsoft.Resources/deployments/"
	handle("POST", dep+"/validate", da+"validate/action", typeDeploy, apiAny, validateDeployment)
	handle("PUT", dep, da+"write", typeDeploy, apiAny, putDeployment)
	handle("GET", dep, da+"read", typeDeploy, apiAny, getGeneric(typeDeploy))
	handle("DELETE", dep, da+"delete", typeDeploy, apiAny, deleteGeneric)
	handle("GET", dep+"/operations", da+"operations/read", typeDeploy, apiAny, listDeploymentOps)
	handle("GET", rgs+"/deployments/{}/operations", da+"operations/read", typeDeploy, apiAny, listDeploymentOps)

	for _, typ := range []string{"publicIPAddresses", "networkInterfaces", "virtualNetworks", "networkSecurityGroups"} {
		t, a := "Microsoft.Network/"+typ, "Microsoft.Network/"+typ+"/"
		handle("GET", rgs+"/providers/"+t+"/{}", a+"read", t, apiAny, getGeneric(t))
		handle("DELETE", rgs+"/providers/"+t+"/{}", a+"delete", t, apiAny, deleteGeneric)
	}

	const img, ia = rgs + "/providers/Microsoft.Compute/images/{}", "Microsoft.Compute/images/"
	handle("GET", img, ia+"read", typeManagedImage, apiCompute, getGeneric(typeManagedImage))
	handle("PUT", img, ia+"write", typeManagedImage, apiCompute, putManagedImage)
	handle("DELETE", img, ia+"delete", typeManagedImage, apiCompute, deleteGeneric)

	const disk = rgs + "/providers/Microsoft.Compute/disks/{}"
	handle("GET", disk, "Microsoft.Compute/disks/read", typeDisk, apiAny, getGeneric(typeDisk))
	handle("DELETE", disk, "Microsoft.Compute/disks/delete", typeDisk, apiAny, deleteDisk)

	const vm = rgs + "/providers/Microsoft.Compute/virtualMachines/{}"
	handle("POST", vm+"/deallocate", "Microsoft.Compute/virtualMachines/deallocate/action", typeVM, apiCompute, deallocateVM)
	handle("POST", vm+"/generalize", "Microsoft.Compute/virtualMachines/generalize/action", typeVM, apiCompute, generalizeVM)
}

// PublicIP is the address every public IP the emulator allocates has: the
// loopback, where a test serves SSH (ServeSSH) for the builder to connect to.
const PublicIP = "127.0.0.1"

// resourceID is the id of a request's path, as the client spelled it.
func (c *call) resourceID() string { return "/" + strings.Trim(c.r.URL.Path, "/") }

func (c *call) resourceGroup() *entry { return c.s.res[key(rgID(c.sub, c.args[1]))] }

func getRG(c *call) (int, any, *armError) {
	e := c.resourceGroup()
	if e == nil {
		return 0, nil, errf(404, "ResourceGroupNotFound", "Resource group '%s' could not be found.", c.args[1])
	}
	return 200, cloneAny(e.val), nil
}

// putRG creates or updates a resource group; ARM does both synchronously.
func putRG(c *call) (int, any, *armError) {
	var body struct {
		Location string            `json:"location"`
		Tags     map[string]string `json:"tags"`
	}
	if e := c.decode(&body); e != nil {
		return 0, nil, e
	}
	if body.Location == "" {
		return 0, nil, errf(400, "LocationRequired", "The location property is required for this definition.")
	}
	id := rgID(c.sub, c.args[1])
	status := 201
	if old := c.resourceGroup(); old != nil {
		if old.op != nil {
			return 0, nil, busy(old)
		}
		if !strings.EqualFold(locationOf(old.val), body.Location) {
			return 0, nil, errf(409, "InvalidResourceGroupLocation", "Invalid resource group location '%s'. The Resource group already exists in location '%s'.", body.Location, locationOf(old.val))
		}
		status = 200
	}
	v := map[string]any{"location": normRegion(body.Location), "tags": body.Tags}
	e := c.s.store(id, typeRG, c.sub, c.args[1], "", v)
	return status, cloneAny(e.val), nil
}

// deleteRG deletes the group and everything in it, as one long-running operation.
func deleteRG(c *call) (int, any, *armError) {
	e := c.resourceGroup()
	if e == nil {
		return 0, nil, errf(404, "ResourceGroupNotFound", "Resource group '%s' could not be found.", c.args[1])
	}
	if e.op != nil {
		return 0, nil, busy(e)
	}
	s, sub, rg := c.s, c.sub, c.args[1]
	setState(e.val, "Deleting")
	c.startOp(e, locationOf(e.val), func() {
		for k, r := range s.res {
			if strings.EqualFold(r.sub, sub) && strings.EqualFold(r.rg, rg) {
				delete(s.res, k)
				delete(s.deployOps, k)
			}
		}
	}, func() { setState(e.val, "Failed") })
	return 202, nil, nil
}

func getGeneric(typ string) handlerFunc {
	return func(c *call) (int, any, *armError) {
		e := c.s.res[key(c.resourceID())]
		if e == nil {
			return 0, nil, notFound(typ, lastSeg(c.resourceID()), c.args[1])
		}
		return 200, cloneAny(e.val), nil
	}
}

func deleteGeneric(c *call) (int, any, *armError) { return c.del(c.resourceID(), nil) }

// deployment is a deployment request's body.
type deployment struct {
	Properties *struct {
		Mode       string      `json:"mode"`
		Template   rawTemplate `json:"template"`
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
		TemplateLink any `json:"templateLink"`
	} `json:"properties"`
}

// planned is one resource a deployment creates.
type planned struct {
	id, typ, name string
	val           map[string]any
}

// plan evaluates a deployment's template into the resources it creates, or
// fails as ARM's validation does.
func (c *call) plan() ([]planned, *armError) {
	rg := c.resourceGroup()
	if rg == nil {
		return nil, errf(404, "ResourceGroupNotFound", "Resource group '%s' could not be found.", c.args[1])
	}
	var d deployment
	if e := c.decode(&d); e != nil {
		return nil, e
	}
	invalid := func(format string, args ...any) *armError {
		return errf(400, "InvalidTemplate", "Deployment template validation failed: '"+format+"'.", args...)
	}
	if d.Properties == nil {
		return nil, invalid("The request content is missing properties")
	}
	if d.Properties.TemplateLink != nil {
		return nil, invalid("armemu deploys inline templates only, not templateLink")
	}
	if d.Properties.Mode != "Incremental" && d.Properties.Mode != "Complete" {
		return nil, invalid("The deployment mode '%s' is not valid; it must be Incremental or Complete", d.Properties.Mode)
	}
	t, err := newTemplate(&d.Properties.Template, d.Properties.Parameters, c.sub, c.args[1], locationOf(rg.val))
	if err != nil {
		return nil, invalid("%v", err)
	}
	var out []planned
	for i, raw := range d.Properties.Template.Resources {
		if cond, ok := raw["condition"]; ok {
			v, err := t.eval(cond)
			if err != nil {
				return nil, invalid("%v", err)
			}
			if b, ok := v.(bool); !ok {
				return nil, invalid("The condition of resource %d is not a boolean", i)
			} else if !b {
				continue
			}
		}
		ev, err := t.eval(raw)
		if err != nil {
			return nil, invalid("%v", err)
		}
		r := ev.(map[string]any)
		typ, _ := r["type"].(string)
		name, _ := r["name"].(string)
		types, names := strings.Split(typ, "/"), strings.Split(name, "/")
		if len(types) < 2 || len(names) != len(types)-1 {
			return nil, invalid("The resource %d has type '%s' and name '%s': a name needs one segment per type segment after the namespace", i, typ, name)
		}
		args := []any{typ}
		for _, n := range names {
			args = append(args, n)
		}
		id, err := t.resourceID(args)
		if err != nil {
			return nil, invalid("%v", err)
		}
		for _, k := range []string{"apiVersion", "dependsOn", "condition", "copy", "comments"} {
			delete(r, k)
		}
		out = append(out, planned{id: id, typ: typ, name: name, val: r})
	}
	return out, nil
}

func validateDeployment(c *call) (int, any, *armError) {
	rs, e := c.plan()
	if e != nil {
		return 0, nil, e
	}
	var validated []any
	for _, r := range rs {
		validated = append(validated, map[string]any{"id": r.id})
	}
	id := strings.TrimSuffix(c.resourceID(), "/validate")
	return 200, map[string]any{"id": id, "name": lastSeg(id), "type": typeDeploy,
		"properties": map[string]any{"provisioningState": "Succeeded", "mode": "Incremental", "timestamp": timestamp(c.now),
			"validatedResources": validated}}, nil
}

// putDeployment creates a deployment's resources when its operation succeeds,
// and keeps one operation per resource for the operations list.
func putDeployment(c *call) (int, any, *armError) {
	rs, e := c.plan()
	if e != nil {
		return 0, nil, e
	}
	s, id := c.s, c.resourceID()
	if old := s.res[key(id)]; old != nil && old.op != nil {
		return 0, nil, busy(old)
	}
	for _, r := range rs {
		if old := s.res[key(r.id)]; old != nil && old.op != nil {
			return 0, nil, busy(old)
		}
	}
	var vms []*armcompute.VirtualMachine
	for _, r := range rs {
		if strings.EqualFold(r.typ, typeVM) {
			vm, e := decodeVM(r.val)
			if e != nil {
				return 0, nil, e
			}
			s.fillVM(vm, nil, r.id)
			vms = append(vms, vm)
		}
	}
	var outputs []any
	for _, r := range rs {
		outputs = append(outputs, map[string]any{"id": r.id})
	}
	v := map[string]any{"properties": map[string]any{"mode": "Incremental", "timestamp": timestamp(c.now),
		"correlationId": uuid.NewString(), "outputs": map[string]any{}, "outputResources": outputs}}
	status := 201
	e2 := s.res[key(id)]
	if e2 == nil {
		e2 = &entry{id: id, typ: typeDeploy, sub: c.sub, rg: c.args[1]}
		s.res[key(id)] = e2
	} else {
		status = 200
	}
	setCommon(v, e2.id, typeDeploy)
	final := cloneAny(v)
	setState(final, "Succeeded")
	e2.val = cloneAny(v)
	setState(e2.val, "Running")
	sub, rg, now := c.sub, c.args[1], c.now
	c.startOp(e2, locationOf(c.resourceGroup().val), func() {
		var ops []any
		vm := 0
		for _, r := range rs {
			var val any = r.val
			switch {
			case strings.EqualFold(r.typ, typeVM):
				val = vms[vm]
				vm++
			case strings.EqualFold(r.typ, typePIP):
				props, _ := r.val["properties"].(map[string]any)
				if props == nil {
					props = map[string]any{}
					r.val["properties"] = props
				}
				props["ipAddress"] = PublicIP
			}
			stored := s.store(r.id, canonicalType(r.typ), sub, rg, parentOf(r.id, r.typ), val)
			if strings.EqualFold(r.typ, typeVM) {
				stored.power = "running"
				// The OS disk outlives the VM, as Azure's does by default.
				disk := *vms[vm-1].Properties.StorageProfile.OSDisk.ManagedDisk.ID
				s.store(disk, typeDisk, sub, strings.Split(disk, "/")[4], "", map[string]any{"location": locationOf(val),
					"properties": map[string]any{"diskSizeGB": 30, "osType": "Linux"}})
			}
			opID := strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:16])
			ops = append(ops, map[string]any{"id": id + "/operations/" + opID, "operationId": opID,
				"properties": map[string]any{"provisioningOperation": "Create", "provisioningState": "Succeeded", "timestamp": timestamp(now),
					"duration": "PT1S", "statusCode": "Created", "serviceRequestId": uuid.NewString(),
					"targetResource": map[string]any{"id": r.id, "resourceType": r.typ, "resourceName": r.name}}})
		}
		s.deployOps[key(id)] = ops
		e2.val = final
	}, func() { setState(e2.val, "Failed") })
	resp := cloneAny(e2.val)
	return status, resp, nil
}

// canonicalType spells the types the emulator models as it does elsewhere.
func canonicalType(t string) string {
	for _, known := range []string{typeVM, typeVMSS, typePIP} {
		if strings.EqualFold(t, known) {
			return known
		}
	}
	return t
}

// parentOf is the lower-case id of a nested resource's parent (a VM's extension).
func parentOf(id, typ string) string {
	if strings.Count(typ, "/") < 2 {
		return ""
	}
	return key(id[:strings.LastIndex(id[:strings.LastIndex(id, "/")], "/")])
}

func decodeVM(r map[string]any) (*armcompute.VirtualMachine, *armError) {
	b, _ := json.Marshal(r)
	var vm armcompute.VirtualMachine
	if err := json.Unmarshal(b, &vm); err != nil {
		return nil, errf(400, "InvalidTemplate", "Deployment template validation failed: 'the virtual machine is not valid: %v'.", err)
	}
	if vm.Location == nil || *vm.Location == "" {
		return nil, errf(400, "LocationRequired", "The location property is required for this definition.")
	}
	return &vm, nil
}

func listDeploymentOps(c *call) (int, any, *armError) {
	id := rgID(c.sub, c.args[1]) + "/providers/Microsoft.Resources/deployments/" + c.args[2]
	e := c.s.res[key(id)]
	if e == nil {
		return 0, nil, errf(404, "DeploymentNotFound", "Deployment '%s' could not be found.", c.args[2])
	}
	if top := c.q.Get("$top"); top != "" {
		var n int
		if _, err := fmt.Sscanf(top, "%d", &n); err != nil || n <= 0 {
			return 0, nil, invalidParam("$top", "The value '%s' of parameter '$top' is invalid.", top)
		}
	}
	return c.page(append([]any(nil), c.s.deployOps[key(id)]...))
}

// vm is the virtual machine a power action names.
func (c *call) vm() (*entry, *armError) {
	e := c.s.res[key(vmID(c.sub, c.args[1], c.args[2]))]
	if e == nil {
		return nil, notFound(typeVM, c.args[2], c.args[1])
	}
	if e.op != nil {
		return nil, busy(e)
	}
	return e, nil
}

// deallocateVM stops the VM and releases its hardware, a long-running operation.
func deallocateVM(c *call) (int, any, *armError) {
	e, err := c.vm()
	if err != nil {
		return 0, nil, err
	}
	c.startOp(e, locationOf(e.val), func() {
		if e.power != "generalized" {
			e.power = "deallocated"
		}
	}, nil)
	return 202, nil, nil
}

// generalizeVM marks a stopped VM generalized (synchronous, 200), the state
// a gallery version of a Generalized definition needs its source VM in.
func generalizeVM(c *call) (int, any, *armError) {
	e, err := c.vm()
	if err != nil {
		return 0, nil, err
	}
	if e.power == "running" {
		return 0, nil, errf(409, "OperationNotAllowed", "Operation 'generalize' is not allowed on VM '%s' since the VM is running. Please deallocate the VM first.", c.args[2])
	}
	e.power = "generalized"
	return 200, nil, nil
}

// deleteDisk deletes a managed disk that no VM has attached.
func deleteDisk(c *call) (int, any, *armError) {
	id := c.resourceID()
	return c.del(id, func(e *entry) *armError {
		for _, r := range c.s.res {
			if vm, ok := r.val.(*armcompute.VirtualMachine); ok && vm.Properties != nil && vm.Properties.StorageProfile != nil {
				if od := vm.Properties.StorageProfile.OSDisk; od != nil && od.ManagedDisk != nil && strings.EqualFold(deref(od.ManagedDisk.ID), id) {
					return errf(409, "OperationNotAllowed", "Disk %s is attached to VM %s.", lastSeg(id), r.id)
				}
			}
		}
		return nil
	})
}

// putManagedImage captures a generalized VM as a managed image (the builder's
// managed_image_name), a long-running operation.
func putManagedImage(c *call) (int, any, *armError) {
	var v map[string]any
	if e := c.decode(&v); e != nil {
		return 0, nil, e
	}
	if loc, _ := v["location"].(string); loc == "" {
		return 0, nil, errf(400, "LocationRequired", "The location property is required for this definition.")
	}
	props, _ := v["properties"].(map[string]any)
	svm, _ := props["sourceVirtualMachine"].(map[string]any)
	src, _ := svm["id"].(string)
	if src == "" {
		return 0, nil, invalidParam("properties.sourceVirtualMachine", "armemu captures images from virtual machines only: properties.sourceVirtualMachine.id is required.")
	}
	vm := c.s.res[key(src)]
	switch {
	case vm == nil || vm.typ != typeVM:
		return 0, nil, invalidParam("properties.sourceVirtualMachine.id", "The source virtual machine '%s' was not found.", src)
	case vm.power != "generalized":
		return 0, nil, errf(409, "OperationNotAllowed", "The source virtual machine '%s' must be generalized to create an image.", src)
	}
	return c.put(c.resourceID(), typeManagedImage, c.args[1], "", v)
}

// checkVMSource applies Azure's rule to a version made from a virtual machine:
// the VM exists and, for a Generalized definition, has been generalized.
func (c *call) checkVMSource(img *entry, v *armcompute.GalleryImageVersion) *armError {
	src := sourceID(v)
	if !strings.Contains(strings.ToLower(src), "/providers/microsoft.compute/virtualmachines/") {
		return nil
	}
	vm := c.s.res[key(src)]
	if vm == nil {
		return invalidParam("galleryImageVersion.properties.storageProfile.source.id", "The source virtual machine '%s' was not found.", src)
	}
	def := img.val.(*armcompute.GalleryImage)
	if def.Properties != nil && def.Properties.OSState != nil && *def.Properties.OSState == armcompute.OperatingSystemStateTypesGeneralized && vm.power != "generalized" {
		return errf(409, "OperationNotAllowed", "The source virtual machine '%s' is not generalized, but the gallery image '%s' is Generalized.", src, lastSeg(img.id))
	}
	return nil
}

// VMPower says what state a VM is in (running, deallocated, generalized); "" when
// the VM does not exist or was seeded without one.
func (s *Server) VMPower(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.res[key(id)]; e != nil {
		return e.power
	}
	return ""
}

// ResourceGroups lists the ids of a subscription's resource groups.
func (s *Server) ResourceGroups(sub string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range sortedByID(s.inScope(s.knownSub(sub), "", typeRG)) {
		out = append(out, e.id)
	}
	return out
}

// PutResourceGroup stores a resource group.
func (s *Server) PutResourceGroup(sub, name, location string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub = s.knownSub(sub)
	return s.store(rgID(sub, name), typeRG, sub, name, "", map[string]any{"location": normRegion(location)}).id
}
