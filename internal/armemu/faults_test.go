package armemu_test

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

func TestDeny(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.s.PutImageVersion(sub, rg, gal, def, "1.0.0", versionBody())
	e.s.Deny(sub, verDel)
	_, err := e.versions().BeginDelete(ctx, rg, gal, def, "1.0.0", nil)
	re := requireARMError(t, err, 403, "AuthorizationFailed")
	require.Contains(t, re.Error(), "'"+verDel+"'")
	require.Contains(t, re.Error(), "over scope '"+versionIDOf("1.0.0")+"'")
	require.Contains(t, re.Error(), armemu.DefaultClientID)
	_, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err, "only the denied action is refused")
	_, ok := e.s.ImageVersion(versionIDOf("1.0.0"))
	require.True(t, ok)

	// "*" denies every action in every subscription, even the reads.
	e.s.Deny("*", "*")
	_, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	requireARMError(t, err, 403, "AuthorizationFailed")
	require.Equal(t, map[string]int{verDel: 1, verRead: 2}, e.s.Calls())
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		kind   armemu.FaultKind
		status int
		code   string
	}{
		{armemu.ServerError, 500, "InternalServerError"},
		{armemu.Unavailable, 503, "ServiceUnavailable"},
		{armemu.Conflict, 409, "Conflict"},
		{armemu.Throttled, 429, "TooManyRequests"},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			e := newEnv(t)
			e.seed()
			e.s.PutImageVersion(sub, rg, gal, def, "1.0.0", versionBody())
			k, ok := armemu.ParseFaultKind(tc.kind.String())
			require.True(t, ok)
			require.Equal(t, tc.kind, k)
			e.s.SetFault(armemu.Fault{Action: verRead, Kind: tc.kind, Times: 1})
			_, err := e.versionsWith(-1).Get(ctx, rg, gal, def, "1.0.0", nil) // no retries: the fault shows
			re := requireARMError(t, err, tc.status, tc.code)
			require.Contains(t, re.Error(), "injected")
			if tc.kind == armemu.Throttled {
				require.Equal(t, "1", re.RawResponse.Header.Get("Retry-After"))
				require.NotEmpty(t, re.RawResponse.Header.Get("x-ms-ratelimit-remaining-subscription-reads"))
				require.NotEmpty(t, re.RawResponse.Header.Get("x-ms-ratelimit-remaining-resource"))
			}
			_, err = e.versionsWith(-1).Get(ctx, rg, gal, def, "1.0.0", nil)
			require.NoError(t, err, "Times: 1 is used up")
			// Faults in another subscription or for another action do not fire.
			e.s.SetFault(armemu.Fault{Action: verRead, Subscription: armemu.DefaultSubscriptions[1], Kind: tc.kind})
			e.s.SetFault(armemu.Fault{Action: verWrit, Kind: tc.kind})
			_, err = e.versionsWith(-1).Get(ctx, rg, gal, def, "1.0.0", nil)
			require.NoError(t, err)
			e.s.ClearFaults()
		})
	}
}

// TestThrottledIsRetried: azcore's retry policy honours Retry-After: 1 (so this test
// takes a second) and the second try succeeds.
func TestThrottledIsRetried(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.s.PutImageVersion(sub, rg, gal, def, "1.0.0", versionBody())
	e.s.SetFault(armemu.Fault{Action: verRead, Kind: armemu.Throttled, Times: 1})
	// Every rule that matches fires (and counts a time); the first kind wins.
	e.s.SetFault(armemu.Fault{Action: verRead, Kind: armemu.ServerError, Times: 1})
	_, err := e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	var statuses []int
	for _, c := range e.s.Journal() {
		if c.Action == verRead {
			statuses = append(statuses, c.Status)
		}
	}
	require.Equal(t, []int{429, 200}, statuses)
	require.Equal(t, 2, e.s.Calls()[verRead])
}

func TestLoseAnswerAppliesThenDrops(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.s.SetFault(armemu.Fault{Action: verWrit, Kind: armemu.LoseAnswer, Times: 1})
	// azcore retries the PUT after the dropped connection; the version already exists then.
	v := e.createVersion("1.0.0", versionBody())
	require.Equal(t, armcompute.GalleryProvisioningStateSucceeded, *v.Properties.ProvisioningState)
	var statuses []int
	for _, c := range e.s.Journal() {
		if c.Action == verWrit {
			statuses = append(statuses, c.Status)
		}
	}
	require.Equal(t, []int{0, 200}, statuses, "lost, then a replace (200, not 201)")
}

