package parent

import (
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var awsNow = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// awsFamily serves an emulator holding AMIs of family base in us-east-1,
// one per version, shaped by mutate.
func awsFamily(t *testing.T, versions map[string]func(img *ec2emu.Image, tags map[string]string)) (*ec2emu.Server, map[string]string) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDDATASOURCE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv(clock.Env, awsNow.Format(time.RFC3339))
	s := ec2emu.New(ec2emu.WithClock(ec2emu.NewFakeClock(awsNow)))
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	t.Setenv("AWS_ENDPOINT_URL_EC2", hs.URL)
	ids := map[string]string{}
	i := 0
	for v, mutate := range versions {
		i++
		created := awsNow.Add(-time.Duration(30-i) * 24 * time.Hour)
		s.Update(func(st *ec2emu.State) {
			r := st.Region("us-east-1")
			snap := st.NewID("snap")
			r.Snapshots[snap] = &ec2emu.Snapshot{ID: snap, OwnerID: ec2emu.DefaultAccount, VolumeSize: 8, State: "completed", StartTime: created}
			img := &ec2emu.Image{ID: st.NewID("ami"), Name: "base-" + v, OwnerID: ec2emu.DefaultAccount, State: "available", CreationDate: created,
				Architecture: "x86_64", VirtualizationType: "hvm", RootDeviceName: "/dev/xvda", RootDeviceType: "ebs",
				BlockDevices: []ec2emu.BlockDevice{{DeviceName: "/dev/xvda", SnapshotID: snap, VolumeSize: 8}}}
			tags := map[string]string{
				lifecycle.TagFamily: "base", lifecycle.TagVersion: v, lifecycle.TagChannel: "stable",
				lifecycle.TagManagedBy: lifecycle.DefaultManagedBy, lifecycle.TagStage: "active",
				lifecycle.TagReleasedAt: created.Format(time.RFC3339),
			}
			if mutate != nil {
				mutate(img, tags)
			}
			r.Images[img.ID], r.Tags[img.ID] = img, tags
			ids[v] = img.ID
		})
	}
	return s, ids
}

func execute(t *testing.T, cfg map[string]interface{}) (DatasourceOutput, error) {
	cfg["allow_simulated_time"] = true // the tests choose at awsNow
	d := &Datasource{}
	require.NoError(t, d.Configure(cfg))
	return d.newest()
}

func TestAWSNewestSupportedRelease(t *testing.T) {
	past := awsNow.Add(-time.Hour)
	future := awsNow.Add(30 * 24 * time.Hour)
	s, ids := awsFamily(t, map[string]func(*ec2emu.Image, map[string]string){
		"1.0.0": nil,
		"1.1.0": func(img *ec2emu.Image, _ map[string]string) { img.DeprecationTime = &future }, // expires later: still supported
		// EC2 shows owners their own deprecated AMIs: passed over on DeprecationTime alone.
		"1.2.0": func(img *ec2emu.Image, _ map[string]string) { img.DeprecationTime = &past },
		"1.3.0": func(img *ec2emu.Image, tags map[string]string) {
			img.State = "disabled"
			tags[lifecycle.TagStage] = "disabled"
		},
		"1.4.0": func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagStage] = "pending" },
		"2.0.0": func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagManagedBy] = "someone-else" },
	})
	out, err := execute(t, map[string]interface{}{"family": "base", "owners": []string{"self"}})
	require.NoError(t, err)
	require.Equal(t, ids["1.1.0"], out.ID)
	require.Equal(t, "us-east-1", out.Region)
	require.Equal(t, "1.1.0", out.Version)
	require.Equal(t, future.Format(time.RFC3339), out.DeprecationTime)
	require.Equal(t, ec2emu.DefaultAccount, out.Owner)
	require.Len(t, out.SnapshotIDs, 1)
	require.NotEmpty(t, out.CreationDate)
	require.Equal(t, "base", out.Tags[lifecycle.TagFamily])
	require.Equal(t, 1, s.Calls("us-east-1", "DescribeImages"), "one paginated DescribeImages, no other call")
	require.Len(t, s.Snapshot()["us-east-1"], 1)

	out, err = execute(t, map[string]interface{}{"family": "base", "backend": "aws", "version_constraint": "< 1.1"})
	require.NoError(t, err)
	require.Equal(t, ids["1.0.0"], out.ID)

	_, err = execute(t, map[string]interface{}{"family": "base", "version_constraint": ">= 1.2", "region": "us-east-1"})
	require.ErrorContains(t, err, "1 deprecated")
	require.ErrorContains(t, err, "1 disabled")
	require.ErrorContains(t, err, "1 not managed")
	require.ErrorContains(t, err, "1 state pending")

	_, err = execute(t, map[string]interface{}{"family": "base", "owners": []string{"210987654321"}})
	require.ErrorContains(t, err, "no release of family base", "another account's family is not ours")
}

// TestAWSConsumerReadsAProducersSharedFamily: an account the family is
// shared with names the producer in owners and reads the stamps the
// producer published in the descriptions (it sees none of its tags).
func TestAWSConsumerReadsAProducersSharedFamily(t *testing.T) {
	const consumer = "111122223333"
	past := awsNow.Add(-time.Hour)
	stamp := func(shared bool) func(img *ec2emu.Image, tags map[string]string) {
		return func(img *ec2emu.Image, tags map[string]string) {
			rel, _ := lifecycle.FromTags(lifecycle.Image{ID: img.ID}, tags)
			s, ok := lifecycle.Stamp(rel, lifecycle.DefaultManagedBy)
			require.True(t, ok)
			img.Description = lifecycle.StampedDescription("base image", s)
			if shared {
				img.LaunchUsers = []string{consumer}
			}
		}
	}
	s, ids := awsFamily(t, map[string]func(*ec2emu.Image, map[string]string){
		"1.0.0": stamp(true),
		"1.1.0": func(img *ec2emu.Image, tags map[string]string) { stamp(true)(img, tags); img.DeprecationTime = &past },
		"1.2.0": stamp(false),                                                                          // not shared with the consumer
		"1.3.0": func(img *ec2emu.Image, _ map[string]string) { img.LaunchUsers = []string{consumer} }, // recorded before stamps
	})
	s.AddAccount("AKIDCONSUMER", consumer)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCONSUMER")

	out, err := execute(t, map[string]interface{}{"family": "base", "owners": []string{ec2emu.DefaultAccount}})
	require.NoError(t, err)
	require.Equal(t, ids["1.0.0"], out.ID)
	require.Equal(t, "1.0.0", out.Version)
	require.Equal(t, ec2emu.DefaultAccount, out.Owner)
	require.Equal(t, "base", out.Tags[lifecycle.TagFamily], "tags: the metadata read from the stamp")

	_, err = execute(t, map[string]interface{}{"family": "base", "owners": []string{ec2emu.DefaultAccount}, "version_constraint": ">= 1.1"})
	require.ErrorContains(t, err, "passed over 1 deprecated")

	_, err = execute(t, map[string]interface{}{"family": "base", "owners": []string{"self"}})
	require.ErrorContains(t, err, "no release of family base", "the consumer owns none")
}
