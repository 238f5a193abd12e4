package ec2emu

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/require"
)

// crashChildURL, when set, makes TestCrashPointChild a client process for
// TestCrashPointKillsTheCaller: it tags the image three times, then exits 0.
const crashChildURL = "EC2EMU_CRASH_CHILD_URL"

func TestCrashPointChild(t *testing.T) {
	url := os.Getenv(crashChildURL)
	if url == "" {
		t.Skip("the child process of TestCrashPointKillsTheCaller")
	}
	e := &env{t: t, url: url}
	for i := range 3 {
		_, err := e.owner().CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{os.Getenv("EC2EMU_CRASH_CHILD_IMAGE")},
			Tags: []types.Tag{{Key: aws.String("n"), Value: aws.String(string(rune('1' + i)))}}})
		require.NoError(t, err)
	}
}

// The crash point SIGKILLs the process that made the Nth mutating call
// (reads do not count), after the call took effect and before it hears
// back; the journal holds every served mutating call.
func TestCrashPointKillsTheCaller(t *testing.T) {
	e := newEnv(t)
	id := e.s.Build(Fixture{Families: 1, Versions: 1}).Images["us-east-1"][0]
	adminPost(t, e.url, "/_emu/crash", `{"after":2,"actions":["CreateTags"]}`, nil)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashPointChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildURL+"="+e.url, "EC2EMU_CRASH_CHILD_IMAGE="+id)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the child was not killed:\n%s", out)
	ws := ee.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "child: %v\n%s", err, out)

	resp, err := http.Get(e.url + "/_emu/crash")
	require.NoError(t, err)
	var got struct {
		Fired bool
		Crash Crash
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	require.True(t, got.Fired)
	require.Empty(t, got.Crash.Err)
	require.Equal(t, cmd.Process.Pid, got.Crash.PID, "the caller, no other process")
	require.Equal(t, "2", got.Crash.Call.Params["Tag.1.Value"])

	var tags map[string]string
	e.s.Update(func(st *State) { tags = st.Region("us-east-1").Tags[id] })
	require.Equal(t, "2", tags["n"], "the second call took effect, the third never came")
	j := e.s.Journal()
	require.Len(t, j, 2)
	require.Equal(t, []string{id}, j[1].Resources)
	require.Equal(t, "CreateTags", j[1].Action)
}

// A fault scoped to a region answers only there: a dead region next to a
// live one.
func TestFaultInOneRegion(t *testing.T) {
	e := newEnv(t)
	e.s.SetFault(Fault{Region: "eu-west-1", Probability: 1, Kind: Unavailable})
	_, err := e.client("eu-west-1", ownerKey, 1).DescribeImages(ctx, &ec2.DescribeImagesInput{})
	requireCode(t, err, "Unavailable", 503)
	_, err = e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{})
	require.NoError(t, err)
}
