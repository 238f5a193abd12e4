package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// awsRun is one family's life on the emulator: the real Packer and amazon
// plugin build, our post-processor records and retires, over simulated
// weeks (PACKER_LIFECYCLE_NOW and the emulator's clock move together).
type awsRun struct {
	t     *testing.T
	s     *ec2emu.Server
	url   string
	dir   string
	clock *ec2emu.FakeClock
}

// Image usage reports are finished as soon as they are asked for, unless
// opts say otherwise: the run's clock stands still while Packer runs.
func newAWSRun(t *testing.T, start time.Time, opts ...ec2emu.Option) *awsRun {
	s, url := startEC2(t, append([]ec2emu.Option{ec2emu.WithUsageReportDelay(0)}, opts...)...)
	clock := ec2emu.NewFakeClock(start)
	s.SetClock(clock)
	dir := t.TempDir()
	for _, name := range []string{"build.pkr.hcl", "sweep.pkr.hcl", "child.pkr.hcl", "consumer.pkr.hcl"} {
		body, err := os.ReadFile(filepath.Join("testdata", "aws", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name[:strings.Index(name, ".")]+".pkr.hcl"), body, 0o644))
	}
	return &awsRun{t: t, s: s, url: url, dir: dir, clock: clock}
}

func (a *awsRun) env() []string {
	// Our Auto Scaling client reads its own endpoint variable: without it
	// the lookup fails in the namespace and, failing closed, keeps all.
	return append(amazonEnv(a.url), "AWS_ENDPOINT_URL_AUTO_SCALING="+a.url, "AWS_ENDPOINT_URL_SSM="+a.url,
		"PACKER_LIFECYCLE_NOW="+a.clock.Now().Format(time.RFC3339))
}

// packer runs one template of the run's directory.
func (a *awsRun) packer(template string, vars ...string) result {
	r := buildTemplate(a.t, a.dir, template, a.env(), a.clock.Now(), vars)
	noPublicEndpoint(a.t, r)
	return r
}

// buildTemplate runs packer build on one template of dir, copied into a
// directory of its own (its report and state stay apart from the other
// templates'), with -var for each of vars, at the simulated time now.
func buildTemplate(t *testing.T, dir, template string, env []string, now time.Time, vars []string) result {
	args := []string{"build", "-color=false"}
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	sub := filepath.Join(dir, strings.TrimSuffix(template, ".pkr.hcl"))
	require.NoError(t, os.MkdirAll(sub, 0o755))
	body, err := os.ReadFile(filepath.Join(dir, template))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(sub, template), body, 0o644))
	r := packerEnv(sub, env, append(args, ".")...)
	t.Logf("packer %s %v at %s took %s", template, vars, now.Format(time.DateOnly), r.took.Round(time.Millisecond))
	return r
}

// consume reads the family as account consumer, which the producer's
// releases are shared with, through the data source.
func (a *awsRun) consume(consumer string) result {
	a.t.Helper()
	sub := filepath.Join(a.dir, "consumer")
	require.NoError(a.t, os.MkdirAll(sub, 0o755))
	body, err := os.ReadFile(filepath.Join(a.dir, "consumer.pkr.hcl"))
	require.NoError(a.t, err)
	require.NoError(a.t, os.WriteFile(filepath.Join(sub, "consumer.pkr.hcl"), body, 0o644))
	r := packerEnv(sub, append(a.env(), "AWS_ACCESS_KEY_ID=AKIDCONSUMER"), "build", "-color=false", "-var", "producer="+ec2emu.DefaultAccount, ".")
	noPublicEndpoint(a.t, r)
	mustSucceed(a.t, r)
	return r
}

func (a *awsRun) build(source, release string, vars ...string) {
	r := a.packer("build.pkr.hcl", append([]string{"endpoint=" + a.url, "source_ami=" + source, "release=" + release}, vars...)...)
	mustSucceed(a.t, r)
}

func (a *awsRun) report(name string) report.Report {
	var rep report.Report
	body, err := os.ReadFile(filepath.Join(a.dir, name))
	require.NoError(a.t, err)
	require.NoError(a.t, json.Unmarshal(body, &rep))
	return rep
}

// images are the emulator's AMIs named web-* per region: name -> image
// (deregistered ones included, with state deregistered), with tags.
func (a *awsRun) images(region string) map[string]ec2emu.Image {
	out := map[string]ec2emu.Image{}
	a.s.Update(func(st *ec2emu.State) {
		r := st.Region(region)
		for _, img := range r.Deregistered {
			out[img.Name] = *img
		}
		for _, img := range r.Images {
			out[img.Name] = *img
		}
	})
	return out
}

// cliStages lists the family through `aws ec2 describe-images` in each
// region (in parallel: each call costs seconds): name -> state/stage, with
// "+deprecation-time" when EC2 shows one on an available image.
func (a *awsRun) cliStages(regions []string) map[string]map[string]string {
	type image struct {
		Name, State, DeprecationTime string
		Tags                         []struct{ Key, Value string }
	}
	out := map[string]map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, region := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "aws", "ec2", "describe-images", "--owners", "self", "--include-deprecated", "--include-disabled",
				"--filters", "Name=tag:lifecycle:family,Values=web", "--endpoint-url", a.url, "--region", region, "--output", "json")
			cmd.Env = append(os.Environ(), "AWS_PAGER=")
			body, err := cmd.Output()
			require.NoError(a.t, err, "aws ec2 describe-images in %s", region)
			require.NotContains(a.t, string(body), "amazonaws.com")
			var res struct{ Images []image }
			require.NoError(a.t, json.Unmarshal(body, &res))
			got := map[string]string{}
			for _, img := range res.Images {
				stage := ""
				for _, t := range img.Tags {
					if t.Key == lifecycle.TagStage {
						stage = t.Value
					}
				}
				v := img.State + "/" + stage
				if img.DeprecationTime != "" && img.State == "available" {
					v += "+deprecation-time"
				}
				got[img.Name] = v
			}
			mu.Lock()
			out[region] = got
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (a *awsRun) tags(region, id string) map[string]string {
	out := map[string]string{}
	a.s.Update(func(st *ec2emu.State) {
		for k, v := range st.Region(region).Tags[id] {
			out[k] = v
		}
	})
	return out
}

