package e2e

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
)

// The amazon tests run the real amazon plugin (v1.8.0, installed by setup) against
// the in-process EC2 emulator. The test binary runs inside the loopback-only
// namespace, so a client that ignores the endpoint fails instead of reaching AWS.

const vendorAccount = "210987654321"

// startEC2 serves a fresh emulator on 127.0.0.1.
func startEC2(t *testing.T, opts ...ec2emu.Option) (*ec2emu.Server, string) {
	t.Helper()
	s := ec2emu.New(opts...)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs.URL
}

// amazonEnv points every EC2 client of the plugin at the emulator and makes the
// plugin's waiters poll every second (the emulator answers running, stopped,
// terminated and available on the first look, so they do not wait). The plugin's
// API retries come from the templates' max_retries, not AWS_MAX_ATTEMPTS.
func amazonEnv(url string) []string {
	return []string{
		"AWS_ENDPOINT_URL_EC2=" + url,
		"AWS_POLL_DELAY_SECONDS=1",
		"AWS_MAX_ATTEMPTS=30",
		"AWS_TIMEOUT_SECONDS=60",
	}
}

// amazonTemplate copies testdata/amazon/<name> into a fresh directory.
func amazonTemplate(t *testing.T, name string) string {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "amazon", name))
	if err != nil {
		t.Fatal(err)
	}
	return template(t, name, string(body))
}

// seedImage stores an available EBS image with one root snapshot in us-east-1.
func seedImage(s *ec2emu.Server, owner, name string, created time.Time, mutate func(*ec2emu.Image)) string {
	return seedImageIn(s, "us-east-1", owner, name, created, mutate)
}

// seedImageIn stores an available EBS image with one root snapshot in region.
func seedImageIn(s *ec2emu.Server, region, owner, name string, created time.Time, mutate func(*ec2emu.Image)) string {
	var id string
	s.Update(func(st *ec2emu.State) {
		r := st.Region(region)
		snap := &ec2emu.Snapshot{ID: st.NewID("snap"), OwnerID: owner, VolumeSize: 8, State: "completed", StartTime: created}
		r.Snapshots[snap.ID] = snap
		img := &ec2emu.Image{
			ID: st.NewID("ami"), Name: name, OwnerID: owner, State: "available", CreationDate: created,
			Architecture: "x86_64", VirtualizationType: "hvm", RootDeviceName: "/dev/xvda", RootDeviceType: "ebs",
			BlockDevices: []ec2emu.BlockDevice{{DeviceName: "/dev/xvda", SnapshotID: snap.ID, VolumeSize: 8, VolumeType: "gp3", DeleteOnTermination: true}},
		}
		if mutate != nil {
			mutate(img)
		}
		r.Images[img.ID] = img
		id = img.ID
	})
	return id
}

