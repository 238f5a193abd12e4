package aws

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
)

// TestAccountRoleIsAssumedAfterTheHubRole: an account of an
// organisation-wide sweep is reached by assuming the hub role with the
// caller's keys, then the account's role with the hub's credentials; its
// regions replace the top-level ones and its owners are its own. A role
// that cannot be assumed fails Open, naming the role, before any EC2 call.
func TestAccountRoleIsAssumedAfterTheHubRole(t *testing.T) {
	s := ec2emu.New()
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	t.Setenv("AWS_ENDPOINT_URL_STS", hs.URL)
	t.Setenv("AWS_ENDPOINT_URL_EC2", hs.URL)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	const hub, member = "arn:aws:iam::111111111111:role/hub", "arn:aws:iam::222222222222:role/sweeper"
	s.AddAccount("AKIDCALLER", "999999999999")
	s.AddRole(hub, ec2emu.Role{Trusted: []string{"999999999999"}})
	s.AddRole(member, ec2emu.Role{Trusted: []string{"111111111111"}, ExternalID: "org-xid"})

	top := AccessConfig{Region: "us-east-1", Regions: []string{"eu-west-1"}, Owners: []string{"self"}, AccessKey: "AKIDCALLER", SecretKey: "s",
		AssumeRole: AssumeRoleConfig{RoleARN: hub}}
	a := AccountConfig{AssumeRole: AssumeRoleConfig{RoleARN: member, ExternalID: "org-xid", SessionName: "org-sweep"}, Regions: []string{"ap-south-1", "eu-north-1"}}
	require.Equal(t, "222222222222", a.Account())
	in := top.InAccount(a)
	require.Equal(t, "ap-south-1", in.Region)
	require.Equal(t, []string{"eu-north-1"}, in.Regions)
	require.Empty(t, in.Owners, "an account retires only what it owns")
	require.Equal(t, hub, in.AssumeRole.RoleARN, "the hub role is assumed first")
	require.Equal(t, []string{"self"}, top.Owners, "the top-level config is left as it was")

	be, err := Open(context.Background(), in, "packer-plugin-lifecycle", time.Now)
	require.NoError(t, err)
	require.NotNil(t, be)
	calls := s.AssumeRoleCalls()
	require.Len(t, calls, 2)
	require.Equal(t, "AKIDCALLER", calls[0].CallerKey)
	require.Equal(t, hub, calls[0].RoleARN)
	require.Equal(t, calls[0].AccessKeyID, calls[1].CallerKey, "the account's role is assumed with the hub's credentials")
	require.Equal(t, member, calls[1].RoleARN)
	require.Equal(t, "org-xid", calls[1].ExternalID)
	require.Equal(t, "org-sweep", calls[1].SessionName)
	require.Empty(t, calls[1].Denied)

	// The wrong external id, and a role that does not exist.
	for _, bad := range []AccountConfig{
		{AssumeRole: AssumeRoleConfig{RoleARN: member, ExternalID: "guess"}},
		{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::333333333333:role/sweeper"}},
	} {
		_, err := Open(context.Background(), top.InAccount(bad), "packer-plugin-lifecycle", time.Now)
		require.ErrorContains(t, err, "assuming "+bad.AssumeRole.RoleARN+": ")
		require.ErrorContains(t, err, "AccessDenied")
		require.NotContains(t, err.Error(), "guess", "the external id is a secret")
	}
	require.Zero(t, s.Calls("us-east-1", "DescribeImages")+s.Calls("ap-south-1", "DescribeImages"), "nothing is listed by Open")
}

func TestAccountConfigCheckNamesTheField(t *testing.T) {
	for _, c := range []struct {
		a    AccountConfig
		want string
	}{
		{AccountConfig{}, "accounts[2].assume_role.role_arn: must be set: it names the account"},
		{AccountConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::12345:role/x"}}, `accounts[2].assume_role.role_arn: "arn:aws:iam::12345:role/x" is not an IAM role ARN`},
		{AccountConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:user/x"}}, `is not an IAM role ARN`},
		{AccountConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/x", ExternalID: "a b"}}, "accounts[2].assume_role.external_id: must be 2 to 1224 characters"},
		{AccountConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/x", DurationSeconds: 60}}, "accounts[2].assume_role.duration_seconds: 60 is not between 900 and 43200"},
		{AccountConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/x", SessionName: "a b"}}, `accounts[2].assume_role.session_name: "a b" must be`},
		{AccountConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/x"}, Regions: []string{"us-east-1", "mars"}}, `accounts[2].regions[1]: "mars" is not a region name`},
	} {
		errs := c.a.Check("accounts[2]")
		require.NotEmpty(t, errs, c.want)
		require.ErrorContains(t, errs[0], c.want)
	}
	require.Empty(t, AccountConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/x"}, Regions: []string{"eu-west-1"}}.Check("accounts[0]"))
}
