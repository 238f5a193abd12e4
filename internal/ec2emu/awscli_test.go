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
	if awsErr != nil {
		t.Fatal(awsErr)
	}
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
	if r.code != 0 {
		e.t.Fatalf("aws ec2 %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	if out == nil {
		return
	}
	reflect.ValueOf(out).Elem().SetZero() // absent keys must not keep earlier values
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		e.t.Fatalf("aws ec2 %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
}

// cliError requires the command to fail with code (printed by awscli as "(code)").
func (e *env) cliError(code string, args ...string) cliResult {
	e.t.Helper()
	r := e.cli(args...)
	if r.code == 0 {
		e.t.Fatalf("aws ec2 %s succeeded, want %s:\n%s", strings.Join(args, " "), code, r.stdout)
	}
	if !strings.Contains(r.stderr, "An error occurred ("+code+")") {
		e.t.Fatalf("aws ec2 %s: stderr lacks (%s):\n%s", strings.Join(args, " "), code, r.stderr)
	}
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
	if len(out.Images) != 2 {
		t.Fatalf("name+tag filters: got %v", imageIDs(out.Images))
	}
	byID := map[string]cliImage{}
	for _, img := range out.Images {
		byID[img.ImageId] = img
	}
	oldest, newest := byID[own["app-00"][0]], byID[own["app-00"][5]]
	if oldest.Name != "app-00-v0000" || newest.Name != "app-00-v0005" {
		t.Fatalf("wrong images: %+v", out.Images)
	}
	if newest.State != "available" || newest.OwnerId != DefaultAccount || newest.RootDeviceType != "ebs" ||
		newest.RootDeviceName != "/dev/xvda" || newest.Architecture != "x86_64" || newest.Public ||
		newest.DeregistrationProtection != "disabled" || newest.DeprecationTime != "" {
		t.Fatalf("newest image fields: %+v", newest)
	}
	if newest.CreationDate != "2026-01-13T12:00:00.000Z" {
		t.Fatalf("CreationDate = %q", newest.CreationDate)
	}
	if len(newest.BlockDeviceMappings) != 1 || newest.BlockDeviceMappings[0].DeviceName != "/dev/xvda" ||
		!strings.HasPrefix(newest.BlockDeviceMappings[0].Ebs.SnapshotId, "snap-") || newest.BlockDeviceMappings[0].Ebs.VolumeSize != 8 {
		t.Fatalf("block devices: %+v", newest.BlockDeviceMappings)
	}
	if got := tagMap(newest.Tags); got["Team"] != "core" || got["Family"] != "app-00" || got["Version"] != "5" || len(got) != 3 {
		t.Fatalf("tags: %v", got)
	}
	// The owner sees its own deprecated image, with its deprecation time.
	if oldest.DeprecationTime != "2026-01-15T11:00:00.000Z" {
		t.Fatalf("oldest DeprecationTime = %q", oldest.DeprecationTime)
	}

	// Another owner's deprecated public image: hidden unless --include-deprecated or named.
	e.cliJSON(&out, "describe-images", "--owners", "210987654321")
	if got := imageIDs(out.Images); len(got) != 1 || got[0] != public[1] {
		t.Fatalf("foreign deprecated image must be hidden: %v", got)
	}
	e.cliJSON(&out, "describe-images", "--owners", "210987654321", "--include-deprecated")
	if got := imageIDs(out.Images); len(got) != 2 {
		t.Fatalf("--include-deprecated: %v", got)
	}
	for _, img := range out.Images {
		if img.ImageId == public[0] && (img.DeprecationTime != "2026-01-15T11:00:00.000Z" || !img.Public) {
			t.Fatalf("deprecated public image: %+v", img)
		}
	}
	e.cliJSON(&out, "describe-images", "--image-ids", public[0])
	if len(out.Images) != 1 || out.Images[0].ImageId != public[0] {
		t.Fatalf("a named deprecated image is shown: %+v", out.Images)
	}
	e.cliJSON(&out, "describe-images", "--executable-users", "all")
	if got := imageIDs(out.Images); len(got) != 1 || got[0] != public[1] {
		t.Fatalf("--executable-users all: %v", got)
	}
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
	if got := imageIDs(out.Images); strings.Join(got, ",") != strings.Join(all, ",") {
		t.Fatalf("auto-paginated: got %d images %v, want %v", len(got), got, all)
	}
	if n := e.s.Calls("us-east-1", "DescribeImages") - before; n != 3 {
		t.Fatalf("12 images in pages of 5 took %d calls, want 3", n)
	}

	// --max-items stops early and prints a resumable NextToken.
	e.cliJSON(&out, "describe-images", "--owners", "self", "--page-size", "5", "--max-items", "7")
	first := out.Images
	if len(first) != 7 || out.NextToken == "" {
		t.Fatalf("--max-items 7: %d images, NextToken %q", len(first), out.NextToken)
	}
	e.cliJSON(&out, "describe-images", "--owners", "self", "--page-size", "5", "--max-items", "7", "--starting-token", out.NextToken)
	if len(out.Images) != 5 || out.NextToken != "" {
		t.Fatalf("second page: %d images, NextToken %q", len(out.Images), out.NextToken)
	}
	if got := imageIDs(append(first, out.Images...)); strings.Join(got, ",") != strings.Join(all, ",") {
		t.Fatalf("pages overlap or miss images: %v", got)
	}

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
	if r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("create-tags: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	e.cliJSON(&out, "describe-images", "--image-ids", id)
	if got := tagMap(out.Images[0].Tags); got["Channel"] != "stable" || got["Owner"] != "team a" || got["Family"] != "app-00" {
		t.Fatalf("image tags: %v", got)
	}
	var snaps struct {
		Snapshots []struct {
			SnapshotId, State, OwnerId string
			Tags                       []cliTag
		}
	}
	e.cliJSON(&snaps, "describe-snapshots", "--snapshot-ids", snap)
	if len(snaps.Snapshots) != 1 || snaps.Snapshots[0].State != "completed" || tagMap(snaps.Snapshots[0].Tags)["Channel"] != "stable" {
		t.Fatalf("snapshot: %+v", snaps.Snapshots)
	}
	e.cliError("InvalidParameterValue", "create-tags", "--resources", id, "--tags", "Key=aws:reserved,Value=x")

	// enable-image-deprecation rounds up to the minute and returns true.
	var ret struct{ Return bool }
	e.cliJSON(&ret, "enable-image-deprecation", "--image-id", id, "--deprecate-at", "2026-03-01T10:00:30Z")
	if !ret.Return {
		t.Fatal("enable-image-deprecation returned false")
	}
	e.cliJSON(&out, "describe-images", "--image-ids", id)
	if got := out.Images[0].DeprecationTime; got != "2026-03-01T10:01:00.000Z" {
		t.Fatalf("DeprecationTime = %q", got)
	}
	e.cliError("InvalidParameterValue", "enable-image-deprecation", "--image-id", id, "--deprecate-at", "2040-01-01T00:00:00Z")

	// disable-image: hidden from listings unless --include-disabled; its snapshot is in use.
	ret.Return = false
	e.cliJSON(&ret, "disable-image", "--image-id", id)
	if !ret.Return {
		t.Fatal("disable-image returned false")
	}
	e.cliJSON(&out, "describe-images", "--owners", "self")
	if got := imageIDs(out.Images); len(got) != 1 || got[0] != keep {
		t.Fatalf("disabled image listed without --include-disabled: %v", got)
	}
	e.cliJSON(&out, "describe-images", "--owners", "self", "--include-disabled", "--filters", "Name=image-id,Values="+id)
	if len(out.Images) != 1 || out.Images[0].State != "disabled" || out.Images[0].Public {
		t.Fatalf("--include-disabled: %+v", out.Images)
	}
	e.cliError("InvalidSnapshot.InUse", "delete-snapshot", "--snapshot-id", snap)

	// deregistration protection blocks deregister-image.
	var prot struct{ Return string }
	e.cliJSON(&prot, "enable-image-deregistration-protection", "--image-id", id)
	if prot.Return != "enabled-without-cooldown" {
		t.Fatalf("enable-image-deregistration-protection returned %q", prot.Return)
	}
	e.cliError("OperationNotPermitted", "deregister-image", "--image-id", id, "--delete-associated-snapshots")
	e.cliJSON(&prot, "disable-image-deregistration-protection", "--image-id", id)
	if prot.Return != "disabled" {
		t.Fatalf("disable-image-deregistration-protection returned %q", prot.Return)
	}

	// deregister-image --delete-associated-snapshots reports each snapshot's fate.
	var dereg struct {
		Return                bool
		DeleteSnapshotResults []struct{ SnapshotId, ReturnCode string }
	}
	e.cliJSON(&dereg, "deregister-image", "--image-id", id, "--delete-associated-snapshots")
	if !dereg.Return || len(dereg.DeleteSnapshotResults) != 1 ||
		dereg.DeleteSnapshotResults[0].SnapshotId != snap || dereg.DeleteSnapshotResults[0].ReturnCode != "success" {
		t.Fatalf("deregister-image: %+v", dereg)
	}
	e.cliError("InvalidSnapshot.NotFound", "describe-snapshots", "--snapshot-ids", snap)
	e.clock.Advance(DefaultDeregisteredVisibility)
	e.cliJSON(&out, "describe-images", "--owners", "self", "--include-disabled")
	if got := imageIDs(out.Images); len(got) != 1 || got[0] != keep {
		t.Fatalf("after deregister: %v", got)
	}
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
	if len(got) != len(want) {
		t.Fatalf("references: got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("reference %s: got %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	// Only the latest launch template version counts with version-depth 1.
	e.cliJSON(&out, "describe-image-references", "--image-ids", older,
		"--resource-types", "ResourceType=ec2:LaunchTemplate,ResourceTypeOptions=[{OptionName=version-depth,OptionValues=[1]}]")
	if len(out.ImageReferences) != 0 {
		t.Fatalf("version-depth 1: %+v", out.ImageReferences)
	}
	e.cliJSON(&out, "describe-image-references", "--image-ids", newer, "--resource-types", "ResourceType=ec2:Instance")
	if len(out.ImageReferences) != 1 || out.ImageReferences[0].ResourceType != "ec2:Instance" {
		t.Fatalf("instances only: %+v", out.ImageReferences)
	}
	e.cliError("InvalidAMIID.Malformed", "describe-image-references", "--image-ids", "ami-xyz", "--include-all-resource-types")
}

func TestAWSCLIErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.cliError("InvalidAMIID.NotFound", "describe-images", "--image-ids", "ami-0123456789abcdef0")
	if !strings.Contains(r.stderr, "when calling the DescribeImages operation") || !strings.Contains(r.stderr, "ami-0123456789abcdef0") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("an error printed to stdout: %q", r.stdout)
	}
	e.cliError("InvalidAMIID.Malformed", "describe-images", "--image-ids", "ami-nothex")
	e.cliError("InvalidAMIID.NotFound", "disable-image", "--image-id", "ami-0123456789abcdef0")
	e.cliError("InvalidParameterCombination", "describe-images", "--image-ids", "ami-0123456789abcdef0", "--max-results", "5")
	e.cliError("DryRunOperation", "describe-images", "--dry-run")
	e.s.Deny(DefaultAccount, "DeregisterImage")
	e.cliError("UnauthorizedOperation", "deregister-image", "--image-id", "ami-0123456789abcdef0")
}
