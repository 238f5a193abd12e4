package ec2emu

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stretchr/testify/require"
)

func adminPost(t *testing.T, url, path, body string, out any) {
	t.Helper()
	resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, path)
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
}

func TestAdminEndpoint(t *testing.T) {
	e := newEnv(t)
	var res FixtureResult
	adminPost(t, e.url, "/_emu/fixture", `{"families":1,"versions":2,"regions":["us-west-2"]}`, &res)
	require.Len(t, res.Images["us-west-2"], 2)
	adminPost(t, e.url, "/_emu/accounts", `{"accessKey":"AKIDNEW","accountId":"333333333333"}`, nil)
	out, err := e.client("us-west-2", "AKIDNEW", 1).DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	require.NoError(t, err)
	require.Empty(t, out.Images, "another account")
	var clock struct{ Now time.Time }
	adminPost(t, e.url, "/_emu/clock", `{"advance":"2h"}`, &clock)
	require.Equal(t, t0.Add(2*time.Hour), clock.Now)

	resp, err := http.Get(e.url + "/_emu/calls")
	require.NoError(t, err)
	var calls struct{ Calls map[string]map[string]int }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&calls))
	resp.Body.Close()
	require.Equal(t, 1, calls.Calls["us-west-2"]["DescribeImages"])

	resp, err = http.Get(e.url + "/_emu/state")
	require.NoError(t, err)
	var st State
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	require.Len(t, st.Regions["us-west-2"].Images, 2)
	b, _ := json.Marshal(&State{Regions: map[string]*Region{}})
	adminPost(t, e.url, "/_emu/state", string(b), nil)
	out, err = e.client("us-west-2", ownerKey, 1).DescribeImages(ctx, &ec2.DescribeImagesInput{})
	require.NoError(t, err)
	require.Empty(t, out.Images, "state replaced")
	adminPost(t, e.url, "/_emu/faults", `[{"probability":1,"kind":1}]`, nil)
	_, err = e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{})
	requireCode(t, err, "RequestLimitExceeded", 503)
}
