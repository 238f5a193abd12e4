package ec2emu

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The awscli contract tests check the emulator through the real `aws` command (botocore
// parses the XML with its own service model, independently of aws-sdk-go-v2). They use
// the `aws` on PATH; the machine image ships aws-cli 1.x under pyenv. Debian's awscli
// 2.9 lacks DisableImage and DescribeImageReferences, so it is rejected, never skipped.

const awsTimeout = 60 * time.Second

var (
	awsOnce sync.Once
	awsPath string
	awsErr  error
)

// awsBinary returns the aws command, failing the test when it is missing or too old.
func awsBinary(t *testing.T) string {
	t.Helper()
	awsOnce.Do(func() {
		awsPath, awsErr = exec.LookPath("aws")
		if awsErr != nil {
			awsErr = errors.New("the `aws` command is not on PATH; these contract tests need aws-cli " +
				"with DisableImage, DescribeImageReferences and DeregisterImage --delete-associated-snapshots " +
				"(the machine image ships aws-cli 1.45 as /root/.pyenv/shims/aws; `pip install awscli` provides it)")
			return
		}
		// --generate-cli-skeleton needs no endpoint: it proves the operations and
		// parameters exist in this awscli's service model.
		checks := map[string]string{"disable-image": "ImageId", "describe-image-references": "IncludeAllResourceTypes", "deregister-image": "DeleteAssociatedSnapshots"}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for op, param := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := runAWS(awsPath, "ec2", op, "--generate-cli-skeleton", "input")
				if r.code != 0 || !strings.Contains(r.stdout, `"`+param+`"`) {
					mu.Lock()
					awsErr = errors.Join(awsErr, errors.New("`aws ec2 "+op+"` lacks "+param+" (exit "+strconv.Itoa(r.code)+"): "+strings.TrimSpace(r.stderr)))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if awsErr != nil {
			awsErr = errors.Join(errors.New(awsPath+" is too old for the contract tests (Debian's awscli 2.9 is; use the image's aws-cli 1.45)"), awsErr)
		}
	})
	require.NoError(t, awsErr)
	return awsPath
}

type cliResult struct {
	stdout, stderr string
	code           int
}

func runAWS(bin string, args ...string) cliResult { return runAWSWith(bin, nil, args...) }

// runAWSWith runs aws with extra environment variables.
func runAWSWith(bin string, env []string, args ...string) cliResult {
	ctx, cancel := context.WithTimeout(context.Background(), awsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), "AWS_PAGER=", "AWS_RETRY_MODE=standard", "AWS_MAX_ATTEMPTS=2"), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.code, r.stderr = -1, r.stderr+"\n(timed out after "+awsTimeout.String()+")"
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code, r.stderr = -1, r.stderr+"\n"+err.Error()
	}
	return r
}

// cli runs `aws ec2 <args> --endpoint-url URL --region us-east-1 --output json`.
func (e *env) cli(args ...string) cliResult {
	e.t.Helper()
	bin := awsBinary(e.t)
	full := append([]string{"ec2"}, args...)
	full = append(full, "--endpoint-url", e.url, "--region", "us-east-1", "--output", "json")
	return runAWS(bin, full...)
}

// cliJSON runs the command, requires success and decodes its JSON output into out.
func (e *env) cliJSON(out any, args ...string) {
	e.t.Helper()
	r := e.cli(args...)
	require.Zero(e.t, r.code, "aws ec2 %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	if out == nil {
		return
	}
	reflect.ValueOf(out).Elem().SetZero() // absent keys must not keep earlier values
	require.NoError(e.t, json.Unmarshal([]byte(r.stdout), out), "aws ec2 %s: output is not JSON:\n%s", strings.Join(args, " "), r.stdout)
}

// cliError requires the command to fail with code (printed by awscli as "(code)").
func (e *env) cliError(code string, args ...string) cliResult {
	e.t.Helper()
	r := e.cli(args...)
	require.NotZero(e.t, r.code, "aws ec2 %s succeeded, want %s:\n%s", strings.Join(args, " "), code, r.stdout)
	require.Contains(e.t, r.stderr, "An error occurred ("+code+")", "aws ec2 %s: stderr lacks (%s)", strings.Join(args, " "), code)
	return r
}

// What botocore prints (PascalCase members of the service model).
type cliTag struct{ Key, Value string }

type cliImage struct {
	ImageId, Name, State, OwnerId, CreationDate, DeprecationTime string
	RootDeviceType, RootDeviceName, Architecture, Description    string
	DeregistrationProtection                                     string
	Public                                                       bool
	BlockDeviceMappings                                          []struct {
		DeviceName string
		Ebs        struct {
			SnapshotId string
			VolumeSize int
		}
	}
	Tags []cliTag
}