func (a *awsRun) snapshotExists(region, id string) bool {
	var ok bool
	a.s.Update(func(st *ec2emu.State) { ok = st.Region(region).Snapshots[id] != nil })
	return ok
}

// TestAWSFamilyRetiresOverWeeks: three amazon-ebs builds of a family with
// an ami_regions copy, a week apart, each followed by lifecycle; then a
// dry-run sweep and a sweep with the null builder. The release an
// instance uses stays deprecated in its region and is never disabled.
func TestAWSFamilyRetiresOverWeeks(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a := newAWSRun(t, start)
	source := seedImage(a.s, ec2emu.DefaultAccount, "base-1", start.Add(-time.Hour), nil)
	regions := []string{"us-east-1", "eu-west-1"}

	a.build(source, "1.0.0")
	for _, region := range regions {
		img := a.images(region)["web-1.0.0"]
		require.Equal(t, "available", img.State, region)
		tags := a.tags(region, img.ID)
		require.Equal(t, "active", tags[lifecycle.TagStage], "%s: released once the run succeeded", region)
		require.Equal(t, source, tags[lifecycle.TagParent], "%s: the parent is the build's source AMI", region)
		require.Equal(t, "web", a.tags(region, img.BlockDevices[0].SnapshotID)[lifecycle.TagFamily], "%s: its snapshot is tagged too", region)
	}

	a.clock.Advance(8 * 24 * time.Hour)
	a.build(source, "1.1.0")
	for _, region := range regions {
		require.Equal(t, "deprecated", a.tags(region, a.images(region)["web-1.0.0"].ID)[lifecycle.TagStage], region)
		require.NotNil(t, a.images(region)["web-1.0.0"].DeprecationTime, "%s: native EC2 deprecation", region)
	}
	// Someone launches 1.1.0 in us-east-1 and keeps it (stopped counts).
	used := a.images("us-east-1")["web-1.1.0"].ID
	a.s.Update(func(st *ec2emu.State) {
		st.Region("us-east-1").Instances["i-0000000000000e2e1"] = &ec2emu.Instance{ID: "i-0000000000000e2e1", ReservationID: "r-0000000000000e2e1",
			OwnerID: ec2emu.DefaultAccount, ImageID: used, InstanceType: "t3.micro", State: "stopped", LaunchTime: a.clock.Now()}
	})

	a.clock.Advance(8 * 24 * time.Hour)
	a.build(source, "1.2.0")
	for _, region := range regions {
		imgs := a.images(region)
		require.Equal(t, "disabled", imgs["web-1.0.0"].State, region)
		require.Equal(t, "deprecated", a.tags(region, imgs["web-1.1.0"].ID)[lifecycle.TagStage], region)
		require.Equal(t, "active", a.tags(region, imgs["web-1.2.0"].ID)[lifecycle.TagStage], region)
	}

	// A dry run a week later plans everything and changes nothing.
	a.clock.Advance(8 * 24 * time.Hour)
	a.s.ResetCounters()
	r := a.packer("sweep.pkr.hcl", "dry_run=true")
	mustSucceed(t, r)
	for region, calls := range a.s.Snapshot() {
		for action := range calls {
			require.True(t, strings.HasPrefix(action, "Describe"), "%s: the dry run called %s (all: %v)", region, action, calls)
		}
	}
	dry := a.report("sweep/sweep.json")
	require.True(t, dry.DryRun)
	require.Equal(t, 2, dry.Summary.Actions[lifecycle.ActionDeregister], "1.0.0 in both regions: %+v", dry.Summary)

	a.s.ResetCounters()
	r = a.packer("sweep.pkr.hcl", "dry_run=false")
	mustSucceed(t, r)
	t.Logf("sweep calls: %v", a.s.Snapshot())
	for _, region := range regions {
		imgs := a.images(region)
		old := imgs["web-1.0.0"]
		require.Equal(t, "deregistered", old.State, region)
		require.False(t, a.snapshotExists(region, old.BlockDevices[0].SnapshotID), "%s: its snapshot went with it", region)
		require.Equal(t, "available", imgs["web-1.2.0"].State, region)
	}
	require.Equal(t, "disabled", a.images("eu-west-1")["web-1.1.0"].State, "unused in eu-west-1")
	require.Equal(t, "available", a.images("us-east-1")["web-1.1.0"].State, "an image an instance uses is never disabled")
	// The final state as a user sees it, through the aws CLI.
	for region, want := range a.cliStages(regions) {
		exp := map[string]string{"web-1.1.0": "disabled/disabled", "web-1.2.0": "available/active"}
		if region == "us-east-1" {
			exp["web-1.1.0"] = "available/deprecated+deprecation-time"
		}
		for name, got := range want {
			if name == "web-1.0.0" {
				// Still listed for a while; a deregistered AMI takes no tags.
				require.Equal(t, "deregistered/disabled", got, "%s", region)
				continue
			}
			require.Equal(t, exp[name], got, "%s %s", region, name)
		}
	}
	rep := a.report("sweep/sweep.json")
	found := false
	for _, e := range rep.Decisions {
		if e.ID == used {
			found = true
			require.Contains(t, e.Reason, "i-0000000000000e2e1", "the consumer is named: %+v", e)
		}
	}
	require.True(t, found, "the used release is in the report")
}

