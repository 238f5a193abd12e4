package armemu

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/google/uuid"
)

func init() {
	const vm, ss = "Microsoft.Compute/virtualMachines/", "Microsoft.Compute/virtualMachineScaleSets/"
	const rgp = "subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/"
	handle("GET", "subscriptions/{}/providers/Microsoft.Compute/virtualMachines", vm+"read", typeVM, apiCompute, listOf(typeVM))
	handle("GET", rgp+"virtualMachines", vm+"read", typeVM, apiCompute, listOf(typeVM))
	handle("GET", rgp+"virtualMachines/{}", vm+"read", typeVM, apiCompute, getOne(typeVM, vmID))
	handle("PUT", rgp+"virtualMachines/{}", vm+"write", typeVM, apiCompute, putVMHandler)
	handle("DELETE", rgp+"virtualMachines/{}", vm+"delete", typeVM, apiCompute, deleteOne(vmID))
	handle("GET", "subscriptions/{}/providers/Microsoft.Compute/virtualMachineScaleSets", ss+"read", typeVMSS, apiCompute, listOf(typeVMSS))
	handle("GET", rgp+"virtualMachineScaleSets", ss+"read", typeVMSS, apiCompute, listOf(typeVMSS))
	handle("GET", rgp+"virtualMachineScaleSets/{}", ss+"read", typeVMSS, apiCompute, getOne(typeVMSS, vmssID))
	handle("PUT", rgp+"virtualMachineScaleSets/{}", ss+"write", typeVMSS, apiCompute, putVMSSHandler)
	handle("DELETE", rgp+"virtualMachineScaleSets/{}", ss+"delete", typeVMSS, apiCompute, deleteOne(vmssID))
}

func listOf(typ string) handlerFunc {
	return func(c *call) (int, any, *armError) {
		rg := ""
		if len(c.args) > 1 {
			rg = c.args[1]
		}
		return c.page(values(c.s.inScope(c.sub, rg, typ)))
	}
}

func getOne(typ string, id func(sub, rg, name string) string) handlerFunc {
	return func(c *call) (int, any, *armError) {
		e := c.s.res[key(id(c.sub, c.args[1], c.args[2]))]
		if e == nil {
			return 0, nil, notFound(typ, c.args[2], c.args[1])
		}
		return 200, cloneAny(e.val), nil
	}
}

func deleteOne(id func(sub, rg, name string) string) handlerFunc {
	return func(c *call) (int, any, *armError) { return c.del(id(c.sub, c.args[1], c.args[2]), nil) }
}

func putVMHandler(c *call) (int, any, *armError) {
	var vm armcompute.VirtualMachine
	if e := c.decode(&vm); e != nil {
		return 0, nil, e
	}
	if e := c.requireLocation(&vm); e != nil {
		return 0, nil, e
	}
	id := vmID(c.sub, c.args[1], c.args[2])
	var old *armcompute.VirtualMachine
	if e := c.s.res[key(id)]; e != nil {
		old = e.val.(*armcompute.VirtualMachine)
	}
	c.s.fillVM(&vm, old, id)
	return c.put(id, typeVM, c.args[1], "", &vm)
}

func putVMSSHandler(c *call) (int, any, *armError) {
	var ss armcompute.VirtualMachineScaleSet
	if e := c.decode(&ss); e != nil {
		return 0, nil, e
	}
	if e := c.requireLocation(&ss); e != nil {
		return 0, nil, e
	}
	id := vmssID(c.sub, c.args[1], c.args[2])
	var old *armcompute.VirtualMachineScaleSet
	if e := c.s.res[key(id)]; e != nil {
		old = e.val.(*armcompute.VirtualMachineScaleSet)
	}
	c.s.fillVMSS(&ss, old)
	return c.put(id, typeVMSS, c.args[1], "", &ss)
}

// fillVM fills what Azure does: vmId, the OS disk's name and managed disk id (the
// azure-arm builder dereferences it) and the image reference's exactVersion.
func (s *Server) fillVM(vm, old *armcompute.VirtualMachine, id string) {
	if vm.Properties == nil {
		vm.Properties = &armcompute.VirtualMachineProperties{}
	}
	p := vm.Properties
	p.VMID = to.Ptr(uuid.NewString())
	if old != nil && old.Properties != nil && old.Properties.VMID != nil {
		p.VMID = old.Properties.VMID
	}
	if p.StorageProfile == nil {
		p.StorageProfile = &armcompute.StorageProfile{}
	}
	sp := p.StorageProfile
	if sp.OSDisk == nil {
		sp.OSDisk = &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage)}
	}
	if sp.OSDisk.Name == nil {
		sp.OSDisk.Name = to.Ptr(fmt.Sprintf("%s_OsDisk_1_%s", lastSeg(id), strings.ReplaceAll(*p.VMID, "-", "")))
	}
	if sp.OSDisk.ManagedDisk == nil {
		sp.OSDisk.ManagedDisk = &armcompute.ManagedDiskParameters{}
	}
	if sp.OSDisk.ManagedDisk.ID == nil {
		rg := strings.Split(id, "/")[4]
		sp.OSDisk.ManagedDisk.ID = to.Ptr(rgID(strings.Split(id, "/")[2], rg) + "/providers/Microsoft.Compute/disks/" + *sp.OSDisk.Name)
	}
	if sp.ImageReference != nil {
		sp.ImageReference.ExactVersion = s.exactVersion(sp.ImageReference)
	}
}