type cliImages struct {
	Images    []cliImage
	NextToken string
}

func tagMap(tags []cliTag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func imageIDs(imgs []cliImage) []string {
	var out []string
	for _, i := range imgs {
		out = append(out, i.ImageId)
	}
	sort.Strings(out)
	return out
}

func TestAWSCLIDescribeImages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 2, Versions: 6, DeprecateOldest: 1, Public: 2, Tags: map[string]string{"Team": "core"}})
	own := res.Families["us-east-1"]
	public := res.Public["us-east-1"]
	e.s.Update(func(st *State) {
		at := t0.Add(-time.Hour)
		st.Region("us-east-1").Images[public[0]].DeprecationTime = &at
	})

	// Filters, owners and every parsed field of one image.
	var out cliImages
	e.cliJSON(&out, "describe-images", "--owners", "self", "--filters", "Name=name,Values=app-00-*", "Name=tag:Version,Values=0,5")
	require.Len(t, out.Images, 2, "name+tag filters: got %v", imageIDs(out.Images))
	byID := map[string]cliImage{}
	for _, img := range out.Images {
		byID[img.ImageId] = img
	}
	oldest, newest := byID[own["app-00"][0]], byID[own["app-00"][5]]
	require.Equal(t, "app-00-v0000", oldest.Name, "wrong images: %+v", out.Images)
	require.Equal(t, "app-00-v0005", newest.Name, "wrong images: %+v", out.Images)
	require.Equal(t, "available", newest.State, "newest image fields: %+v", newest)
	require.Equal(t, DefaultAccount, newest.OwnerId, "newest image fields: %+v", newest)
	require.Equal(t, "ebs", newest.RootDeviceType, "newest image fields: %+v", newest)
	require.Equal(t, "/dev/xvda", newest.RootDeviceName, "newest image fields: %+v", newest)
	require.Equal(t, "x86_64", newest.Architecture, "newest image fields: %+v", newest)
	require.False(t, newest.Public, "newest image fields: %+v", newest)
	require.Equal(t, "disabled", newest.DeregistrationProtection, "newest image fields: %+v", newest)
	require.Empty(t, newest.DeprecationTime, "newest image fields: %+v", newest)
	require.Equal(t, "2026-01-13T12:00:00.000Z", newest.CreationDate, "CreationDate")
	bdm := newest.BlockDeviceMappings
	require.Len(t, bdm, 1, "block devices: %+v", bdm)
	require.Equal(t, "/dev/xvda", bdm[0].DeviceName, "block devices: %+v", bdm)
	require.True(t, strings.HasPrefix(bdm[0].Ebs.SnapshotId, "snap-"), "block devices: %+v", bdm)
	require.EqualValues(t, 8, bdm[0].Ebs.VolumeSize, "block devices: %+v", bdm)
	require.Equal(t, map[string]string{"Team": "core", "Family": "app-00", "Version": "5"}, tagMap(newest.Tags), "tags")
	// The owner sees its own deprecated image, with its deprecation time.
	require.Equal(t, "2026-01-15T11:00:00.000Z", oldest.DeprecationTime, "oldest DeprecationTime")

	// Another owner's deprecated public image: hidden unless --include-deprecated or named.
	e.cliJSON(&out, "describe-images", "--owners", "210987654321")
	require.Equal(t, []string{public[1]}, imageIDs(out.Images), "foreign deprecated image must be hidden")
	e.cliJSON(&out, "describe-images", "--owners", "210987654321", "--include-deprecated")
	require.Len(t, out.Images, 2, "--include-deprecated: %v", imageIDs(out.Images))
	for _, img := range out.Images {
		if img.ImageId == public[0] {
			require.Equal(t, "2026-01-15T11:00:00.000Z", img.DeprecationTime, "deprecated public image: %+v", img)
			require.True(t, img.Public, "deprecated public image: %+v", img)
		}
	}
	e.cliJSON(&out, "describe-images", "--image-ids", public[0])
	require.Equal(t, []string{public[0]}, imageIDs(out.Images), "a named deprecated image is shown: %+v", out.Images)
	e.cliJSON(&out, "describe-images", "--executable-users", "all")
	require.Equal(t, []string{public[1]}, imageIDs(out.Images), "--executable-users all")
}

func TestAWSCLIDescribeImagesPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 2, Versions: 6})
	all := append([]string(nil), res.Images["us-east-1"]...)
	sort.Strings(all)

	// --page-size sets MaxResults; the CLI follows NextToken to the end by itself.
	before := e.s.Calls("us-east-1", "DescribeImages")
	var out cliImages
	e.cliJSON(&out, "describe-images", "--owners", "self", "--page-size", "5")
	require.Equal(t, strings.Join(all, ","), strings.Join(imageIDs(out.Images), ","), "auto-paginated")
	require.EqualValues(t, 3, e.s.Calls("us-east-1", "DescribeImages")-before, "calls for 12 images in pages of 5")

	// --max-items stops early and prints a resumable NextToken.
	e.cliJSON(&out, "describe-images", "--owners", "self", "--page-size", "5", "--max-items", "7")
	first := out.Images
	require.Len(t, first, 7, "--max-items 7")
	require.NotEmpty(t, out.NextToken, "--max-items 7: NextToken")
	e.cliJSON(&out, "describe-images", "--owners", "self", "--page-size", "5", "--max-items", "7", "--starting-token", out.NextToken)
	require.Len(t, out.Images, 5, "second page")
	require.Empty(t, out.NextToken, "second page: NextToken")
	require.Equal(t, strings.Join(all, ","), strings.Join(imageIDs(append(first, out.Images...)), ","), "pages overlap or miss images")

	// EC2's bounds on MaxResults reach the CLI as errors.
	e.cliError("InvalidParameterValue", "describe-images", "--owners", "self", "--page-size", "4")
}

func TestAWSCLITagsDeprecationDisableDeregister(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 2})
	id, keep := res.Images["us-east-1"][1], res.Images["us-east-1"][0]
	var out cliImages
	e.cliJSON(&out, "describe-images", "--image-ids", id)
	snap := out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId

	// create-tags on the image and its snapshot; it prints nothing.
	r := e.cli("create-tags", "--resources", id, snap, "--tags", "Key=Channel,Value=stable", "Key=Owner,Value=team a")
	require.Zero(t, r.code, "create-tags: exit %d, stderr %s", r.code, r.stderr)
	require.Empty(t, strings.TrimSpace(r.stdout), "create-tags prints nothing")
	e.cliJSON(&out, "describe-images", "--image-ids", id)
	got := tagMap(out.Images[0].Tags)
	require.Equal(t, []string{"stable", "team a", "app-00"}, []string{got["Channel"], got["Owner"], got["Family"]}, "image tags (Channel, Owner, Family): %v", got)
	var snaps struct {
		Snapshots []struct {
			SnapshotId, State, OwnerId string
			Tags                       []cliTag
		}
	}
	e.cliJSON(&snaps, "describe-snapshots", "--snapshot-ids", snap)
	require.Len(t, snaps.Snapshots, 1, "snapshot: %+v", snaps.Snapshots)
	require.Equal(t, "completed", snaps.Snapshots[0].State, "snapshot: %+v", snaps.Snapshots)
	require.Equal(t, "stable", tagMap(snaps.Snapshots[0].Tags)["Channel"], "snapshot: %+v", snaps.Snapshots)
	e.cliError("InvalidParameterValue", "create-tags", "--resources", id, "--tags", "Key=aws:reserved,Value=x")

	// enable-image-deprecation rounds up to the minute and returns true.
	var ret struct{ Return bool }
	e.cliJSON(&ret, "enable-image-deprecation", "--image-id", id, "--deprecate-at", "2026-03-01T10:00:30Z")
	require.True(t, ret.Return, "enable-image-deprecation returned false")
	e.cliJSON(&out, "describe-images", "--image-ids", id)
	require.Equal(t, "2026-03-01T10:01:00.000Z", out.Images[0].DeprecationTime, "DeprecationTime")
	e.cliError("InvalidParameterValue", "enable-image-deprecation", "--image-id", id, "--deprecate-at", "2040-01-01T00:00:00Z")

	// disable-image: hidden from listings unless --include-disabled; its snapshot is in use.
	ret.Return = false
	e.cliJSON(&ret, "disable-image", "--image-id", id)
	require.True(t, ret.Return, "disable-image returned false")
	e.cliJSON(&out, "describe-images", "--owners", "self")
	require.Equal(t, []string{keep}, imageIDs(out.Images), "disabled image listed without --include-disabled")
	e.cliJSON(&out, "describe-images", "--owners", "self", "--include-disabled", "--filters", "Name=image-id,Values="+id)
	require.Len(t, out.Images, 1, "--include-disabled: %+v", out.Images)
	require.Equal(t, "disabled", out.Images[0].State, "--include-disabled: %+v", out.Images)
	require.False(t, out.Images[0].Public, "--include-disabled: %+v", out.Images)
	e.cliError("InvalidSnapshot.InUse", "delete-snapshot", "--snapshot-id", snap)

	// deregistration protection blocks deregister-image.
	var prot struct{ Return string }
	e.cliJSON(&prot, "enable-image-deregistration-protection", "--image-id", id)
	require.Equal(t, "enabled-without-cooldown", prot.Return, "enable-image-deregistration-protection returned")
	e.cliError("OperationNotPermitted", "deregister-image", "--image-id", id, "--delete-associated-snapshots")
	e.cliJSON(&prot, "disable-image-deregistration-protection", "--image-id", id)
	require.Equal(t, "disabled", prot.Return, "disable-image-deregistration-protection returned")

	// deregister-image --delete-associated-snapshots reports each snapshot's fate.
	var dereg struct {
		Return                bool
		DeleteSnapshotResults []struct{ SnapshotId, ReturnCode string }
	}
	e.cliJSON(&dereg, "deregister-image", "--image-id", id, "--delete-associated-snapshots")
	require.True(t, dereg.Return, "deregister-image: %+v", dereg)
	require.Len(t, dereg.DeleteSnapshotResults, 1, "deregister-image: %+v", dereg)
	require.Equal(t, snap, dereg.DeleteSnapshotResults[0].SnapshotId, "deregister-image: %+v", dereg)
	require.Equal(t, "success", dereg.DeleteSnapshotResults[0].ReturnCode, "deregister-image: %+v", dereg)
	e.cliError("InvalidSnapshot.NotFound", "describe-snapshots", "--snapshot-ids", snap)
	e.clock.Advance(DefaultDeregisteredVisibility)
	e.cliJSON(&out, "describe-images", "--owners", "self", "--include-disabled")
	require.Equal(t, []string{keep}, imageIDs(out.Images), "after deregister")
}

func TestAWSCLIDescribeImageReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 2, Instances: 1, LaunchTemplates: 1})
	older, newer := res.Images["us-east-1"][0], res.Images["us-east-1"][1]
	inst, lt := res.Instances["us-east-1"][0], res.LaunchTemplates["us-east-1"][0]
	type refs struct {
		ImageReferences []struct{ Arn, ImageId, ResourceType string }
	}
	var out refs
	e.cliJSON(&out, "describe-image-references", "--image-ids", newer, older, "--include-all-resource-types")
	got := map[string]string{}
	for _, r := range out.ImageReferences {
		got[r.ImageId+" "+r.ResourceType] = r.Arn
	}
	want := map[string]string{
		newer + " ec2:Instance":       "arn:aws:ec2:us-east-1:" + DefaultAccount + ":instance/" + inst,
		newer + " ec2:LaunchTemplate": "arn:aws:ec2:us-east-1:" + DefaultAccount + ":launch-template/" + lt,
		older + " ec2:LaunchTemplate": "arn:aws:ec2:us-east-1:" + DefaultAccount + ":launch-template/" + lt,
	}
	require.Equal(t, want, got, "references")
	// Only the latest launch template version counts with version-depth 1.
	e.cliJSON(&out, "describe-image-references", "--image-ids", older,
		"--resource-types", "ResourceType=ec2:LaunchTemplate,ResourceTypeOptions=[{OptionName=version-depth,OptionValues=[1]}]")
	require.Empty(t, out.ImageReferences, "version-depth 1")
	e.cliJSON(&out, "describe-image-references", "--image-ids", newer, "--resource-types", "ResourceType=ec2:Instance")
	require.Len(t, out.ImageReferences, 1, "instances only: %+v", out.ImageReferences)
	require.Equal(t, "ec2:Instance", out.ImageReferences[0].ResourceType, "instances only: %+v", out.ImageReferences)
	e.cliError("InvalidAMIID.Malformed", "describe-image-references", "--image-ids", "ami-xyz", "--include-all-resource-types")
}

func TestAWSCLIErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.cliError("InvalidAMIID.NotFound", "describe-images", "--image-ids", "ami-0123456789abcdef0")
	require.Contains(t, r.stderr, "when calling the DescribeImages operation")
	require.Contains(t, r.stderr, "ami-0123456789abcdef0")
	require.Empty(t, r.stdout, "an error printed to stdout")
	e.cliError("InvalidAMIID.Malformed", "describe-images", "--image-ids", "ami-nothex")
	e.cliError("InvalidAMIID.NotFound", "disable-image", "--image-id", "ami-0123456789abcdef0")
	e.cliError("InvalidParameterCombination", "describe-images", "--image-ids", "ami-0123456789abcdef0", "--max-results", "5")
	e.cliError("DryRunOperation", "describe-images", "--dry-run")
	e.s.Deny(DefaultAccount, "DeregisterImage")
	e.cliError("UnauthorizedOperation", "deregister-image", "--image-id", "ami-0123456789abcdef0")
}