// TestAWSChildBuildStartsFromSupportedParent: a child amazon-ebs build whose
// source_ami comes from lifecycle-image starts from the newest supported
// base: not the newest, which EC2 deprecated at its expiry, nor a disabled
// one; the amazon-ami data source returns the deprecated one to its owner.
func TestAWSChildBuildStartsFromSupportedParent(t *testing.T) {
	start := time.Date(2026, 4, 6, 9, 0, 0, 0, time.UTC)
	a := newAWSRun(t, start)
	const consumer = "111122223333"
	a.s.AddAccount("AKIDCONSUMER", consumer)
	source := seedImage(a.s, ec2emu.DefaultAccount, "os-1", start.Add(-time.Hour), nil)
	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		a.clock.Set(start.Add(time.Duration(i) * 24 * time.Hour))
		a.build(source, v, "keep=3", `ami_users=["`+consumer+`"]`)
	}
	imgs := a.images("us-east-1")
	// The consumer account sees the producer's newest release, from the stamp.
	mustContain(t, a.consume(consumer).stdout, "CONSUMER id="+imgs["web-1.2.0"].ID+" version=1.2.0 owner="+ec2emu.DefaultAccount)
	a.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		at := a.clock.Now().Add(time.Hour).Truncate(time.Minute)
		r.Images[imgs["web-1.2.0"].ID].DeprecationTime = &at // as EC2 does at expires_at
		disabled := r.Images[imgs["web-1.1.0"].ID]           // by hand: EC2 unshares it
		disabled.State, disabled.LaunchUsers = "disabled", nil
	})
	a.clock.Advance(2 * time.Hour)
	mustContain(t, a.consume(consumer).stdout, "CONSUMER id="+imgs["web-1.0.0"].ID+" version=1.0.0 owner="+ec2emu.DefaultAccount)

	r := a.packer("child.pkr.hcl", "endpoint="+a.url)
	mustSucceed(t, r)
	child := a.images("us-east-1")["app-1"]
	require.Equal(t, imgs["web-1.0.0"].ID, child.SourceImageID, "the child starts from the newest supported base")
	tags := a.tags("us-east-1", child.ID)
	require.Equal(t, "1.0.0", tags["BaseVersion"])
	require.Equal(t, imgs["web-1.2.0"].ID, tags["AmazonAMI"], "amazon-ami hands its owner the deprecated one")
	require.Equal(t, imgs["web-1.0.0"].ID, tags[lifecycle.TagParent], "recorded as the child's parent")
}

// TestExampleAWS builds example/aws as shipped against the emulator: the
// release is recorded in both of its regions.
func TestExampleAWS(t *testing.T) {
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	a := newAWSRun(t, start)
	source := seedImage(a.s, ec2emu.DefaultAccount, "os-1", start.Add(-time.Hour), nil)
	body, err := os.ReadFile(filepath.Join(repoRoot, "example", "aws", "web.pkr.hcl"))
	require.NoError(t, err)
	dir := template(t, "web.pkr.hcl", string(body))
	// As shipped, so at the wall clock: the example does not allow a
	// simulated time (and must not: users copy it).
	env := slices.DeleteFunc(a.env(), func(v string) bool { return strings.HasPrefix(v, "PACKER_LIFECYCLE_NOW=") })
	r := packerEnv(dir, env, "build", "-color=false", "-var", "endpoint="+a.url, "-var", "source_ami="+source, "-var", "release=1.0.0", ".")
	noPublicEndpoint(t, r)
	mustSucceed(t, r)
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		img := a.images(region)["web-1.0.0"]
		require.Equal(t, "active", a.tags(region, img.ID)[lifecycle.TagStage], region)
		require.NotNil(t, img.DeprecationTime, "%s: expire_after sets EC2's deprecation", region)
	}
	rep := report.Report{}
	data, err := os.ReadFile(filepath.Join(dir, "lifecycle-report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	require.False(t, rep.SimulatedTime)
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		// EC2 rounds deprecation times to the minute.
		require.WithinDuration(t, rep.Time.Add(180*24*time.Hour), *a.images(region)["web-1.0.0"].DeprecationTime, time.Minute, region)
	}
	require.Equal(t, "recorded", rep.NewBuildStatus)
	require.Equal(t, "aws", rep.Backend)
	require.Empty(t, rep.FailedRegions, "us-west-2 is swept too")
	require.NotZero(t, a.s.Calls("us-west-2", "DescribeImages"))
}

// seedRelease stores a managed release of family web in us-east-1 at stage,
// released long before now, and returns its id.
func (a *awsRun) seedRelease(owner, version, stage string, mutate func(*ec2emu.Image)) string {
	return a.seedReleaseIn("us-east-1", owner, version, stage, mutate)
}

