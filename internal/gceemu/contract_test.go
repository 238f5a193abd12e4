package gceemu_test

// Contract tests: the emulator, driven only through the real Compute Engine client,
// behaves as Compute Engine does where the plugin depends on it.

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/compute/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/gceemu"
)

const (
	proj    = "lifecycle-test"
	other   = "lifecycle-other"
	zoneA   = "us-central1-a"
	zoneB   = "us-central1-b"
	srcDisk = "zones/us-central1-a/disks/src"
	machine = "zones/us-central1-a/machineTypes/e2-small"
)

// t0 is on a minute boundary, so quota windows start with the test.
var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	s      *gceemu.Server
	clk    *gceemu.FakeClock
	base   string
	svc    *compute.Service
	hasSrc bool
}

// newEnv serves an emulator that wants the bearer token "tok" and a client that sends it.
func newEnv(t *testing.T, opts ...gceemu.Option) *env {
	t.Helper()
	clk := gceemu.NewFakeClock(t0)
	s := gceemu.New(append([]gceemu.Option{gceemu.WithClock(clk), gceemu.WithRequireToken("tok")}, opts...)...)
	base, closeFn, err := s.Listen("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeFn() })
	e := &env{t: t, s: s, clk: clk, base: base}
	e.svc = e.client(option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok", TokenType: "Bearer"})))
	return e
}

func (e *env) client(opts ...option.ClientOption) *compute.Service {
	svc, err := compute.NewService(context.Background(), append([]option.ClientOption{option.WithEndpoint(e.base + "compute/v1/")}, opts...)...)
	require.NoError(e.t, err)
	return svc
}

// wait waits for op with its scope's wait method; the operation's error is left to the caller.
func (e *env) wait(op *compute.Operation, err error) *compute.Operation {
	e.t.Helper()
	require.NoError(e.t, err)
	switch {
	case op.Zone != "":
		op, err = e.svc.ZoneOperations.Wait(proj, path.Base(op.Zone), op.Name).Do()
	case op.Region != "":
		op, err = e.svc.RegionOperations.Wait(proj, path.Base(op.Region), op.Name).Do()
	default:
		op, err = e.svc.GlobalOperations.Wait(proj, op.Name).Do()
	}
	require.NoError(e.t, err)
	require.Equal(e.t, "DONE", op.Status)
	return op
}

// ok waits for op and requires that it succeeded.
func (e *env) ok(op *compute.Operation, err error) *compute.Operation {
	e.t.Helper()
	op = e.wait(op, err)
	require.Nil(e.t, op.Error, "operation error")
	return op
}

// image makes image name from the src disk, a second after the previous one.
func (e *env) image(name, family string, labels map[string]string) *compute.Image {
	e.t.Helper()
	if !e.hasSrc {
		e.ok(e.svc.Disks.Insert(proj, zoneA, &compute.Disk{Name: "src", SizeGb: 20}).Do())
		e.hasSrc = true
	}
	e.clk.Advance(time.Second)
	e.ok(e.svc.Images.Insert(proj, &compute.Image{Name: name, Family: family, Labels: labels, SourceDisk: srcDisk}).Do())
	img, err := e.svc.Images.Get(proj, name).Do()
	require.NoError(e.t, err)
	return img
}

func bootDisk(image string) []*compute.AttachedDisk {
	return []*compute.AttachedDisk{{Boot: true, AutoDelete: true, InitializeParams: &compute.AttachedDiskInitializeParams{SourceImage: image}}}
}

// requireAPIError checks that err is a googleapi.Error with the status and reason,
// and that its body is GCE's error JSON.
func requireAPIError(t *testing.T, err error, code int, reason string) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	require.ErrorAs(t, err, &ge)
	require.Equal(t, code, ge.Code, ge.Body)
	require.NotEmpty(t, ge.Message)
	require.Len(t, ge.Errors, 1)
	require.Equal(t, reason, ge.Errors[0].Reason)
	require.Equal(t, ge.Message, ge.Errors[0].Message)
	require.Contains(t, ge.Header.Get("Content-Type"), "application/json")
	var body struct { // decoded case-insensitively: {"error": {"code", "message", "errors": [...]}}
		Error struct {
			Code    int
			Message string
			Errors  []struct{ Message, Domain, Reason string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(ge.Body), &body), ge.Body)
	require.Equal(t, code, body.Error.Code)
	require.Equal(t, ge.Message, body.Error.Message)
	require.Len(t, body.Error.Errors, 1)
	require.Equal(t, reason, body.Error.Errors[0].Reason)
	require.Equal(t, "global", body.Error.Errors[0].Domain)
	return ge
}

func TestImageInsertGetDeleteAndOperations(t *testing.T) {
	e := newEnv(t, gceemu.WithOperationPolls(2))
	e.ok(e.svc.Disks.Insert(proj, zoneA, &compute.Disk{Name: "src", SizeGb: 20}).Do())

	op, err := e.svc.Images.Insert(proj, &compute.Image{Name: "from-disk", SourceDisk: srcDisk}).Do()
	require.NoError(t, err)
	require.Equal(t, "compute#operation", op.Kind)
	require.Equal(t, "insert", op.OperationType)
	require.Equal(t, "RUNNING", op.Status)
	require.Empty(t, op.Zone+op.Region, "an image operation is global")
	require.True(t, strings.HasSuffix(op.TargetLink, "/projects/lifecycle-test/global/images/from-disk"), op.TargetLink)
	img, err := e.svc.Images.Get(proj, "from-disk").Do()
	require.NoError(t, err)
	require.Equal(t, "PENDING", img.Status, "not READY while its operation runs")

	polls := 0
	for op.Status != "DONE" {
		polls++
		require.LessOrEqual(t, polls, 5, "globalOperations.get never reached DONE")
		op, err = e.svc.GlobalOperations.Get(proj, op.Name).Do()
		require.NoError(t, err)
	}
	require.Equal(t, 2, polls)
	require.Nil(t, op.Error)
	require.EqualValues(t, 100, op.Progress)
	img, err = e.svc.Images.Get(proj, "from-disk").Do()
	require.NoError(t, err)
	require.Equal(t, "READY", img.Status)
	require.Equal(t, op.TargetId, img.Id)
	require.True(t, strings.HasSuffix(img.SourceDisk, "/projects/lifecycle-test/"+srcDisk), img.SourceDisk)
	require.NotEmpty(t, img.SourceDiskId)
	require.EqualValues(t, 20, img.DiskSizeGb)

	// From another image, waited for with globalOperations.wait.
	op, err = e.svc.Images.Insert(proj, &compute.Image{Name: "from-image", SourceImage: "global/images/from-disk"}).Do()
	require.NoError(t, err)
	require.Equal(t, "RUNNING", op.Status)
	e.ok(op, nil)
	img2, err := e.svc.Images.Get(proj, "from-image").Do()
	require.NoError(t, err)
	require.Equal(t, "READY", img2.Status)
	require.Equal(t, img.SelfLink, img2.SourceImage)
	require.Equal(t, fmt.Sprint(img.Id), img2.SourceImageId)
	require.EqualValues(t, 20, img2.DiskSizeGb)

	// A source that is not there fails the operation, not the call.
	op = e.wait(e.svc.Images.Insert(proj, &compute.Image{Name: "broken", SourceDisk: "zones/us-central1-a/disks/missing"}).Do())
	require.NotNil(t, op.Error)
	require.Equal(t, "RESOURCE_NOT_FOUND", op.Error.Errors[0].Code)
	require.Contains(t, op.Error.Errors[0].Message, "disks/missing")
	require.EqualValues(t, 404, op.HttpErrorStatusCode)
	_, err = e.svc.Images.Get(proj, "broken").Do()
	requireAPIError(t, err, 404, "notFound")

	for name, tc := range map[string]struct {
		img    *compute.Image
		code   int
		reason string
	}{
		"existing name":        {&compute.Image{Name: "from-disk", SourceDisk: srcDisk}, 409, "alreadyExists"},
		"no source":            {&compute.Image{Name: "nothing"}, 400, "invalid"},
		"two sources":          {&compute.Image{Name: "two", SourceDisk: srcDisk, SourceImage: "global/images/from-disk"}, 400, "invalid"},
		"bad name":             {&compute.Image{Name: "Bad_Name", SourceDisk: srcDisk}, 400, "invalid"},
		"invalid label":        {&compute.Image{Name: "labelled", SourceDisk: srcDisk, Labels: map[string]string{"Env": "x"}}, 400, "invalid"},
		"unknown source image": {&compute.Image{Name: "orphan", SourceImage: "global/images/nope"}, 404, "notFound"},
	} {
		_, err := e.svc.Images.Insert(proj, tc.img).Do()
		require.Error(t, err, name)
		requireAPIError(t, err, tc.code, tc.reason)
		if tc.img.Name != "from-disk" {
			_, err = e.svc.Images.Get(proj, tc.img.Name).Do()
			requireAPIError(t, err, 404, "notFound")
		}
	}

	op = e.ok(e.svc.Images.Delete(proj, "from-disk").Do())
	require.Equal(t, "delete", op.OperationType)
	require.Equal(t, img.Id, op.TargetId)
	_, err = e.svc.Images.Get(proj, "from-disk").Do()
	requireAPIError(t, err, 404, "notFound")
	_, err = e.svc.Images.Delete(proj, "from-disk").Do()
	requireAPIError(t, err, 404, "notFound")
	img2, err = e.svc.Images.Get(proj, "from-image").Do()
	require.NoError(t, err, "an image made from a deleted one stays")
	require.Equal(t, "READY", img2.Status)
	_, err = e.svc.GlobalOperations.Get(proj, "operation-unknown").Do()
	requireAPIError(t, err, 404, "notFound")
}

func TestImagesListFilterAndPages(t *testing.T) {
	e := newEnv(t)
	var all []string
	for i, l := range [][2]string{{"web", "prod"}, {"web", "dev"}, {"api", "prod"}, {"web", "prod"}, {"api", "dev"}, {"web", "prod"}, {"db", "prod"}} {
		name := fmt.Sprintf("img-%d", i)
		all = append(all, name)
		e.image(name, "", map[string]string{"app": l[0], "env": l[1]})
	}
	list := func(filter string, max int64) (got []string, pages int, err error) {
		call := e.svc.Images.List(proj).MaxResults(max)
		if filter != "" {
			call = call.Filter(filter)
		}
		err = call.Pages(context.Background(), func(l *compute.ImageList) error {
			pages++
			for _, img := range l.Items {
				got = append(got, img.Name)
			}
			return nil
		})
		return got, pages, err
	}
	for _, tc := range []struct {
		name, filter string
		max          int64
		want         []string
		pages        int
	}{
		{"all, pages of 2", "", 2, all, 4},
		{"all, one page", "", 500, all, 1},
		{"one label", `labels.app = "web"`, 2, []string{"img-0", "img-1", "img-3", "img-5"}, 2},
		{"AND", `labels.app = "web" AND labels.env = "prod"`, 1, []string{"img-0", "img-3", "img-5"}, 3},
		{"parentheses are ANDed", `(labels.app = "web") (labels.env = "prod")`, 500, []string{"img-0", "img-3", "img-5"}, 1},
		{"OR", `(labels.app = "api") OR (labels.app = "db")`, 2, []string{"img-2", "img-4", "img-6"}, 2},
		{"!=", `labels.env != "prod"`, 500, []string{"img-1", "img-4"}, 1},
		{"key defined", `labels.app:*`, 3, all, 3},
		{"no match", `labels.app = "nope"`, 2, nil, 1},
	} {
		got, pages, err := list(tc.filter, tc.max)
		require.NoError(t, err, tc.name)
		require.ElementsMatch(t, tc.want, got, tc.name+": every image exactly once")
		require.Equal(t, tc.pages, pages, tc.name)
	}

	for _, bad := range []string{`labels.app = `, `(labels.app = "web"`, `labels.app "web"`, `labels.app = "web`} {
		_, _, err := list(bad, 2)
		ge := requireAPIError(t, err, 400, "invalid")
		require.Contains(t, ge.Message, "filter", bad)
	}
	_, err := e.svc.Images.List(proj).MaxResults(501).Do()
	requireAPIError(t, err, 400, "invalid")
	_, err = e.svc.Images.List(proj).PageToken("not-a-token").Do()
	requireAPIError(t, err, 400, "invalid")
}

func TestGetFromFamily(t *testing.T) {
	e := newEnv(t)
	e.image("fam-c", "fam", nil) // oldest
	e.image("fam-a", "fam", nil)
	e.image("fam-b", "fam", nil) // newest
	e.image("zz-other", "other", nil)
	for _, st := range []struct{ name, image, state, want string }{
		{"newest by creationTimestamp, not by name", "", "", "fam-b"},
		{"DEPRECATED is skipped", "fam-b", "DEPRECATED", "fam-a"},
		{"OBSOLETE is skipped", "fam-a", "OBSOLETE", "fam-c"},
		{"DELETED is skipped, none is left", "fam-c", "DELETED", ""},
		{"ACTIVE again", "fam-a", "ACTIVE", "fam-a"},
	} {
		if st.image != "" {
			e.ok(e.svc.Images.Deprecate(proj, st.image, &compute.DeprecationStatus{State: st.state}).Do())
		}
		img, err := e.svc.Images.GetFromFamily(proj, "fam").Do()
		if st.want == "" {
			ge := requireAPIError(t, err, 404, "notFound")
			require.Contains(t, ge.Message, "projects/lifecycle-test/global/images/family/fam", st.name)
			continue
		}
		require.NoError(t, err, st.name)
		require.Equal(t, st.want, img.Name, st.name)
		require.Equal(t, "fam", img.Family)
	}
	_, err := e.svc.Images.GetFromFamily(proj, "nope").Do()
	requireAPIError(t, err, 404, "notFound")
}

func TestDeprecateStatesAndNewUses(t *testing.T) {
	e := newEnv(t)
	e.image("web-v1", "web", nil)
	repl := e.image("web-v2", "web", nil)
	deprecate := func(ds *compute.DeprecationStatus) *compute.Image {
		t.Helper()
		op := e.ok(e.svc.Images.Deprecate(proj, "web-v1", ds).Do())
		require.Equal(t, "deprecate", op.OperationType)
		img, err := e.svc.Images.Get(proj, "web-v1").Do()
		require.NoError(t, err)
		return img
	}
	n := 0
	uses := map[string]func() (*compute.Operation, error){
		"disks.insert": func() (*compute.Operation, error) {
			n++
			return e.svc.Disks.Insert(proj, zoneA, &compute.Disk{Name: fmt.Sprintf("disk-%d", n), SourceImage: "global/images/web-v1"}).Do()
		},
		"instances.insert": func() (*compute.Operation, error) {
			n++
			return e.svc.Instances.Insert(proj, zoneA, &compute.Instance{Name: fmt.Sprintf("vm-%d", n), MachineType: machine,
				Disks: bootDisk("projects/lifecycle-test/global/images/web-v1")}).Do()
		},
	}

	img := deprecate(&compute.DeprecationStatus{State: "DEPRECATED", Replacement: repl.SelfLink})
	require.Equal(t, "DEPRECATED", img.Deprecated.State)
	require.Equal(t, repl.SelfLink, img.Deprecated.Replacement)
	img = deprecate(&compute.DeprecationStatus{State: "DEPRECATED", Replacement: "global/images/web-v2"})
	require.Equal(t, repl.SelfLink, img.Deprecated.Replacement, "a partial replacement becomes a URL")
	for name, use := range uses {
		op := e.ok(use())
		require.NotEmpty(t, op.Warnings, name)
		require.Equal(t, "DEPRECATED_RESOURCE_USED", op.Warnings[0].Code, name)
		require.Contains(t, op.Warnings[0].Message, "web-v2", name+": the warning names the replacement")
	}

	img = deprecate(&compute.DeprecationStatus{State: "OBSOLETE"})
	require.Equal(t, "OBSOLETE", img.Deprecated.State)
	require.Empty(t, img.Deprecated.Replacement)
	for name, use := range uses {
		_, err := use()
		ge := requireAPIError(t, err, 400, "invalid")
		require.Contains(t, ge.Message, "obsolete", name)
		require.Contains(t, ge.Message, "web-v1", name)
	}
	_, err := e.svc.Images.Insert(proj, &compute.Image{Name: "copy", SourceImage: "global/images/web-v1"}).Do()
	requireAPIError(t, err, 400, "invalid")
	dl, err := e.svc.Disks.List(proj, zoneA).Do()
	require.NoError(t, err)
	il, err := e.svc.Instances.List(proj, zoneA).Do()
	require.NoError(t, err)
	require.Len(t, dl.Items, 3, "src, one disk and one boot disk: a refused insert makes nothing")
	require.Len(t, il.Items, 1, "a refused insert makes nothing")

	img = deprecate(&compute.DeprecationStatus{State: "ACTIVE"})
	require.Nil(t, img.Deprecated, "ACTIVE clears the deprecation status")
	for name, use := range uses {
		op := e.ok(use())
		require.Empty(t, op.Warnings, name)
	}

	_, err = e.svc.Images.Deprecate(proj, "web-v1", &compute.DeprecationStatus{State: "RETIRED"}).Do()
	requireAPIError(t, err, 400, "invalid")
	_, err = e.svc.Images.Deprecate(proj, "nope", &compute.DeprecationStatus{State: "DEPRECATED"}).Do()
	requireAPIError(t, err, 404, "notFound")
}

func TestSetLabelsFingerprint(t *testing.T) {
	e := newEnv(t)
	setLabels := func(labels map[string]string, fp string) (*compute.Operation, error) {
		return e.svc.Images.SetLabels(proj, "lab", &compute.GlobalSetLabelsRequest{Labels: labels, LabelFingerprint: fp}).Do()
	}
	get := func() *compute.Image {
		img, err := e.svc.Images.Get(proj, "lab").Do()
		require.NoError(t, err)
		return img
	}
	fp0 := e.image("lab", "", map[string]string{"a": "1"}).LabelFingerprint
	require.NotEmpty(t, fp0)

	op := e.ok(setLabels(map[string]string{"a": "1", "b": "2"}, fp0))
	require.Equal(t, "setLabels", op.OperationType)
	img := get()
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, img.Labels)
	fp1 := img.LabelFingerprint
	require.NotEqual(t, fp0, fp1, "the fingerprint changes with the labels")

	for name, fp := range map[string]string{"stale": fp0, "missing": "", "made up": "bm90IGl0"} {
		_, err := setLabels(map[string]string{"c": "3"}, fp)
		ge := requireAPIError(t, err, 412, "conditionNotMet")
		require.Contains(t, ge.Message, "ingerprint", name)
	}

	many := map[string]string{}
	for i := 0; i < 65; i++ {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	for name, labels := range map[string]map[string]string{
		"uppercase key":          {"Env": "prod"},
		"uppercase value":        {"env": "Prod"},
		"key of 64 characters":   {strings.Repeat("k", 64): "v"},
		"value of 64 characters": {"k": strings.Repeat("v", 64)},
		"key starts with digit":  {"1k": "v"},
		"key with a dot":         {"a.b": "v"},
		"empty key":              {"": "v"},
		"65 labels":              many,
	} {
		_, err := setLabels(labels, fp1)
		requireAPIError(t, err, 400, "invalid")
		img := get()
		require.Equal(t, fp1, img.LabelFingerprint, name+": a refused write changes nothing")
		require.Len(t, img.Labels, 2, name)
	}

	delete(many, "k64")
	delete(many, "k63")
	many[strings.Repeat("k", 63)] = strings.Repeat("v", 63)
	many["k00"] = ""
	e.ok(setLabels(many, fp1))
	img = get()
	require.Equal(t, many, img.Labels, "64 labels, 63-character keys and values and empty values are allowed")
	require.NotEqual(t, fp1, img.LabelFingerprint)
}

func TestRequestIDDeduplication(t *testing.T) {
	e := newEnv(t)
	e.image("seed", "", nil)
	insert := func(rid string) (*compute.Operation, error) {
		return e.svc.Images.Insert(proj, &compute.Image{Name: "once", SourceDisk: srcDisk}).RequestId(rid).Do()
	}
	rid := uuid.NewString()
	op1, err := insert(rid)
	require.NoError(t, err)
	op2, err := insert(rid)
	require.NoError(t, err, "a re-sent insert is not a conflict")
	require.Equal(t, op1.Name, op2.Name)
	require.Equal(t, op1.Id, op2.Id)
	l, err := e.svc.Images.List(proj).Filter(`name = "once"`).Do()
	require.NoError(t, err)
	require.Len(t, l.Items, 1, "applied once")
	require.Equal(t, op1.TargetId, l.Items[0].Id)
	_, err = insert(uuid.NewString())
	requireAPIError(t, err, 409, "alreadyExists")

	del := uuid.NewString()
	d1 := e.ok(e.svc.Images.Delete(proj, "once").RequestId(del).Do())
	d2 := e.ok(e.svc.Images.Delete(proj, "once").RequestId(del).Do())
	require.Equal(t, d1.Name, d2.Name, "the re-sent delete answers the same operation")
	_, err = e.svc.Images.Delete(proj, "once").RequestId(uuid.NewString()).Do()
	requireAPIError(t, err, 404, "notFound")

	for _, bad := range []string{"retry-1", "00000000-0000-0000-0000-000000000000"} {
		_, err := e.svc.Images.Delete(proj, "seed").RequestId(bad).Do()
		ge := requireAPIError(t, err, 400, "invalid")
		require.Contains(t, ge.Message, "requestId")
	}
	_, err = e.svc.Images.Get(proj, "seed").Do()
	require.NoError(t, err, "a refused requestId deletes nothing")
}

func TestDeletingAnImageInUseSucceeds(t *testing.T) {
	e := newEnv(t)
	img := e.image("base", "", nil)
	props := &compute.InstanceProperties{MachineType: "e2-small", Disks: bootDisk("global/images/base")}
	e.ok(e.svc.InstanceTemplates.Insert(proj, &compute.InstanceTemplate{Name: "tpl", Properties: props}).Do())
	e.ok(e.svc.RegionInstanceTemplates.Insert(proj, "us-central1", &compute.InstanceTemplate{Name: "rtpl", Properties: props}).Do())
	e.ok(e.svc.Instances.Insert(proj, zoneA, &compute.Instance{Name: "vm", MachineType: machine, Disks: bootDisk(img.SelfLink)}).Do())
	vm, err := e.svc.Instances.Get(proj, zoneA, "vm").Do()
	require.NoError(t, err)
	boot := path.Base(vm.Disks[0].Source)
	d, err := e.svc.Disks.Get(proj, zoneA, boot).Do()
	require.NoError(t, err)
	require.Equal(t, img.SelfLink, d.SourceImage)
	require.Equal(t, []string{vm.SelfLink}, d.Users)

	e.ok(e.svc.Images.Delete(proj, "base").Do())
	_, err = e.svc.Images.Get(proj, "base").Do()
	requireAPIError(t, err, 404, "notFound")

	tpl, err := e.svc.InstanceTemplates.Get(proj, "tpl").Do()
	require.NoError(t, err)
	require.Equal(t, "global/images/base", tpl.Properties.Disks[0].InitializeParams.SourceImage)
	rtpl, err := e.svc.RegionInstanceTemplates.Get(proj, "us-central1", "rtpl").Do()
	require.NoError(t, err)
	require.Equal(t, "global/images/base", rtpl.Properties.Disks[0].InitializeParams.SourceImage)
	d, err = e.svc.Disks.Get(proj, zoneA, boot).Do()
	require.NoError(t, err)
	require.Equal(t, img.SelfLink, d.SourceImage, "the disk still names the image it came from")
	vm, err = e.svc.Instances.Get(proj, zoneA, "vm").Do()
	require.NoError(t, err)
	require.Equal(t, "RUNNING", vm.Status)
}

// aggregated is any aggregated list, read back from its JSON.
type aggregated struct {
	Items map[string]struct {
		Disks, Instances, InstanceTemplates []struct{ Name string }
		Warning                             *struct {
			Code string
			Data []struct{ Key, Value string }
		}
	}
	Unreachables []string
}

func asAggregated(t *testing.T, l any, err error) aggregated {
	t.Helper()
	require.NoError(t, err, "an unreachable scope does not fail the call")
	b, err := json.Marshal(l)
	require.NoError(t, err)
	var a aggregated
	require.NoError(t, json.Unmarshal(b, &a))
	return a
}

func TestAggregatedListUnreachableScope(t *testing.T) {
	e := newEnv(t)
	for _, z := range []string{zoneA, zoneB} {
		dn := "disk-" + z[len(z)-1:]
		e.ok(e.svc.Disks.Insert(proj, z, &compute.Disk{Name: dn}).Do())
		e.ok(e.svc.Instances.Insert(proj, z, &compute.Instance{Name: "vm-" + z[len(z)-1:], MachineType: machine,
			Disks: []*compute.AttachedDisk{{Boot: true, Source: "zones/" + z + "/disks/" + dn}}}).Do())
	}
	props := &compute.InstanceProperties{MachineType: "e2-small"}
	e.ok(e.svc.InstanceTemplates.Insert(proj, &compute.InstanceTemplate{Name: "tpl-g", Properties: props}).Do())
	e.ok(e.svc.RegionInstanceTemplates.Insert(proj, "europe-west1", &compute.InstanceTemplate{Name: "tpl-eu", Properties: props}).Do())
	e.s.SetFault(gceemu.Fault{Method: "compute.disks.aggregatedList", Kind: gceemu.Unreachable, Scope: "zones/us-central1-b"})
	e.s.SetFault(gceemu.Fault{Method: "compute.instances.aggregatedList", Kind: gceemu.Unreachable, Scope: "zones/us-central1-b"})
	e.s.SetFault(gceemu.Fault{Method: "compute.instanceTemplates.aggregatedList", Kind: gceemu.Unreachable, Scope: "regions/europe-west1"})

	for _, tc := range []struct {
		name                     string
		list                     func(...googleapi.CallOption) (any, error)
		hidden, seen, item, none string
		hasUnreachables          bool // InstanceTemplateAggregatedList has no unreachables field
	}{
		{"disks", func(o ...googleapi.CallOption) (any, error) { return e.svc.Disks.AggregatedList(proj).Do(o...) }, "zones/us-central1-b", "zones/us-central1-a", "disk-a", "zones/europe-west1-b", true},
		{"instances", func(o ...googleapi.CallOption) (any, error) { return e.svc.Instances.AggregatedList(proj).Do(o...) }, "zones/us-central1-b", "zones/us-central1-a", "vm-a", "zones/europe-west1-b", true},
		{"instanceTemplates", func(o ...googleapi.CallOption) (any, error) {
			return e.svc.InstanceTemplates.AggregatedList(proj).Do(o...)
		}, "regions/europe-west1", "global", "tpl-g", "regions/us-central1", false},
	} {
		for _, partial := range []bool{false, true} {
			var opts []googleapi.CallOption
			if partial {
				opts = append(opts, googleapi.QueryParameter("returnPartialSuccess", "true"))
			}
			msg := fmt.Sprintf("%s, returnPartialSuccess=%v", tc.name, partial)
			l, err := tc.list(opts...)
			a := asAggregated(t, l, err)
			names := func(scope string) []string {
				var out []string
				for _, r := range append(append(a.Items[scope].Disks, a.Items[scope].Instances...), a.Items[scope].InstanceTemplates...) {
					out = append(out, r.Name)
				}
				return out
			}
			h := a.Items[tc.hidden]
			require.NotNil(t, h.Warning, msg)
			require.Equal(t, "UNREACHABLE", h.Warning.Code, msg)
			require.Equal(t, []struct{ Key, Value string }{{"scope", tc.hidden}}, h.Warning.Data, msg)
			require.Empty(t, names(tc.hidden), msg+": nothing from the unreachable scope")
			require.Equal(t, []string{tc.item}, names(tc.seen), msg)
			require.Nil(t, a.Items[tc.seen].Warning, msg)
			require.NotNil(t, a.Items[tc.none].Warning, msg)
			require.Equal(t, "NO_RESULTS_ON_PAGE", a.Items[tc.none].Warning.Code, msg)
			if partial && tc.hasUnreachables {
				require.Equal(t, []string{tc.hidden}, a.Unreachables, msg)
			} else {
				require.Empty(t, a.Unreachables, msg)
			}
		}
	}

	e.s.ClearFaults()
	e.s.Deny(proj, "compute.disks.aggregatedList")
	_, err := e.svc.Disks.AggregatedList(proj).Do()
	requireAPIError(t, err, 403, "forbidden")
}

func TestQuotasPerMinute(t *testing.T) {
	for _, tc := range []struct {
		name         string
		status, want int
	}{{"GCE's 403 by default", 0, 403}, {"429 when asked", 429, 429}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, gceemu.WithQuotas(gceemu.Quotas{ReadPerMinute: 3, WritePerMinute: 2, Status: tc.status}))
			read := func(p string) error { _, err := e.svc.Images.List(p).Do(); return err }
			write := func() error { _, err := e.svc.Images.Delete(proj, "nope").Do(); return err }
			for i := 0; i < 3; i++ {
				require.NoError(t, read(proj), "read %d", i)
			}
			ge := requireAPIError(t, read(proj), tc.want, "rateLimitExceeded")
			require.Contains(t, ge.Message, "Quota exceeded for quota metric 'Read requests'")
			for i := 0; i < 2; i++ {
				requireAPIError(t, write(), 404, "notFound") // counted all the same
			}
			requireAPIError(t, write(), tc.want, "rateLimitExceeded")
			require.NoError(t, read(other), "each project has its own quota")

			e.clk.Advance(59 * time.Second)
			requireAPIError(t, read(proj), tc.want, "rateLimitExceeded")
			e.clk.Advance(time.Second)
			require.NoError(t, read(proj), "a new minute, a new quota")
			requireAPIError(t, write(), 404, "notFound")
		})
	}
}

