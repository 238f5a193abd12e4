package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	awsbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/aws"
)

func TestAutoPicksAWSForAmazonBuilders(t *testing.T) {
	for _, builder := range []string{"amazon-ebs", "amazon-ebssurrogate", "amazon-chroot", "amazon-instance"} {
		c := Config{}
		require.Empty(t, c.Prepare(builder))
		require.Equal(t, AWS, c.Backend, builder)
	}
	c := Config{}
	require.Empty(t, c.Prepare("qemu"))
	require.Equal(t, Local, c.Backend)

	ds := Config{}
	require.Empty(t, ds.Prepare(""))
	require.Equal(t, Local, ds.Backend, "the data source reads the local catalog unless AWS options say otherwise")
	ds = Config{AccessConfig: awsbackend.AccessConfig{Owners: []string{"123456789012"}}}
	require.Empty(t, ds.Prepare(""))
	require.Equal(t, AWS, ds.Backend)
}

func TestOpenReturnsTheAWSBackend(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	c := Config{Backend: AWS, AccessConfig: awsbackend.AccessConfig{Region: "eu-west-1", Regions: []string{"us-east-1"}}}
	require.Empty(t, c.Prepare("amazon-ebs"))
	be, err := Open(c, time.Now)
	require.NoError(t, err)
	require.Equal(t, "aws", be.Name())
	require.Equal(t, []string{"eu-west-1", "us-east-1"}, be.(*awsbackend.Backend).Regions())
}

func TestPrepareValidatesAWSOptions(t *testing.T) {
	c := Config{AccessConfig: awsbackend.AccessConfig{Region: "nowhere"}}
	errs := c.Prepare("amazon-ebs")
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], `region: "nowhere"`)
}