// seedReleaseIn is seedRelease in region.
func (a *awsRun) seedReleaseIn(region, owner, version, stage string, mutate func(*ec2emu.Image)) string {
	long := a.clock.Now().Add(-60 * 24 * time.Hour)
	released := long.Add(time.Duration(len(version)) * time.Minute)
	id := seedImageIn(a.s, region, owner, "web-"+version, released, func(img *ec2emu.Image) {
		switch stage {
		case "disabled":
			img.State = "disabled"
			fallthrough
		case "deprecated":
			at := long.Truncate(time.Minute)
			img.DeprecationTime = &at
		}
		if mutate != nil {
			mutate(img)
		}
	})
	a.s.Update(func(st *ec2emu.State) {
		st.Region(region).Tags[id] = map[string]string{
			lifecycle.TagFamily: "web", lifecycle.TagVersion: version, lifecycle.TagChannel: "stable",
			lifecycle.TagManagedBy: lifecycle.DefaultManagedBy, lifecycle.TagStage: stage,
			lifecycle.TagStageSince: long.Format(time.RFC3339), lifecycle.TagReleasedAt: released.Format(time.RFC3339),
		}
	})
	return id
}

// estate is a family where every deprecated release is due to be disabled,
// but most must not be: protected, used by a launch template version, by an
// Auto Scaling group, or not ours.
type estate struct {
	free, protected, template, group, newest, foreign, shared string
}

func seedEstate(a *awsRun) estate {
	var e estate
	e.free = a.seedRelease(ec2emu.DefaultAccount, "1.0.0", "deprecated", nil)
	e.protected = a.seedRelease(ec2emu.DefaultAccount, "1.1.0", "deprecated", func(img *ec2emu.Image) { img.Protected = true })
	e.template = a.seedRelease(ec2emu.DefaultAccount, "1.2.0", "deprecated", nil)
	e.group = a.seedRelease(ec2emu.DefaultAccount, "1.3.0", "deprecated", nil)
	e.newest = a.seedRelease(ec2emu.DefaultAccount, "1.4.0", "active", nil)
	// Another account's AMIs carrying our tags: one private, one shared with us.
	e.foreign = a.seedRelease(vendorAccount, "0.9.0", "deprecated", nil)
	e.shared = a.seedRelease(vendorAccount, "0.8.0", "deprecated", func(img *ec2emu.Image) { img.LaunchUsers = []string{ec2emu.DefaultAccount} })
	now := a.clock.Now()
	a.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		// Version 1 (neither default nor latest) uses the image: "all" counts it.
		r.LaunchTemplates["lt-0000000000000e2e1"] = &ec2emu.LaunchTemplate{ID: "lt-0000000000000e2e1", Name: "web", OwnerID: ec2emu.DefaultAccount,
			CreateTime: now, DefaultVersion: 2, LatestVersion: 2, Versions: []*ec2emu.TemplateVersion{{Number: 1, ImageID: e.template}, {Number: 2, ImageID: e.newest}}}
		r.LaunchConfigurations["web-lc"] = &ec2emu.LaunchConfiguration{Name: "web-lc", OwnerID: ec2emu.DefaultAccount, ImageID: e.group, InstanceType: "t3.micro", CreatedTime: now}
		r.AutoScalingGroups["web"] = &ec2emu.AutoScalingGroup{Name: "web", OwnerID: ec2emu.DefaultAccount, LaunchConfigurationName: "web-lc", CreatedTime: now}
	})
	return e
}

// outcome is every seeded image's state and stage tag (as its owner sees it).
func (a *awsRun) outcome(e estate) map[string]string {
	out := map[string]string{}
	a.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		for name, id := range map[string]string{"free": e.free, "protected": e.protected, "template": e.template, "group": e.group,
			"newest": e.newest, "foreign": e.foreign, "shared": e.shared} {
			img := r.Images[id]
			out[name] = img.State + "/" + r.Tags[id][lifecycle.TagStage]
		}
	})
	return out
}

// TestAWSSweepNeverTouchesWhatItMustNot: a sweep disables only the free
// release; the protected one and those a launch template version or an
// Auto Scaling group uses are kept with their reason in the report, and
// other accounts' AMIs with our tags are never listed. Under faults on every
// call (30 % RequestLimitExceeded, 5 % 500 InternalError, 5 % 503
// Unavailable; one emulator seed, five with LIFECYCLE_LONG) the same sweep
// converges to the same state, with the same non-idempotent calls, each
// made once: no image retired that should not be, none retired twice.
func TestAWSSweepNeverTouchesWhatItMustNot(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	want := map[string]string{
		"free": "disabled/disabled", "protected": "available/deprecated", "template": "available/deprecated",
		"group": "available/deprecated", "newest": "available/active",
		"foreign": "available/deprecated", "shared": "available/deprecated",
	}

	a := newAWSRun(t, start)
	e := seedEstate(a)
	mustSucceed(t, a.packer("sweep.pkr.hcl"))
	require.Equal(t, want, a.outcome(e))
	reasons := map[string]string{}
	for _, d := range a.report("sweep/sweep.json").Decisions {
		reasons[d.ID] = d.Reason
		require.NotEqual(t, e.foreign, d.ID, "another account's AMI is never listed")
		require.NotEqual(t, e.shared, d.ID, "a shared-in AMI is never listed")
	}
	require.Contains(t, reasons[e.protected], "protected")
	require.Contains(t, reasons[e.template], "lt-0000000000000e2e1")
	require.Contains(t, reasons[e.group], "web-lc")
	_, wantOthers := mutations(a.s.Journal())
	require.NotEmpty(t, wantOthers)

	seeds := []int64{1}
	if long() {
		seeds = []int64{1, 2, 3, 4, 5}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("faults-seed-%d", seed), func(t *testing.T) {
			faulty := newAWSRun(t, start, ec2emu.WithSeed(seed))
			e := seedEstate(faulty)
			injectFaults(faulty.s)
			mustSucceed(t, faulty.packer("sweep.pkr.hcl", "max_retries=12"))
			throttled, failed := total(faulty.s.ThrottleSnapshot()), total(faulty.s.FailedSnapshot())
			require.NotZero(t, throttled+failed, "faults were injected")
			t.Logf("%d calls throttled, %d failed with 500/503", throttled, failed)
			require.Equal(t, want, faulty.outcome(e))
			_, others := mutations(faulty.s.Journal())
			require.Equal(t, wantOthers, others, "the clean sweep's non-idempotent calls, each once")
		})
	}
}

