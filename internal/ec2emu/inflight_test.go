package ec2emu

import (
	"encoding/json"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/require"
)

// TestPeakInFlightCountsConcurrentRequestsPerRegion holds three requests
// inside the emulator at once (two in us-east-1, one in eu-west-1) by
// holding the lock every request takes right after entering the gauge,
// and reads the peaks through the admin hook; a reset starts them again.
func TestPeakInFlightCountsConcurrentRequestsPerRegion(t *testing.T) {
	e := newEnv(t)
	peaks := func() PeakInFlight {
		resp, err := http.Get(e.url + "/_emu/calls")
		require.NoError(t, err)
		defer resp.Body.Close()
		var body struct{ PeakInFlight PeakInFlight }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return body.PeakInFlight
	}
	describe := func(region string) {
		_, err := e.client(region, ownerKey, 1).DescribeImages(ctx, &ec2.DescribeImagesInput{})
		require.NoError(t, err)
	}

	e.s.faultMu.Lock() // counting a call needs it: requests wait inside the gauge
	var wg sync.WaitGroup
	for _, region := range []string{"us-east-1", "us-east-1", "eu-west-1"} {
		wg.Add(1)
		go func() { defer wg.Done(); describe(region) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.s.InFlightNow() < 3 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	inside := e.s.InFlightNow()
	e.s.faultMu.Unlock()
	wg.Wait()
	require.Equal(t, 3, inside, "three requests should be held inside at once")
	require.Zero(t, e.s.InFlightNow(), "every request left")
	require.Equal(t, PeakInFlight{Regions: map[string]int{"us-east-1": 2, "eu-west-1": 1}, All: 3}, peaks())

	e.s.ResetCounters()
	require.Equal(t, PeakInFlight{Regions: map[string]int{}, All: 0}, peaks())
	describe("us-east-1")
	describe("us-east-1")
	require.Equal(t, PeakInFlight{Regions: map[string]int{"us-east-1": 1}, All: 1}, peaks(), "requests one after another never overlap")
}