func TestOperationFails(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.s.SetFault(armemu.Fault{Kind: armemu.OperationFails, Times: 1}) // every action, but only mutations use it
	_, err := e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	requireARMError(t, err, 404, "ResourceNotFound")
	p, err := e.versions().BeginCreateOrUpdate(ctx, rg, gal, def, "1.0.0", versionBody(), nil)
	require.NoError(t, err, "the request is accepted")
	_, err = p.PollUntilDone(ctx, fast)
	re := requireARMError(t, err, 200, "InternalExecutionError")
	require.Contains(t, re.Error(), "injected")
	got, err := e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	require.Equal(t, armcompute.GalleryProvisioningStateFailed, *got.Properties.ProvisioningState)
	// The next try succeeds and replaces it.
	v := e.createVersion("1.0.0", versionBody())
	require.Equal(t, armcompute.GalleryProvisioningStateSucceeded, *v.Properties.ProvisioningState)
}

func TestLatency(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.s.SetFault(armemu.Fault{Action: verRead, Kind: armemu.LatencyOnly, Latency: 30 * time.Millisecond, Times: 1})
	start := time.Now()
	_, err := e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	requireARMError(t, err, 404, "ResourceNotFound")
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
}

func TestFaultOnTokenEndpoint(t *testing.T) {
	e := newEnv(t)
	e.s.SetFault(armemu.Fault{Kind: armemu.ServerError}) // "" is ARM actions only
	_, err := e.galleries().NewListByResourceGroupPager(rg, nil).NextPage(ctx)
	requireARMError(t, err, 500, "InternalServerError")
	e.s.ClearFaults()
	e.s.SetFault(armemu.Fault{Action: "token", Kind: armemu.Unavailable})
	e.cred = e.credential(armemu.DefaultClientSecret, true)
	_, err = e.galleries().NewListByResourceGroupPager(rg, nil).NextPage(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "RESPONSE 503")
	require.Contains(t, err.Error(), "temporarily_unavailable")
	require.Equal(t, 4, e.s.Calls()["Microsoft.Compute/galleries/read"], "the first try and 3 retries of the 500s; none without a token")
}

func TestCallsAndJournal(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.createVersion("1.0.0", versionBody()) // write, status poll, final GET
	up, err := e.versions().BeginUpdate(ctx, rg, gal, def, "1.0.0", armcompute.GalleryImageVersionUpdate{Tags: map[string]*string{"a": to.Ptr("b")}}, nil)
	require.NoError(t, err)
	_, err = up.PollUntilDone(ctx, fast) // PATCH, status poll, final GET
	require.NoError(t, err)
	dp, err := e.versions().BeginDelete(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	_, err = dp.PollUntilDone(ctx, fast) // DELETE, status poll
	require.NoError(t, err)
	require.Equal(t, map[string]int{verWrit: 2, verRead: 2, verDel: 1, opsRead: 3}, e.s.Calls())

	j := e.s.Journal()
	require.Equal(t, "token", j[1].Action, "openid-configuration, then the token")
	require.Equal(t, "POST", j[1].Verb)
	var verbs []string
	for _, c := range j[2:] {
		verbs = append(verbs, c.Verb+" "+c.Action)
		require.Equal(t, sub, c.Subscription)
		require.True(t, c.Time.Equal(t0))
		require.Contains(t, c.Agent, "azsdk-go-armcompute")
	}
	require.Equal(t, []string{"PUT " + verWrit, "GET " + opsRead, "GET " + verRead, "PATCH " + verWrit, "GET " + opsRead, "GET " + verRead,
		"DELETE " + verDel, "GET " + opsRead}, verbs)
	require.Equal(t, 201, j[2].Status)
	require.Equal(t, 202, j[8].Status)
	require.True(t, strings.HasPrefix(j[2].Path, "/subscriptions/"+sub+"/resourceGroups/"))

	e.s.ResetCounters()
	require.Empty(t, e.s.Calls())
	require.Empty(t, e.s.Journal())
}