// TestAWSRestoreGivesLaunchPermissionsBack: disabling drops an AMI's launch
// permissions (EC2 does); a restore run enables it and gives them back.
func TestAWSRestoreGivesLaunchPermissionsBack(t *testing.T) {
	a := newAWSRun(t, time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	old := a.seedRelease(ec2emu.DefaultAccount, "1.0.0", "deprecated", func(img *ec2emu.Image) { img.LaunchUsers = []string{"111122223333"} })
	a.seedRelease(ec2emu.DefaultAccount, "1.1.0", "active", nil)
	mustSucceed(t, a.packer("sweep.pkr.hcl"))
	require.Equal(t, "disabled", a.images("us-east-1")["web-1.0.0"].State)
	require.Empty(t, a.images("us-east-1")["web-1.0.0"].LaunchUsers)

	a.clock.Advance(time.Hour)
	mustSucceed(t, a.packer("sweep.pkr.hcl", `restore=["`+old+`"]`))
	img := a.images("us-east-1")["web-1.0.0"]
	require.Equal(t, "available", img.State)
	require.Equal(t, []string{"111122223333"}, img.LaunchUsers)
	require.Nil(t, img.DeprecationTime)
	require.Equal(t, "active", a.tags("us-east-1", old)[lifecycle.TagStage])

	// Pinned, the restored release stays active however superseded; unpinned,
	// the rules apply to it again.
	a.clock.Advance(time.Hour)
	mustSucceed(t, a.packer("sweep.pkr.hcl", `pin=["us-east-1:`+old+`"]`))
	require.Equal(t, "true", a.tags("us-east-1", old)[lifecycle.TagPin])
	a.clock.Advance(30 * 24 * time.Hour)
	mustSucceed(t, a.packer("sweep.pkr.hcl"))
	require.Equal(t, "active", a.tags("us-east-1", old)[lifecycle.TagStage], "a pinned release is kept forever")
	require.Nil(t, a.images("us-east-1")["web-1.0.0"].DeprecationTime)
	mustSucceed(t, a.packer("sweep.pkr.hcl", `unpin=["`+old+`"]`))
	require.Equal(t, "", a.tags("us-east-1", old)[lifecycle.TagPin])
	require.Equal(t, "deprecated", a.tags("us-east-1", old)[lifecycle.TagStage])
}

// TestAWSLaunchTemplateVersionsChoices: which deprecated releases a sweep
// may disable, per launch_template_versions, when a template's version 1,
// 2 (default) and 3 (latest) use three of them and an Auto Scaling group
// launches $Latest.
func TestAWSLaunchTemplateVersionsChoices(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	for choice, disabled := range map[string][]string{
		"all":                {"1.3.0"},
		"default_and_latest": {"1.0.0", "1.3.0"},
		"default":            {"1.0.0", "1.3.0"}, // 1.2.0: the group launches $Latest
		"asg_used":           {"1.0.0", "1.1.0", "1.3.0"},
	} {
		t.Run(choice, func(t *testing.T) {
			a := newAWSRun(t, start)
			ids := map[string]string{}
			for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
				ids[v] = a.seedRelease(ec2emu.DefaultAccount, v, "deprecated", nil)
			}
			a.seedRelease(ec2emu.DefaultAccount, "1.4.0", "active", nil)
			a.s.Update(func(st *ec2emu.State) {
				r := st.Region("us-east-1")
				r.LaunchTemplates["lt-0000000000000e2e2"] = &ec2emu.LaunchTemplate{ID: "lt-0000000000000e2e2", Name: "web", OwnerID: ec2emu.DefaultAccount,
					CreateTime: start, DefaultVersion: 2, LatestVersion: 3, Versions: []*ec2emu.TemplateVersion{
						{Number: 1, ImageID: ids["1.0.0"]}, {Number: 2, ImageID: ids["1.1.0"]}, {Number: 3, ImageID: ids["1.2.0"]}}}
				r.AutoScalingGroups["web"] = &ec2emu.AutoScalingGroup{Name: "web", OwnerID: ec2emu.DefaultAccount, CreatedTime: start,
					LaunchTemplate: &ec2emu.TemplateRef{ID: "lt-0000000000000e2e2", Version: "$Latest"}}
			})
			mustSucceed(t, a.packer("sweep.pkr.hcl", "lt_versions="+choice))
			var got []string
			for v, id := range ids {
				if a.tags("us-east-1", id)[lifecycle.TagStage] == "disabled" {
					got = append(got, v)
				}
			}
			require.ElementsMatch(t, disabled, got)
		})
	}
}

