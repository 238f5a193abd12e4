package armemu_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

func TestVMsAndScaleSetsWithImageReferences(t *testing.T) {
	e := newEnv(t, armemu.WithPageSize(2))
	e.seed()
	e.s.PutImageVersion(sub, rg, gal, def, "1.0.0", versionBody())
	e.s.PutImageVersion(sub, rg, gal, def, "1.2.0", versionBody())
	ex := versionBody()
	ex.Properties.PublishingProfile.ExcludeFromLatest = to.Ptr(true)
	e.s.PutImageVersion(sub, rg, gal, def, "1.10.0", ex) // excluded: not "latest"
	defID := "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/galleries/" + gal + "/images/" + def

	pinned := e.s.PutVM(sub, "rg-app", "vm-pinned", locWE, armcompute.ImageReference{ID: to.Ptr(versionIDOf("1.0.0"))})
	e.s.PutVM(sub, "rg-app", "vm-latest", locWE, armcompute.ImageReference{ID: to.Ptr(defID)})
	e.s.PutVM(sub, "rg-other", "vm-market", locWE, armcompute.ImageReference{Publisher: to.Ptr("Canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server"), Version: to.Ptr("latest")})
	e.s.PutVM(armemu.DefaultSubscriptions[1], "rg-app", "vm-elsewhere", locWE, armcompute.ImageReference{ID: to.Ptr(versionIDOf("1.0.0"))})
	e.s.PutScaleSet(sub, "rg-app", "ss-1", locWE, armcompute.ImageReference{SharedGalleryImageID: to.Ptr("/SharedGalleries/abc-GAL/Images/" + def + "/Versions/1.2.0")})

	vms, err := armcompute.NewVirtualMachinesClient(sub, e.cred, e.options(0))
	require.NoError(t, err)
	refs := map[string]*armcompute.ImageReference{}
	pages := 0
	for p := vms.NewListAllPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		pages++
		for _, vm := range page.Value {
			refs[*vm.Name] = vm.Properties.StorageProfile.ImageReference
			require.NotEmpty(t, *vm.Properties.StorageProfile.OSDisk.ManagedDisk.ID, "the builder dereferences it")
			require.Equal(t, "Succeeded", *vm.Properties.ProvisioningState)
		}
	}
	require.Equal(t, 2, pages, "3 VMs, 2 a page")
	require.Len(t, refs, 3, "only this subscription's")
	require.Equal(t, versionIDOf("1.0.0"), *refs["vm-pinned"].ID)
	require.Equal(t, "1.0.0", *refs["vm-pinned"].ExactVersion)
	require.Equal(t, "1.2.0", *refs["vm-latest"].ExactVersion, "latest: highest not excluded (numeric, not string order)")
	require.Nil(t, refs["vm-market"].ExactVersion)
	require.Equal(t, "Canonical", *refs["vm-market"].Publisher)

	var inRG []string
	for p := vms.NewListPager("rg-app", nil); p.More(); {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		for _, vm := range page.Value {
			inRG = append(inRG, *vm.Name)
		}
	}
	require.Equal(t, []string{"vm-latest", "vm-pinned"}, inRG)
	got, err := vms.Get(ctx, "rg-app", "vm-pinned", nil)
	require.NoError(t, err)
	require.Equal(t, pinned, *got.ID)

	ss, err := armcompute.NewVirtualMachineScaleSetsClient(sub, e.cred, e.options(0))
	require.NoError(t, err)
	page, err := ss.NewListAllPager(nil).NextPage(ctx)
	require.NoError(t, err)
	require.Len(t, page.Value, 1)
	ref := page.Value[0].Properties.VirtualMachineProfile.StorageProfile.ImageReference
	require.Equal(t, "1.2.0", *ref.ExactVersion)
	require.Contains(t, *ref.SharedGalleryImageID, "/Versions/1.2.0")

	// Through the API: create and delete a VM.
	cp, err := vms.BeginCreateOrUpdate(ctx, "rg-app", "vm-api", armcompute.VirtualMachine{Location: to.Ptr(locWE), Properties: &armcompute.VirtualMachineProperties{
		StorageProfile: &armcompute.StorageProfile{ImageReference: &armcompute.ImageReference{ID: to.Ptr(defID)}}}}, nil)
	require.NoError(t, err)
	vm, err := cp.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	require.Equal(t, "1.2.0", *vm.Properties.StorageProfile.ImageReference.ExactVersion)
	require.NotEmpty(t, *vm.Properties.VMID)
	dp, err := vms.BeginDelete(ctx, "rg-app", "vm-api", nil)
	require.NoError(t, err)
	_, err = dp.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	_, err = vms.Get(ctx, "rg-app", "vm-api", nil)
	requireARMError(t, err, 404, "ResourceNotFound")

	e.s.DeleteVM(pinned)
	_, err = vms.Get(ctx, "rg-app", "vm-pinned", nil)
	requireARMError(t, err, 404, "ResourceNotFound")

	calls := e.s.Calls()
	require.Equal(t, 2+1+1+1+1+1, calls["Microsoft.Compute/virtualMachines/read"], "2 list-all pages, 1 rg page, 3 gets, the final GET")
	require.Equal(t, 1, calls["Microsoft.Compute/virtualMachineScaleSets/read"])
	require.Equal(t, 1, calls["Microsoft.Compute/virtualMachines/write"])
	require.Equal(t, 1, calls["Microsoft.Compute/virtualMachines/delete"])
	for _, c := range e.s.Journal() {
		if c.Action == "Microsoft.Compute/virtualMachines/read" {
			require.Equal(t, "2025-04-01", c.APIVersion)
		}
	}
}
