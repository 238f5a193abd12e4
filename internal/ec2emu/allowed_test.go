package ec2emu

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/require"
)

// TestAllowedImages: an account's Allowed AMIs criteria hide and refuse
// the other accounts' AMIs they do not allow once enabled, only flag them
// in audit mode, never restrict the account's own, and read back as set.
func TestAllowedImages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 3})
	ids := res.Images["us-east-1"]
	active, old, recent := ids[0], ids[1], ids[2]
	e.s.Update(func(st *State) {
		r := st.Region("us-east-1")
		for i, id := range ids {
			r.Images[id].LaunchUsers = []string{otherAccount}
			if i > 0 {
				at := t0.Add([]time.Duration{0, -40, -5}[i] * 24 * time.Hour)
				r.Images[id].DeprecationTime = &at
			}
		}
	})
	other := e.other()
	own := *e.launch(other, active).ImageId // launched fine before any criteria
	require.Equal(t, active, own)

	_, err := other.ReplaceImageCriteriaInAllowedImagesSettings(ctx, &ec2.ReplaceImageCriteriaInAllowedImagesSettingsInput{
		ImageCriteria: []types.ImageCriterionRequest{{ImageProviders: []string{"none", "123456789012"}}}})
	requireCode(t, err, "InvalidParameterValue", 400)
	_, err = other.ReplaceImageCriteriaInAllowedImagesSettings(ctx, &ec2.ReplaceImageCriteriaInAllowedImagesSettingsInput{
		ImageCriteria: []types.ImageCriterionRequest{{ImageProviders: []string{DefaultAccount},
			DeprecationTimeCondition: &types.DeprecationTimeConditionRequest{MaximumDaysSinceDeprecated: aws.Int32(30)}}}})
	require.NoError(t, err)
	_, err = other.EnableAllowedImagesSettings(ctx, &ec2.EnableAllowedImagesSettingsInput{AllowedImagesSettingsState: "on"})
	requireCode(t, err, "InvalidParameterValue", 400)

	seen := func() map[string]bool {
		out, err := other.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{DefaultAccount}, IncludeDeprecated: aws.Bool(true)})
		require.NoError(t, err)
		m := map[string]bool{}
		for _, im := range out.Images {
			m[*im.ImageId] = aws.ToBool(im.ImageAllowed)
		}
		return m
	}
	_, err = other.EnableAllowedImagesSettings(ctx, &ec2.EnableAllowedImagesSettingsInput{AllowedImagesSettingsState: types.AllowedImagesSettingsEnabledStateAuditMode})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{active: true, old: false, recent: true}, seen(), "audit mode flags, hides nothing")
	e.launch(other, old)

	_, err = other.EnableAllowedImagesSettings(ctx, &ec2.EnableAllowedImagesSettingsInput{AllowedImagesSettingsState: types.AllowedImagesSettingsEnabledStateEnabled})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{active: true, recent: true}, seen(), "enabled: deprecated 40 days ago is not discoverable")
	_, err = other.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &old, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	requireCode(t, err, "AuthFailure", 400)
	e.launch(other, recent)
	_, err = e.owner().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &old, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	require.NoError(t, err, "the owner's settings are its own")

	got, err := other.GetAllowedImagesSettings(ctx, &ec2.GetAllowedImagesSettingsInput{})
	require.NoError(t, err)
	require.Equal(t, "enabled", aws.ToString(got.State))
	require.Equal(t, []string{DefaultAccount}, got.ImageCriteria[0].ImageProviders)
	require.Equal(t, int32(30), aws.ToInt32(got.ImageCriteria[0].DeprecationTimeCondition.MaximumDaysSinceDeprecated))

	_, err = other.DisableAllowedImagesSettings(ctx, &ec2.DisableAllowedImagesSettingsInput{})
	require.NoError(t, err)
	e.launch(other, old)
}