// TestAWSSweepForgetsWhatAKilledPackerLeft: a release still pending long
// after it was recorded was left by a packer killed mid-run. The dry run
// plans forgetting it; the sweep removes the plugin's tags (the AMI stays,
// reported for the owner to delete), and it supersedes nothing.
func TestAWSSweepForgetsWhatAKilledPackerLeft(t *testing.T) {
	a := newAWSRun(t, time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	kept := a.seedRelease(ec2emu.DefaultAccount, "1.0.0", "active", nil)
	left := a.seedRelease(ec2emu.DefaultAccount, "1.1.0", "pending", nil)
	before := a.tags("us-east-1", left)
	find := func() (report.Entry, bool) {
		for _, d := range a.report("sweep/sweep.json").Decisions {
			if d.ID == left {
				return d, true
			}
		}
		return report.Entry{}, false
	}
	forgetEntry := func() report.Entry {
		e, ok := find()
		require.True(t, ok, "a decision for %s", left)
		return e
	}
	mustSucceed(t, a.packer("sweep.pkr.hcl", "dry_run=true"))
	require.Equal(t, before, a.tags("us-east-1", left), "a dry run changes nothing")
	e := forgetEntry()
	require.Equal(t, lifecycle.ActionForget, e.Action, e.Reason)
	require.Equal(t, report.StatusPlanned, e.Status)

	r := a.packer("sweep.pkr.hcl")
	mustSucceed(t, r)
	e = forgetEntry()
	require.Equal(t, report.StatusDone, e.Status)
	mustContain(t, r.stdout, left, "forget: pending for 60d")
	for k := range a.tags("us-east-1", left) {
		require.False(t, strings.HasPrefix(k, lifecycle.TagPrefix), "tag %s left on the forgotten AMI", k)
	}
	require.Equal(t, "available", a.images("us-east-1")["web-1.1.0"].State, "the AMI itself is untouched")
	require.Equal(t, "active", a.tags("us-east-1", kept)[lifecycle.TagStage], "a forgotten release supersedes nothing")

	mustSucceed(t, a.packer("sweep.pkr.hcl"))
	_, listed := find()
	require.False(t, listed, "no longer of the family: not listed again")
}

// TestAWSSweepReportsOrphanedSnapshots: a release deregistered with
// delete_snapshots = false leaves its snapshot, tagged as the family's:
// the sweep reports it as orphaned (and deletes nothing), and leaves out
// snapshots an image still refers to, another family's and untagged ones.
func TestAWSSweepReportsOrphanedSnapshots(t *testing.T) {
	a := newAWSRun(t, time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	old := a.seedRelease(ec2emu.DefaultAccount, "1.0.0", "disabled", nil)
	cur := a.seedRelease(ec2emu.DefaultAccount, "1.1.0", "active", nil)
	snapOf := func(id string) string {
		return a.images("us-east-1")[map[string]string{old: "web-1.0.0", cur: "web-1.1.0"}[id]].BlockDevices[0].SnapshotID
	}
	oldSnap, curSnap := snapOf(old), snapOf(cur)
	a.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		for snap, fam := range map[string]string{oldSnap: "web", curSnap: "web"} {
			r.Tags[snap] = map[string]string{lifecycle.TagFamily: fam, lifecycle.TagManagedBy: lifecycle.DefaultManagedBy, lifecycle.TagVersion: map[string]string{oldSnap: "1.0.0", curSnap: "1.1.0"}[snap]}
		}
		for id, tags := range map[string]map[string]string{
			"snap-0000000000000a001": {lifecycle.TagFamily: "api", lifecycle.TagManagedBy: lifecycle.DefaultManagedBy}, // another family
			"snap-0000000000000a002": {},                                                                               // untagged
			"snap-0000000000000a003": {lifecycle.TagFamily: "web", lifecycle.TagManagedBy: "someone-else"},             // another team
		} {
			r.Snapshots[id] = &ec2emu.Snapshot{ID: id, OwnerID: ec2emu.DefaultAccount, VolumeSize: 8, State: "completed", StartTime: a.clock.Now()}
			r.Tags[id] = tags
		}
	})
	mustSucceed(t, a.packer("sweep.pkr.hcl", "delete_snapshots=false"))
	require.Equal(t, "deregistered", a.images("us-east-1")["web-1.0.0"].State)
	require.True(t, a.snapshotExists("us-east-1", oldSnap), "delete_snapshots = false keeps it")
	rep := a.report("sweep/sweep.json")
	require.Equal(t, []report.Orphan{{Region: "us-east-1", ID: oldSnap, Version: "1.0.0", Bytes: 8 << 30}}, rep.OrphanedSnapshots)
	require.Empty(t, rep.OrphansUnknown)
	require.True(t, a.snapshotExists("us-east-1", oldSnap), "reported, not deleted")
}