func TestAmazonEBSBuildAgainstEmulator(t *testing.T) {
	s, url := startEC2(t)
	created := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	source := seedImage(s, ec2emu.DefaultAccount, "base-image-1", created, nil)
	deprecateAt := time.Now().UTC().Add(90 * 24 * time.Hour).Truncate(time.Hour)

	dir := amazonTemplate(t, "amazon-ebs.pkr.hcl")
	build := func(protect bool) result {
		r := packerEnv(dir, amazonEnv(url), "build", "-color=false",
			"-var", "endpoint="+url, "-var", "source_ami="+source, "-var", "ami_name=myapp-e2e-1",
			"-var", "deprecate_at="+deprecateAt.Format(time.RFC3339), "-var", "protect="+strconv.FormatBool(protect), ".")
		t.Logf("packer build took %s", r.took.Round(time.Millisecond))
		noPublicEndpoint(t, r)
		return r
	}
	r := build(true)
	mustSucceed(t, r)
	mustContain(t, r.stdout, "amazon-ebs.app: AMIs were created:", "us-east-1: ami-")

	calls := s.Snapshot()
	for region := range calls {
		if region != "us-east-1" {
			t.Errorf("calls reached region %s: %v", region, calls[region])
		}
	}
	c := calls["us-east-1"]
	t.Logf("calls: %v", c)
	for action, want := range map[string]int{
		"CreateImage": 1, "RunInstances": 1, "StopInstances": 1, "TerminateInstances": 1,
		"CreateKeyPair": 1, "DeleteKeyPair": 1, "CreateSecurityGroup": 1, "DeleteSecurityGroup": 1,
		"EnableImageDeprecation": 1,
	} {
		if c[action] != want {
			t.Errorf("%s called %d times, want %d (all: %v)", action, c[action], want, c)
		}
	}

	s.Update(func(st *ec2emu.State) {
		reg := st.Region("us-east-1")
		var built *ec2emu.Image
		for _, img := range reg.Images {
			if img.Name == "myapp-e2e-1" {
				built = img
			}
		}
		if built == nil {
			t.Fatalf("no image named myapp-e2e-1; images: %v", imageNames(reg))
		}
		mustContain(t, r.stdout, "us-east-1: "+built.ID)
		if built.State != "available" || built.OwnerID != ec2emu.DefaultAccount || built.RootDeviceType != "ebs" {
			t.Errorf("built image: %+v", built)
		}
		if built.Description != "built from "+source {
			t.Errorf("description %q", built.Description)
		}
		if built.DeprecationTime == nil || !built.DeprecationTime.Equal(deprecateAt) {
			t.Errorf("deprecation time %v, want %v", built.DeprecationTime, deprecateAt)
		}
		// tags, plus run_tags: the plugin passes them to CreateImage's TagSpecification.
		exactTags(t, "image", reg.Tags[built.ID], map[string]string{"App": "myapp", "SrcName": "base-image-1", "Run": "e2e"})
		if len(built.BlockDevices) != 1 || built.BlockDevices[0].SnapshotID == "" {
			t.Fatalf("block devices: %+v", built.BlockDevices)
		}
		snap := reg.Snapshots[built.BlockDevices[0].SnapshotID]
		if snap == nil || snap.State != "completed" {
			t.Fatalf("snapshot %s: %+v", built.BlockDevices[0].SnapshotID, snap)
		}
		// The plugin tags snapshots with tags and snapshot_tags (and run_tags at creation).
		exactTags(t, "snapshot", reg.Tags[snap.ID], map[string]string{"Snap": "s1", "App": "myapp", "SrcName": "base-image-1", "Run": "e2e"})

		checkCleanedUp(t, reg, 1)
		for _, inst := range reg.Instances {
			if inst.ImageID != source || inst.InstanceType != "t3.micro" {
				t.Errorf("instance: %+v", inst)
			}
			wantTags(t, "instance", reg.Tags[inst.ID], map[string]string{"Run": "e2e"})
		}
	})
	var first ec2emu.Image
	s.Update(func(st *ec2emu.State) {
		for _, img := range st.Region("us-east-1").Images {
			if img.Name == "myapp-e2e-1" {
				first = *img
			}
		}
	})
	if !first.Protected {
		t.Errorf("deregistration_protection did not protect the image: %+v", first)
	}

	// Rebuilding under the same name with force_deregister: the plugin deregisters
	// the old image only after the instance stopped, without lifting its protection,
	// so EC2 refuses; the failed build must still clean up through the emulator.
	s.ResetCounters()
	r = build(false)
	if r.code == 0 {
		t.Fatalf("force_deregister of a protected image succeeded: %s", r)
	}
	mustContain(t, r.stdout, "Error deregistering existing AMI", "OperationNotPermitted")
	c = s.Snapshot()["us-east-1"]
	if c["CreateImage"] != 0 || c["DeregisterImage"] != 1 || c["TerminateInstances"] != 1 || c["DeleteKeyPair"] != 1 || c["DeleteSecurityGroup"] != 1 {
		t.Errorf("failed build calls: %v", c)
	}
	s.Update(func(st *ec2emu.State) {
		reg := st.Region("us-east-1")
		if img := reg.Images[first.ID]; img == nil || img.State != "available" {
			t.Errorf("the protected image did not survive: %+v", img)
		}
		checkCleanedUp(t, reg, 2)
		reg.Images[first.ID].Protected = false
	})

	// Unprotected, force_deregister replaces it and force_delete_snapshot deletes its snapshot.
	s.ResetCounters()
	r = build(false)
	mustSucceed(t, r)
	c = s.Snapshot()["us-east-1"]
	if c["CreateImage"] != 1 || c["DeregisterImage"] != 1 {
		t.Errorf("rebuild calls: %v", c)
	}
	s.Update(func(st *ec2emu.State) {
		reg := st.Region("us-east-1")
		if img := reg.Images[first.ID]; img != nil {
			t.Errorf("old image still registered: %+v", img)
		}
		if snap := reg.Snapshots[first.BlockDevices[0].SnapshotID]; snap != nil {
			t.Errorf("old snapshot not deleted: %+v", snap)
		}
		if names := imageNames(reg); strings.Join(names, ",") != "base-image-1,myapp-e2e-1" {
			t.Errorf("images after rebuild: %v", names)
		}
		checkCleanedUp(t, reg, 3)
	})
	t.Logf("rebuild calls: %v", c)
}

// noPublicEndpoint fails when a client of the plugin tried a real AWS host (inside
// the namespace that fails, but the plugin may log and carry on).
func noPublicEndpoint(t *testing.T, r result) {
	t.Helper()
	if strings.Contains(r.stdout+r.stderr, "amazonaws.com") {
		t.Errorf("the plugin tried a public AWS endpoint: %s", r)
	}
}

