package armemu_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

func TestGalleryDefinitionVersionLifecycle(t *testing.T) {
	e := newEnv(t)
	gp, err := e.galleries().BeginCreateOrUpdate(ctx, rg, gal, armcompute.Gallery{Location: to.Ptr("West Europe")}, nil)
	require.NoError(t, err)
	g, err := gp.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	require.Equal(t, "/subscriptions/"+sub+"/resourceGroups/"+rg+"/providers/Microsoft.Compute/galleries/"+gal, *g.ID)
	require.Equal(t, armcompute.GalleryProvisioningStateSucceeded, *g.Properties.ProvisioningState)

	// A definition in a gallery that is not there.
	img := armcompute.GalleryImage{Location: to.Ptr(locWE), Properties: &armcompute.GalleryImageProperties{
		OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
		Identifier: &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("lc"), Offer: to.Ptr("ubuntu"), SKU: to.Ptr("22")}}}
	_, err = e.images().BeginCreateOrUpdate(ctx, rg, "nogallery", def, img, nil)
	requireARMError(t, err, 404, "ParentResourceNotFound")

	ip, err := e.images().BeginCreateOrUpdate(ctx, rg, gal, def, img, nil)
	require.NoError(t, err)
	d, err := ip.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	require.Equal(t, *g.ID+"/images/"+def, *d.ID)
	require.Equal(t, armcompute.HyperVGenerationV1, *d.Properties.HyperVGeneration, "Azure's default")

	// Versions: missing definition, then a real one.
	_, err = e.versions().Get(ctx, rg, gal, "nodef", "1.0.0", nil)
	requireARMError(t, err, 404, "ParentResourceNotFound")
	_, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	requireARMError(t, err, 404, "ResourceNotFound")

	v := e.createVersion("1.0.0", versionBody("West Europe", "eastus"))
	require.Equal(t, *d.ID+"/versions/1.0.0", *v.ID)
	require.Equal(t, "1.0.0", *v.Name)
	require.Equal(t, "Microsoft.Compute/galleries/images/versions", *v.Type)
	require.Equal(t, armcompute.GalleryProvisioningStateSucceeded, *v.Properties.ProvisioningState)
	pp := v.Properties.PublishingProfile
	require.True(t, pp.PublishedDate.Equal(t0), "publishedDate is the emulator clock: %v", pp.PublishedDate)
	require.Len(t, pp.TargetRegions, 2)
	require.EqualValues(t, 1, *pp.TargetRegions[1].RegionalReplicaCount)
	require.Equal(t, armcompute.StorageAccountTypeStandardLRS, *pp.TargetRegions[1].StorageAccountType)
	require.False(t, *pp.ExcludeFromLatest)
	require.Equal(t, srcID, *v.Properties.StorageProfile.Source.ID)
	require.False(t, *v.Properties.SafetyProfile.AllowDeletionOfReplicatedLocations)

	// Update: excludeFromLatest and endOfLifeDate, merged into what is there.
	eol := t0.Add(90 * 24 * time.Hour)
	up, err := e.versions().BeginUpdate(ctx, rg, gal, def, "1.0.0", armcompute.GalleryImageVersionUpdate{
		Tags: map[string]*string{"stage": to.Ptr("deprecated")},
		Properties: &armcompute.GalleryImageVersionProperties{PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{
			ExcludeFromLatest: to.Ptr(true), EndOfLifeDate: &eol}}}, nil)
	require.NoError(t, err)
	u, err := up.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	require.True(t, *u.Properties.PublishingProfile.ExcludeFromLatest)
	require.True(t, u.Properties.PublishingProfile.EndOfLifeDate.Equal(eol))
	require.Len(t, u.Properties.PublishingProfile.TargetRegions, 2, "regions kept")
	require.True(t, u.Properties.PublishingProfile.PublishedDate.Equal(t0), "publishedDate kept")
	require.Equal(t, "deprecated", *u.Tags["stage"])

	// Get with $expand=ReplicationStatus.
	got, err := e.versions().Get(ctx, rg, gal, def, "1.0.0", &armcompute.GalleryImageVersionsClientGetOptions{Expand: to.Ptr(armcompute.ReplicationStatusTypesReplicationStatus)})
	require.NoError(t, err)
	rs := got.Properties.ReplicationStatus
	require.NotNil(t, rs)
	require.Equal(t, armcompute.AggregatedReplicationStateCompleted, *rs.AggregatedState)
	require.Len(t, rs.Summary, 2)
	require.Equal(t, "eastus", *rs.Summary[1].Region)
	require.EqualValues(t, 100, *rs.Summary[1].Progress)
	plain, err := e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	require.Nil(t, plain.Properties.ReplicationStatus, "only with $expand")

	// A definition with versions cannot be deleted.
	_, err = e.images().BeginDelete(ctx, rg, gal, def, nil)
	requireARMError(t, err, 409, "CannotDeleteResource")

	dp, err := e.versions().BeginDelete(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	_, err = dp.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	_, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	requireARMError(t, err, 404, "ResourceNotFound")
	_, ok := e.s.ImageVersion(*v.ID)
	require.False(t, ok)

	// Deletes are idempotent; then the definition and the gallery go.
	dp, err = e.versions().BeginDelete(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	_, err = dp.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	idp, err := e.images().BeginDelete(ctx, rg, gal, def, nil)
	require.NoError(t, err)
	_, err = idp.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	gdp, err := e.galleries().BeginDelete(ctx, rg, gal, nil)
	require.NoError(t, err)
	_, err = gdp.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	_, err = e.galleries().Get(ctx, rg, gal, nil)
	requireARMError(t, err, 404, "ResourceNotFound")
}

func TestVersionNameAndBodyValidation(t *testing.T) {
	e := newEnv(t)
	e.seed()
	for _, name := range []string{"1.0", "1.0.0.0", "1.0.x", "1.0.4294967296", "v1.0.0", "1..0"} {
		_, err := e.versions().BeginCreateOrUpdate(ctx, rg, gal, def, name, versionBody(), nil)
		re := requireARMError(t, err, 400, "InvalidParameter")
		require.Contains(t, re.Error(), "galleryImageVersionName", name)
	}
	// Location must be among the target regions.
	_, err := e.versions().BeginCreateOrUpdate(ctx, rg, gal, def, "1.0.0", versionBody("eastus"), nil)
	requireARMError(t, err, 400, "InvalidParameter")
	// 2147483647 is the largest part Azure takes.
	e.createVersion("2147483647.0.0", versionBody())
	require.Len(t, e.s.ImageVersions(sub, rg, gal, def), 1)
}

func TestListVersionsPages(t *testing.T) {
	e := newEnv(t, armemu.WithPageSize(2))
	e.seed()
	for i := 1; i <= 5; i++ {
		e.s.PutImageVersion(sub, rg, gal, def, fmt.Sprintf("1.0.%d", i), versionBody())
	}
	pager := e.versions().NewListByGalleryImagePager(rg, gal, def, nil)
	var names []string
	var sizes []int
	for pager.More() {
		page, err := pager.NextPage(ctx)
		require.NoError(t, err)
		sizes = append(sizes, len(page.Value))
		for _, v := range page.Value {
			names = append(names, *v.Name)
			require.Equal(t, armcompute.GalleryProvisioningStateSucceeded, *v.Properties.ProvisioningState)
		}
	}
	require.Equal(t, []int{2, 2, 1}, sizes)
	require.Equal(t, []string{"1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5"}, names)
	require.Equal(t, 3, e.s.Calls()[verRead], "one read per page")
	for _, c := range e.s.Journal() {
		if c.Action == verRead {
			require.Equal(t, "2025-03-03", c.APIVersion, "nextLink keeps the api-version")
		}
	}
}

// TestOperationPolls: with two InProgress polls the change shows only at the end.
func TestOperationPolls(t *testing.T) {
	e := newEnv(t, armemu.WithOperationPolls(2))
	e.seed()
	p, err := e.versions().BeginCreateOrUpdate(ctx, rg, gal, def, "1.0.0", versionBody(), nil)
	require.NoError(t, err)
	require.False(t, p.Done())
	got, err := e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	require.Equal(t, armcompute.GalleryProvisioningStateCreating, *got.Properties.ProvisioningState)

	polls := 0
	for !p.Done() {
		polls++
		require.LessOrEqual(t, polls, 5, "the operation never ended")
		_, err := p.Poll(ctx)
		require.NoError(t, err)
		if !p.Done() {
			got, err := e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
			require.NoError(t, err)
			require.Equal(t, armcompute.GalleryProvisioningStateCreating, *got.Properties.ProvisioningState)
		}
	}
	require.Equal(t, 3, polls, "two InProgress answers, then Succeeded")
	res, err := p.Result(ctx)
	require.NoError(t, err)
	require.Equal(t, armcompute.GalleryProvisioningStateSucceeded, *res.Properties.ProvisioningState)
	require.Equal(t, 3, e.s.Calls()[opsRead])

	// An update shows the old state, Updating, until it is done.
	up, err := e.versions().BeginUpdate(ctx, rg, gal, def, "1.0.0", armcompute.GalleryImageVersionUpdate{Properties: &armcompute.GalleryImageVersionProperties{
		PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{ExcludeFromLatest: to.Ptr(true)}}}, nil)
	require.NoError(t, err)
	got, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	require.Equal(t, armcompute.GalleryProvisioningStateUpdating, *got.Properties.ProvisioningState)
	require.False(t, *got.Properties.PublishingProfile.ExcludeFromLatest, "not applied yet")
	// A second mutation while one runs is refused.
	_, err = e.versions().BeginDelete(ctx, rg, gal, def, "1.0.0", nil)
	requireARMError(t, err, 409, "AnotherOperationInProgress")
	_, err = up.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	got, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	require.True(t, *got.Properties.PublishingProfile.ExcludeFromLatest)

	// A delete shows Deleting, and the version goes when the operation succeeds.
	dp, err := e.versions().BeginDelete(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	got, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	require.Equal(t, armcompute.GalleryProvisioningStateDeleting, *got.Properties.ProvisioningState)
	_, err = dp.PollUntilDone(ctx, fast)
	require.NoError(t, err)
	_, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	requireARMError(t, err, 404, "ResourceNotFound")
}

// TestOperationHeaders: what the old autorest poller needs (azure-arm v1.4.5 §6).
func TestOperationHeaders(t *testing.T) {
	e := newEnv(t, armemu.WithOperationPolls(1))
	e.seed()
	r, v := e.raw("PUT", "subscriptions/"+sub+"/resourceGroups/"+rg+"/providers/Microsoft.Compute/galleries/"+gal+"/images/"+def+"/versions/1.0.0?api-version=2021-10-01",
		`{"location":"westeurope","properties":{"storageProfile":{"source":{"id":"`+srcID+`"}}}}`)
	require.Equal(t, 201, r.StatusCode)
	require.Equal(t, "Creating", v["properties"].(map[string]any)["provisioningState"])
	require.Equal(t, "0", r.Header.Get("Retry-After"))
	async := r.Header.Get("Azure-AsyncOperation")
	require.True(t, strings.HasPrefix(async, e.base+"subscriptions/"+sub+"/providers/Microsoft.Compute/locations/westeurope/operations/"), async)
	require.True(t, strings.HasSuffix(async, "?api-version=2021-10-01"), async)
	require.NotEmpty(t, r.Header.Get("x-ms-ratelimit-remaining-subscription-writes"))

	st, body := e.raw("GET", strings.TrimPrefix(async, e.base), "")
	require.Equal(t, 200, st.StatusCode)
	require.Equal(t, "InProgress", body["status"])
	require.NotEmpty(t, body["name"])
	st, body = e.raw("GET", strings.TrimPrefix(async, e.base), "")
	require.Equal(t, "Succeeded", body["status"])
	require.NotEmpty(t, body["endTime"])

	r, _ = e.raw("DELETE", "subscriptions/"+sub+"/resourceGroups/"+rg+"/providers/Microsoft.Compute/galleries/"+gal+"/images/"+def+"/versions/1.0.0?api-version=2021-10-01", "")
	require.Equal(t, 202, r.StatusCode)
	loc := r.Header.Get("Location")
	require.Equal(t, r.Header.Get("Azure-AsyncOperation")+"&monitor=true", loc)
	require.NotEmpty(t, r.Header.Get("x-ms-ratelimit-remaining-subscription-deletes"))
	st, _ = e.raw("GET", strings.TrimPrefix(loc, e.base), "")
	require.Equal(t, 202, st.StatusCode, "Location polls answer 202 while running")
	st, _ = e.raw("GET", strings.TrimPrefix(loc, e.base), "")
	require.Equal(t, 204, st.StatusCode)
	_, ok := e.s.ImageVersion(versionIDOf("1.0.0"))
	require.False(t, ok)
}

func versionIDOf(v string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/galleries/" + gal + "/images/" + def + "/versions/" + v
}

func TestPathsAndAPIVersions(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.s.PutImageVersion(sub, rg, gal, def, "1.0.0", versionBody())
	// ARM's segment names and resource names are case-insensitive.
	r, v := e.raw("GET", "subscriptions/"+sub+"/resourcegroups/"+strings.ToUpper(rg)+"/providers/microsoft.compute/Galleries/"+strings.ToLower(gal)+"/images/"+def+"/versions/1.0.0?api-version=2022-03-03", "")
	require.Equal(t, 200, r.StatusCode)
	require.Equal(t, versionIDOf("1.0.0"), v["id"], "the id keeps the case it was made with")
	require.NotEmpty(t, r.Header.Get("x-ms-ratelimit-remaining-subscription-reads"))

	r, v = e.raw("GET", strings.TrimPrefix(versionIDOf("1.0.0"), "/"), "")
	require.Equal(t, 400, r.StatusCode)
	require.Equal(t, "MissingApiVersionParameter", errorCode(v))
	r, v = e.raw("GET", strings.TrimPrefix(versionIDOf("1.0.0"), "/")+"?api-version=2015-06-15", "")
	require.Equal(t, 400, r.StatusCode)
	require.Equal(t, "NoRegisteredProviderFound", errorCode(v))
	for _, api := range []string{"2021-10-01", "2022-03-03", "2022-08-03", "2023-07-03", "2025-03-03"} {
		r, _ = e.raw("GET", strings.TrimPrefix(versionIDOf("1.0.0"), "/")+"?api-version="+api, "")
		require.Equal(t, 200, r.StatusCode, api)
	}
	calls := e.s.Calls()
	require.Equal(t, 8, calls[verRead], "refused requests count under their action")
}

func TestSafetyRules(t *testing.T) {
	// A long token life: the test moves the clock by months.
	e := newEnv(t, armemu.WithTokenLifetime(365*24*time.Hour))
	e.seed()

	t.Run("a: no delete before end of life", func(t *testing.T) {
		v := versionBody()
		v.Properties.SafetyProfile = &armcompute.GalleryImageVersionSafetyProfile{BlockDeletionBeforeEndOfLife: to.Ptr(true)}
		e.createVersion("1.0.0", v)
		_, err := e.versions().BeginDelete(ctx, rg, gal, def, "1.0.0", nil)
		re := requireARMError(t, err, 409, "OperationNotAllowed")
		require.Contains(t, re.Error(), "end of life")

		eol := t0.Add(30 * 24 * time.Hour)
		up, err := e.versions().BeginUpdate(ctx, rg, gal, def, "1.0.0", armcompute.GalleryImageVersionUpdate{Properties: &armcompute.GalleryImageVersionProperties{
			PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{EndOfLifeDate: &eol}}}, nil)
		require.NoError(t, err)
		_, err = up.PollUntilDone(ctx, fast)
		require.NoError(t, err)
		_, err = e.versions().BeginDelete(ctx, rg, gal, def, "1.0.0", nil)
		requireARMError(t, err, 409, "OperationNotAllowed")

		e.clk.Set(eol.Add(time.Second))
		dp, err := e.versions().BeginDelete(ctx, rg, gal, def, "1.0.0", nil)
		require.NoError(t, err, "past its end of life it may go")
		_, err = dp.PollUntilDone(ctx, fast)
		require.NoError(t, err)
		require.Empty(t, e.s.ImageVersions(sub, rg, gal, def))
	})

	t.Run("b: no region removal unless allowed", func(t *testing.T) {
		e.createVersion("2.0.0", versionBody("West Europe", "East US", "northeurope"))
		remove := armcompute.GalleryImageVersionUpdate{Properties: &armcompute.GalleryImageVersionProperties{
			PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{TargetRegions: []*armcompute.TargetRegion{{Name: to.Ptr("westeurope")}, {Name: to.Ptr("eastus")}}}}}
		_, err := e.versions().BeginUpdate(ctx, rg, gal, def, "2.0.0", remove, nil)
		re := requireARMError(t, err, 409, "OperationNotAllowed")
		require.Contains(t, re.Error(), "northeurope")
		require.NotContains(t, re.Error(), "East US", "renamed but not removed")
		// A full replace is held to the same rule.
		_, err = e.versions().BeginCreateOrUpdate(ctx, rg, gal, def, "2.0.0", versionBody("westeurope"), nil)
		re = requireARMError(t, err, 409, "OperationNotAllowed")
		require.Contains(t, re.Error(), "East US")
		// Adding a region is fine.
		e.createVersion("2.0.0", versionBody("West Europe", "East US", "northeurope", "westus2"))

		up, err := e.versions().BeginUpdate(ctx, rg, gal, def, "2.0.0", armcompute.GalleryImageVersionUpdate{Properties: &armcompute.GalleryImageVersionProperties{
			SafetyProfile: &armcompute.GalleryImageVersionSafetyProfile{AllowDeletionOfReplicatedLocations: to.Ptr(true)}}}, nil)
		require.NoError(t, err)
		_, err = up.PollUntilDone(ctx, fast)
		require.NoError(t, err)
		up, err = e.versions().BeginUpdate(ctx, rg, gal, def, "2.0.0", remove, nil)
		require.NoError(t, err)
		res, err := up.PollUntilDone(ctx, fast)
		require.NoError(t, err)
		require.Len(t, res.Properties.PublishingProfile.TargetRegions, 2)
	})

	t.Run("c: endOfLifeDate must be RFC 3339", func(t *testing.T) {
		path := strings.TrimPrefix(versionIDOf("2.0.0"), "/") + "?api-version=2025-03-03"
		for _, bad := range []string{`"next tuesday"`, `"2030-01-01"`, `"01/02/2030 10:00"`} {
			r, v := e.raw("PATCH", path, `{"properties":{"publishingProfile":{"endOfLifeDate":`+bad+`}}}`)
			require.Equal(t, 400, r.StatusCode, bad)
			require.Equal(t, "InvalidParameter", errorCode(v), bad)
			require.Contains(t, v["error"].(map[string]any)["message"], "endOfLifeDate")
		}
		r, v := e.raw("PUT", strings.TrimPrefix(versionIDOf("3.0.0"), "/")+"?api-version=2025-03-03",
			`{"location":"westeurope","properties":{"storageProfile":{"source":{"id":"`+srcID+`"}},"publishingProfile":{"endOfLifeDate":"soon"}}}`)
		require.Equal(t, 400, r.StatusCode)
		require.Equal(t, "InvalidParameter", errorCode(v))
		r, _ = e.raw("PATCH", path, `{"properties":{"publishingProfile":{"endOfLifeDate":"2031-01-01T00:00:00+01:00"}}}`)
		require.Equal(t, 200, r.StatusCode)
		v2, _ := e.s.ImageVersion(versionIDOf("2.0.0"))
		require.True(t, v2.Properties.PublishingProfile.EndOfLifeDate.Equal(time.Date(2030, 12, 31, 23, 0, 0, 0, time.UTC)))
		// null clears it.
		r, _ = e.raw("PATCH", path, `{"properties":{"publishingProfile":{"endOfLifeDate":null}}}`)
		require.Equal(t, 200, r.StatusCode)
		v2, _ = e.s.ImageVersion(versionIDOf("2.0.0"))
		require.Nil(t, v2.Properties.PublishingProfile.EndOfLifeDate)
	})
}