// TestAWSSweepKeepsWhatOtherAccountsUse: a deprecated release shared with
// another account is disabled only once an image usage report younger
// than a day says that account runs nothing from it. The first sweep asks
// for the reports and, not waiting (usage_report_wait = 0s), keeps both
// shared releases; the next reads them: the unused one is disabled, the
// one the other account runs an instance of is kept, the account named.
// Once that instance is gone and the report is old, a sweep asks again
// and the one after disables it. A dry run asks for nothing.
func TestAWSSweepKeepsWhatOtherAccountsUse(t *testing.T) {
	const other = "111122223333"
	a := newAWSRun(t, time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC), ec2emu.WithUsageReportDelay(2*time.Hour))
	shared := func(img *ec2emu.Image) { img.LaunchUsers = []string{other} }
	used := a.seedRelease(ec2emu.DefaultAccount, "1.0.0", "deprecated", shared)
	unused := a.seedRelease(ec2emu.DefaultAccount, "1.1.0", "deprecated", shared)
	a.seedRelease(ec2emu.DefaultAccount, "1.2.0", "active", nil)
	a.s.Update(func(st *ec2emu.State) {
		st.Region("us-east-1").Instances["i-0000000000000d001"] = &ec2emu.Instance{ID: "i-0000000000000d001", OwnerID: other,
			ImageID: used, InstanceType: "t3.micro", State: "running", LaunchTime: a.clock.Now(), AZ: "us-east-1a"}
	})
	state := func() map[string]string {
		return map[string]string{"used": a.images("us-east-1")["web-1.0.0"].State, "unused": a.images("us-east-1")["web-1.1.0"].State}
	}
	reason := func(id string) string {
		for _, d := range a.report("sweep/sweep.json").Decisions {
			if d.ID == id {
				return d.Reason
			}
		}
		t.Fatalf("no decision on %s", id)
		return ""
	}
	sweep := func(vars ...string) result {
		r := a.packer("sweep.pkr.hcl", append([]string{"usage_report_wait=0s"}, vars...)...)
		mustSucceed(t, r)
		return r
	}

	r := sweep("dry_run=true")
	require.Zero(t, a.s.Calls("us-east-1", "CreateImageUsageReport"), "a dry run asks for no report")
	mustContain(t, r.stdout, "usage unknown (other accounts: no usage report under 1d old (a run asks))")

	r = sweep()
	mustContain(t, r.stdout, "Checking other accounts' use of shared images",
		"asked EC2 for usage reports (other accounts' instances and launch templates) of 2 shared AMIs")
	require.Equal(t, map[string]string{"used": "available", "unused": "available"}, state(), "reports not finished: both kept")
	require.Regexp(t, `other accounts: usage report amiur-\w+ unfinished`, reason(unused))

	a.clock.Advance(3 * time.Hour)
	r = sweep()
	require.NotContains(t, r.stdout, "asked EC2 for usage reports", "the reports of 3 h ago serve")
	require.Equal(t, map[string]string{"used": "available", "unused": "disabled"}, state())
	require.Regexp(t, `1 instance per usage report amiur-\w+ \(account `+other+`\)`, reason(used))

	a.s.Update(func(st *ec2emu.State) { st.Region("us-east-1").Instances["i-0000000000000d001"].State = "terminated" })
	a.clock.Advance(24 * time.Hour)
	sweep()
	require.Equal(t, "available", state()["used"], "the report is a day old: asked again, not finished")
	a.clock.Advance(3 * time.Hour)
	sweep()
	require.Equal(t, "disabled", state()["used"])
	// Two at first, one a day later: only what is due is asked about (1.1.0,
	// disabled, will be before it is deregistered: it was shared).
	require.Equal(t, 3, a.s.Calls("us-east-1", "CreateImageUsageReport"))
}

// TestAWSAllowedImagesGuardRefusesWhatIsLongDeprecated: a sweep writes the
// family's Allowed AMIs criteria (allowed_images_path); the account the
// releases are shared with applies them with the aws CLI as the docs say,
// and from then on cannot launch the release deprecated 60 days ago (kept
// because the producer still runs it), while the one deprecated by this
// sweep and the newest launch as before.
func TestAWSAllowedImagesGuardRefusesWhatIsLongDeprecated(t *testing.T) {
	const consumer, consumerKey = "111122223333", "AKIDCONSUMER"
	a := newAWSRun(t, time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	a.s.AddAccount(consumerKey, consumer)
	shared := func(img *ec2emu.Image) { img.LaunchUsers = []string{consumer} }
	old := a.seedRelease(ec2emu.DefaultAccount, "1.0.0", "deprecated", shared)
	prev := a.seedRelease(ec2emu.DefaultAccount, "1.1.0", "active", shared)
	cur := a.seedRelease(ec2emu.DefaultAccount, "1.2.0", "active", shared)
	a.s.Update(func(st *ec2emu.State) {
		st.Region("us-east-1").Instances["i-0000000000000e001"] = &ec2emu.Instance{ID: "i-0000000000000e001", OwnerID: ec2emu.DefaultAccount,
			ImageID: old, InstanceType: "t3.micro", State: "running", LaunchTime: a.clock.Now(), AZ: "us-east-1a"}
	})
	r := a.packer("sweep.pkr.hcl", "allowed_images_path=criteria.json")
	mustSucceed(t, r)
	mustContain(t, r.stdout, "Allowed AMIs criteria for the accounts the family is shared with: criteria.json (accounts "+ec2emu.DefaultAccount+", 7 days after deprecation)")
	require.Equal(t, "deprecated", a.tags("us-east-1", prev)[lifecycle.TagStage])
	require.Equal(t, "deprecated", a.tags("us-east-1", old)[lifecycle.TagStage], "in use: kept deprecated")
	criteria := filepath.Join(a.dir, "sweep", "criteria.json")
	body, err := os.ReadFile(criteria)
	require.NoError(t, err)
	require.JSONEq(t, `[{"ImageProviders":["`+ec2emu.DefaultAccount+`"],"DeprecationTimeCondition":{"MaximumDaysSinceDeprecated":7}}]`, string(body))

	cli := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "aws", append([]string{"ec2"}, append(args, "--endpoint-url", a.url, "--region", "us-east-1", "--output", "json")...)...)
		cmd.Env = append(os.Environ(), "AWS_PAGER=", "AWS_ACCESS_KEY_ID="+consumerKey, "AWS_SECRET_ACCESS_KEY=consumer-secret")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	launch := func(id string) (string, error) {
		return cli("run-instances", "--image-id", id, "--instance-type", "t3.micro", "--count", "1")
	}
	_, err = launch(old)
	require.NoError(t, err, "before the guard, the consumer launches anything shared with it")
	out, err := cli("replace-image-criteria-in-allowed-images-settings", "--image-criteria", "file://"+criteria)
	require.NoError(t, err, out)
	out, err = cli("enable-allowed-images-settings", "--allowed-images-settings-state", "enabled")
	require.NoError(t, err, out)

	out, err = launch(old)
	require.Error(t, err)
	require.Contains(t, out, "Not authorized for images: ["+old+"]")
	for _, id := range []string{prev, cur} {
		out, err := launch(id)
		require.NoError(t, err, "%s: %s", id, out)
	}
}