func TestErrorJSONShape(t *testing.T) {
	e := newEnv(t)
	e.s.Deny(other, "compute.images.get")
	anon := e.client(option.WithoutAuthentication())
	for _, tc := range []struct {
		name    string
		call    func() error
		code    int
		reason  string
		message string
	}{
		{"unknown image", func() error { _, err := e.svc.Images.Get(proj, "nope").Do(); return err },
			404, "notFound", "The resource 'projects/lifecycle-test/global/images/nope' was not found"},
		{"unknown project", func() error { _, err := e.svc.Images.Get("no-such-project", "nope").Do(); return err },
			404, "notFound", "The resource 'projects/no-such-project' was not found"},
		{"unknown project, list", func() error { _, err := e.svc.Images.List("no-such-project").Do(); return err },
			404, "notFound", "The resource 'projects/no-such-project' was not found"},
		{"permission denied", func() error { _, err := e.svc.Images.Get(other, "x").Do(); return err },
			403, "forbidden", "Required 'compute.images.get' permission for 'projects/lifecycle-other/global/images/x'"},
		{"no credentials", func() error { _, err := anon.Images.Get(proj, "nope").Do(); return err },
			401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ge := requireAPIError(t, tc.call(), tc.code, tc.reason)
			require.Equal(t, tc.message, ge.Message)
		})
	}
}