func (s *Server) fillVMSS(ss, old *armcompute.VirtualMachineScaleSet) {
	if ss.Properties == nil {
		ss.Properties = &armcompute.VirtualMachineScaleSetProperties{}
	}
	p := ss.Properties
	p.UniqueID = to.Ptr(uuid.NewString())
	if old != nil && old.Properties != nil && old.Properties.UniqueID != nil {
		p.UniqueID = old.Properties.UniqueID
	}
	if p.VirtualMachineProfile == nil {
		p.VirtualMachineProfile = &armcompute.VirtualMachineScaleSetVMProfile{}
	}
	if p.VirtualMachineProfile.StorageProfile == nil {
		p.VirtualMachineProfile.StorageProfile = &armcompute.VirtualMachineScaleSetStorageProfile{}
	}
	if ref := p.VirtualMachineProfile.StorageProfile.ImageReference; ref != nil {
		ref.ExactVersion = s.exactVersion(ref)
	}
}

// exactVersion is the version an image reference resolved to when the VM was made:
// the one named, or for a gallery definition id the latest one then. Marketplace
// "latest" and unknown definitions resolve to nothing the emulator can know.
func (s *Server) exactVersion(ref *armcompute.ImageReference) *string {
	for _, id := range []*string{ref.ID, ref.SharedGalleryImageID, ref.CommunityGalleryImageID} {
		if id == nil || *id == "" {
			continue
		}
		segs := strings.Split(strings.Trim(*id, "/"), "/")
		n := len(segs)
		if n >= 2 && strings.EqualFold(segs[n-2], "versions") {
			if strings.EqualFold(segs[n-1], "latest") {
				return nil
			}
			return to.Ptr(segs[n-1])
		}
		if n >= 2 && strings.EqualFold(segs[n-2], "images") && ref.ID == id {
			if v := s.latestVersion(key(*id)); v != "" {
				return to.Ptr(v)
			}
		}
		return nil
	}
	if ref.Version != nil && !strings.EqualFold(*ref.Version, "latest") {
		return to.Ptr(*ref.Version)
	}
	return nil
}

// PutVM stores a running VM made from ref and returns its id.
func (s *Server) PutVM(sub, rg, name, location string, ref armcompute.ImageReference) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub = s.knownSub(sub)
	id := vmID(sub, rg, name)
	vm := &armcompute.VirtualMachine{Location: to.Ptr(location), Properties: &armcompute.VirtualMachineProperties{
		StorageProfile: &armcompute.StorageProfile{ImageReference: cloneModel(&ref)}}}
	var old *armcompute.VirtualMachine
	if e := s.res[key(id)]; e != nil {
		old = e.val.(*armcompute.VirtualMachine)
	}
	s.fillVM(vm, old, id)
	return s.store(id, typeVM, sub, rg, "", vm).id
}

// PutScaleSet stores a scale set whose VM profile uses ref and returns its id.
func (s *Server) PutScaleSet(sub, rg, name, location string, ref armcompute.ImageReference) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub = s.knownSub(sub)
	id := vmssID(sub, rg, name)
	ss := &armcompute.VirtualMachineScaleSet{Location: to.Ptr(location), Properties: &armcompute.VirtualMachineScaleSetProperties{
		VirtualMachineProfile: &armcompute.VirtualMachineScaleSetVMProfile{StorageProfile: &armcompute.VirtualMachineScaleSetStorageProfile{ImageReference: cloneModel(&ref)}}}}
	var old *armcompute.VirtualMachineScaleSet
	if e := s.res[key(id)]; e != nil {
		old = e.val.(*armcompute.VirtualMachineScaleSet)
	}
	s.fillVMSS(ss, old)
	return s.store(id, typeVMSS, sub, rg, "", ss).id
}

// DeleteVM removes the VM or scale set with that id at once, if there is one.
func (s *Server) DeleteVM(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.res[key(id)]; e != nil && (e.typ == typeVM || e.typ == typeVMSS) {
		delete(s.res, key(id))
	}
}