// TestAWSSweepDeletesOrphanedSnapshots: with delete_orphaned_snapshots a
// sweep deletes the family's orphaned snapshots (a dry run first says it
// would), except the one whose AMI a Recycle Bin retention rule keeps in
// the bin, restorable; once the bin lets it go, the next sweep deletes
// that one too.
func TestAWSSweepDeletesOrphanedSnapshots(t *testing.T) {
	a := newAWSRun(t, time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	a.s.Update(func(st *ec2emu.State) {
		st.Region("us-east-1").RetentionRules["rule-web"] = &ec2emu.RetentionRule{ID: "rule-web", OwnerID: ec2emu.DefaultAccount,
			ResourceType: "EC2_IMAGE", RetainDays: 14, ResourceTags: []ec2emu.RuleTag{{Key: lifecycle.TagFamily, Value: "web"}}}
	})
	stamp := func(version string) func(*ec2emu.Image) {
		return func(img *ec2emu.Image) {
			s, ok := lifecycle.Stamp(lifecycle.Image{ID: img.ID, Family: "web", Version: version, Channel: "stable", ReleasedAt: img.CreationDate}, lifecycle.DefaultManagedBy)
			require.True(t, ok)
			img.Description = lifecycle.StampedDescription("web "+version, s)
		}
	}
	old := a.seedRelease(ec2emu.DefaultAccount, "1.0.0", "disabled", stamp("1.0.0"))
	a.seedRelease(ec2emu.DefaultAccount, "1.1.0", "active", stamp("1.1.0"))
	oldSnap := a.images("us-east-1")["web-1.0.0"].BlockDevices[0].SnapshotID
	const lost = "snap-0000000000000f090" // 0.9.0's, its AMI long gone
	a.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		r.Tags[oldSnap] = map[string]string{lifecycle.TagFamily: "web", lifecycle.TagManagedBy: lifecycle.DefaultManagedBy, lifecycle.TagVersion: "1.0.0"}
		r.Snapshots[lost] = &ec2emu.Snapshot{ID: lost, OwnerID: ec2emu.DefaultAccount, VolumeSize: 8, State: "completed", StartTime: a.clock.Now()}
		r.Tags[lost] = map[string]string{lifecycle.TagFamily: "web", lifecycle.TagManagedBy: lifecycle.DefaultManagedBy, lifecycle.TagVersion: "0.9.0"}
	})
	mustSucceed(t, a.packer("sweep.pkr.hcl", "delete_snapshots=false"))
	require.Equal(t, "deregistered", a.images("us-east-1")["web-1.0.0"].State, "into the Recycle Bin, its snapshot kept")
	fates := func() map[string]string {
		out := map[string]string{}
		for _, o := range a.report("sweep/sweep.json").OrphanedSnapshots {
			out[o.ID] = o.Status + " " + o.Note
		}
		return out
	}

	a.clock.Advance(time.Hour)
	mustSucceed(t, a.packer("sweep.pkr.hcl", "delete_orphaned_snapshots=true", "dry_run=true"))
	require.Equal(t, map[string]string{lost: "planned ",
		oldSnap: "kept kept: its release's AMI " + old + " is in the Recycle Bin and may be restored"}, fates())
	require.True(t, a.snapshotExists("us-east-1", lost), "a dry run deletes nothing")

	r := a.packer("sweep.pkr.hcl", "delete_orphaned_snapshots=true")
	mustSucceed(t, r)
	mustContain(t, r.stdout, "Deleting 2 orphaned snapshot(s) of family web, 16 GiB", "orphaned us-east-1:"+lost+" (release 0.9.0, 8 GiB): deleted")
	require.Equal(t, "deleted ", fates()[lost])
	require.False(t, a.snapshotExists("us-east-1", lost))
	require.True(t, a.snapshotExists("us-east-1", oldSnap))

	a.clock.Advance(15 * 24 * time.Hour) // the bin lets 1.0.0 go
	mustSucceed(t, a.packer("sweep.pkr.hcl", "delete_orphaned_snapshots=true"))
	require.Equal(t, map[string]string{oldSnap: "deleted "}, fates())
	require.False(t, a.snapshotExists("us-east-1", oldSnap))
}