// checkCleanedUp requires that the temporary key pairs and security groups are
// gone and that all n instances are terminated, their volumes deleted with them.
func checkCleanedUp(t *testing.T, reg *ec2emu.Region, n int) {
	t.Helper()
	if len(reg.KeyPairs) != 0 {
		t.Errorf("key pairs left: %+v", reg.KeyPairs)
	}
	if len(reg.SecurityGroups) != 0 {
		t.Errorf("security groups left: %+v", reg.SecurityGroups)
	}
	if len(reg.Instances) != n {
		t.Errorf("%d instances, want %d", len(reg.Instances), n)
	}
	for _, inst := range reg.Instances {
		if inst.State != "terminated" {
			t.Errorf("instance %s is %s", inst.ID, inst.State)
		}
	}
	if len(reg.Volumes) != 0 {
		t.Errorf("volumes left: %+v", reg.Volumes)
	}
}

func imageNames(reg *ec2emu.Region) []string {
	var out []string
	for _, img := range reg.Images {
		out = append(out, img.Name)
	}
	sort.Strings(out)
	return out
}

// wantTags requires got to include every tag of want.
func wantTags(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s tag %s = %q, want %q (all: %v)", what, k, got[k], v, got)
		}
	}
}

// exactTags requires got to be exactly want.
func exactTags(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	wantTags(t, what, got, want)
	if len(got) != len(want) {
		t.Errorf("%s tags %v, want exactly %v", what, got, want)
	}
}

func TestAmazonAMIDatasourceAgainstEmulator(t *testing.T) {
	s, url := startEC2(t)
	now := time.Now().UTC().Truncate(time.Second)
	day := func(n int) time.Time { return now.Add(time.Duration(n-30) * 24 * time.Hour) }
	hourAgo := now.Add(-time.Hour).Truncate(time.Minute)
	deprecated := func(img *ec2emu.Image) { img.DeprecationTime = &hourAgo }
	public := func(img *ec2emu.Image) { img.Public = true }

	seedImage(s, ec2emu.DefaultAccount, "myapp-1", day(1), nil)
	seedImage(s, ec2emu.DefaultAccount, "myapp-2", day(3), nil)
	want := seedImage(s, ec2emu.DefaultAccount, "myapp-3", day(5), deprecated)
	seedImage(s, ec2emu.DefaultAccount, "myapp-4", day(7), func(img *ec2emu.Image) { img.State = "disabled" })
	// Newer than myapp-3 but paravirtual: only "self" filters on virtualization-type.
	paravirtual := seedImage(s, ec2emu.DefaultAccount, "myapp-5", day(6), func(img *ec2emu.Image) { img.VirtualizationType = "paravirtual" })
	seedImage(s, ec2emu.DefaultAccount, "other-9", day(9), nil)
	seedImage(s, vendorAccount, "myapp-vendor", day(8), public)
	vendorOld := seedImage(s, vendorAccount, "vendor-1", day(2), public)
	vendorNew := seedImage(s, vendorAccount, "vendor-2", day(4), func(img *ec2emu.Image) { public(img); deprecated(img) })
	seedImage(s, vendorAccount, "vendor-3", day(6), nil) // private to the vendor
	s.Update(func(st *ec2emu.State) {
		st.Region("us-east-1").Tags[want] = map[string]string{"Version": "3"}
	})

	dir := amazonTemplate(t, "amazon-ami.pkr.hcl")
	r := packerEnv(dir, amazonEnv(url), "build", "-color=false", "-var", "endpoint="+url, ".")
	t.Logf("packer build took %s", r.took.Round(time.Millisecond))
	noPublicEndpoint(t, r)
	mustSucceed(t, r)
	out := r.stdout
	line := func(prefix string) string {
		m := regexp.MustCompile(`(?m)\(shell-local\): ` + prefix + ` (id=.*)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s line in output:\n%s", prefix, out)
		}
		return strings.TrimSpace(m[1])
	}
	wantCreated := day(5).Format("2006-01-02T15:04:05.000Z")
	if got, w := line("SELF"), "id="+want+" name=myapp-3 created="+wantCreated+" owner="+ec2emu.DefaultAccount+" tag=3"; got != w {
		t.Errorf("self:\n got %s\nwant %s", got, w)
	}
	if got, w := line("ACCT"), "id="+paravirtual+" name=myapp-5"; got != w {
		t.Errorf("acct:\n got %s\nwant %s", got, w)
	}
	if got, w := line("VENDOR"), "id="+vendorOld+" name=vendor-1"; got != w {
		t.Errorf("vendor (deprecated hidden):\n got %s\nwant %s", got, w)
	}
	if got, w := line("VENDOR_DEPRECATED"), "id="+vendorNew+" name=vendor-2"; got != w {
		t.Errorf("vendor with include_deprecated:\n got %s\nwant %s", got, w)
	}
	// One DescribeImages per datasource, no MaxResults; the SDK may retry one whose
	// response (> 4 KiB) hit its request-body race, hence the slack.
	if n := s.Calls("us-east-1", "DescribeImages"); n < 4 || n > 8 {
		t.Errorf("DescribeImages called %d times, want one per datasource (4)", n)
	}
}
