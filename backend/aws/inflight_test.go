package aws

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// watcher calls before with every request's action and form before it is
// sent (it may block), and after with its answer once it is in.
type watcher struct {
	next   http.RoundTripper
	before func(action string, form url.Values)
	after  func(action string, resp *http.Response)
}

func (w *watcher) RoundTrip(r *http.Request) (*http.Response, error) {
	var form url.Values
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ = url.ParseQuery(string(body))
	}
	a := form.Get("Action")
	if w.before != nil {
		w.before(a, form)
	}
	resp, err := w.next.RoundTrip(r)
	if w.after != nil {
		w.after(a, resp)
	}
	return resp, err
}

// holdFirst counts op's requests in flight on a client of f's: the first
// want are held until all of them are in flight together. check asserts
// that they were, that no more than want ever were, and that there were
// more than want calls.
func holdFirst(t *testing.T, f *fixture, op string, want int) (aws.Config, func()) {
	var (
		mu           sync.Mutex
		now, most, n int
		all          = make(chan struct{})
		waitedInVain bool
	)
	cfg := f.config("us-east-1", "AKIDOWNER")
	cfg.HTTPClient = &http.Client{Transport: &watcher{next: f.tr,
		before: func(a string, _ url.Values) {
			if a != op {
				return
			}
			mu.Lock()
			now++
			most, n = max(most, now), n+1
			if n == want {
				close(all)
			}
			hold := n <= want
			mu.Unlock()
			if hold {
				select {
				case <-all:
				case <-time.After(10 * time.Second):
					mu.Lock()
					waitedInVain = true
					mu.Unlock()
				}
			}
		},
		after: func(a string, _ *http.Response) {
			if a == op {
				mu.Lock()
				now--
				mu.Unlock()
			}
		}}}
	return cfg, func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		require.False(t, waitedInVain, "the first %d %s are in flight together", want, op)
		require.Equal(t, want, most, "never more than %d %s in flight", want, op)
		require.Greater(t, n, want, "more %s calls than the bound", op)
	}
}

// TestARegionHasSeveralActionsInFlight: EC2's buckets refill whatever the
// client does, so one request at a time leaves them idle a round trip per
// decision. The first 8 deprecations of a region are held until all of
// them are in flight together; more than 8 never are.
func TestARegionHasSeveralActionsInFlight(t *testing.T) {
	const want = 8 // the documented bound, not perRegion: the test checks the constant too
	f := newFixture(t, Options{})
	var ds []lifecycle.Decision
	for v := range want + 4 {
		img := f.build("web", fmt.Sprintf("1.0.%d", v), "us-east-1")["us-east-1"]
		ds = append(ds, lifecycle.Decision{Image: img, Action: lifecycle.ActionDeprecate, To: lifecycle.StageDeprecated})
	}
	cfg, check := holdFirst(t, f, "EnableImageDeprecation", want)
	be := f.backend(Options{Config: cfg})
	for _, r := range be.Apply(f.ctx, ds, false) {
		require.NoError(t, r.Err)
		require.True(t, r.Changed)
	}
	check()
	for _, d := range ds {
		require.NotNil(t, f.image("us-east-1", d.Image.ID).DeprecationTime, "%s deprecated", d.Image.ID)
		require.Equal(t, "deprecated", f.tags("us-east-1", d.Image.ID)[lifecycle.TagStage])
	}
}

// TestAThrottledRegionWorksOneCallAtATime: once EC2 throttles a region,
// its bucket's rate bounds it, and more calls in flight are only more
// refused calls. The calls let in before the client saw the throttle
// finish; every decision after them is let in under a limit of one (the
// limiter lets in under a limit only below it), and most come after it.
func TestAThrottledRegionWorksOneCallAtATime(t *testing.T) {
	f := newFixture(t, Options{})
	var ds []lifecycle.Decision
	for v := range 32 {
		img := f.build("web", fmt.Sprintf("1.0.%d", v), "us-east-1")["us-east-1"]
		ds = append(ds, lifecycle.Decision{Image: img, Action: lifecycle.ActionDeprecate, To: lifecycle.StageDeprecated})
	}
	f.s.SetFault(ec2emu.Fault{Action: "EnableImageDeprecation", Region: "us-east-1", Probability: 1, Kind: ec2emu.Throttle, Times: 1})
	var one, wide int                   // acquires under limit 1 and perRegion
	testHookAcquire = func(limit int) { // under the limiter's lock
		switch limit {
		case 1:
			one++
		case perRegion:
			wide++
		}
	}
	t.Cleanup(func() { testHookAcquire = nil })
	for _, r := range f.backend(Options{}).Apply(f.ctx, ds, false) {
		require.NoError(t, r.Err)
	}
	require.Equal(t, 1, f.s.Throttled("us-east-1", "EnableImageDeprecation"), "one throttled answer")
	require.Equal(t, 32+1, one+wide, "every decision, and the re-read before them (one DescribeImages)")
	require.GreaterOrEqual(t, wide, perRegion, "the first %d go at once", perRegion)
	require.Greater(t, one, 16, "most come after the throttle, one at a time")
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestASharedSnapshotGoesAfterEveryImageHoldingIt: the plan lists a
// snapshot that several deregistered images share with the last of them
// only; carried out concurrently, that deregister must still wait for the
// others, or EC2 refuses to delete a snapshot a registered AMI refers to.
// The first image's DeregisterImage is held until every other decision
// has been sent: the deregister that deletes the shared snapshot must not
// be among them.
func TestASharedSnapshotGoesAfterEveryImageHoldingIt(t *testing.T) {
	f := newFixture(t, Options{})
	first := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	last := f.build("web", "1.0.1", "us-east-1")["us-east-1"]
	shared := first.Snapshots[0]
	f.s.Update(func(st *ec2emu.State) {
		img := st.Region("us-east-1").Images[last.ID]
		img.BlockDevices = append(img.BlockDevices, ec2emu.BlockDevice{DeviceName: "/dev/xvdb", SnapshotID: shared, VolumeSize: 8})
	})
	const others = 4
	var fill []lifecycle.Decision
	for v := range others {
		img := f.build("web", fmt.Sprintf("1.1.%d", v), "us-east-1")["us-east-1"]
		fill = append(fill, lifecycle.Decision{Image: img, Action: lifecycle.ActionDeprecate, To: lifecycle.StageDeprecated})
	}
	for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable} {
		f.at = f.at.Add(time.Hour)
		l := f.listed("web")
		for _, r := range f.be.Apply(f.ctx, []lifecycle.Decision{{Image: l[first.Ref()], Action: a, To: a.Target()}, {Image: l[last.Ref()], Action: a, To: a.Target()}}, false) {
			require.NoError(t, r.Err)
		}
	}
	f.at = f.at.Add(time.Hour)
	l := f.listed("web")
	first, last = l[first.Ref()], l[last.Ref()]
	ds := append([]lifecycle.Decision{
		{Image: first, Action: lifecycle.ActionDeregister, To: lifecycle.StageDeregistered}, // its one snapshot is the last one's to delete
		{Image: last, Action: lifecycle.ActionDeregister, To: lifecycle.StageDeregistered, DeleteSnapshots: true, Snapshots: []string{last.Snapshots[0], shared}},
	}, fill...)
	var (
		mu        sync.Mutex
		deprecs   int
		sent      = make(chan struct{})
		lastEarly bool
		held      bool
	)
	cfg := f.config("us-east-1", "AKIDOWNER")
	cfg.HTTPClient = &http.Client{Transport: &watcher{next: f.tr, before: func(a string, form url.Values) {
		mu.Lock()
		switch {
		case a == "EnableImageDeprecation":
			if deprecs++; deprecs == others {
				close(sent)
			}
		case a == "DeregisterImage" && form.Get("ImageId") == last.ID:
			lastEarly = held
		}
		hold := a == "DeregisterImage" && form.Get("ImageId") == first.ID
		held = held || hold
		mu.Unlock()
		if hold {
			<-sent // the others are all sent, and answered or in flight
			mu.Lock()
			held = false
			mu.Unlock()
		}
	}}}
	be := f.backend(Options{Config: cfg})
	rs := be.Apply(f.ctx, ds, false)
	for _, r := range rs {
		require.NoError(t, r.Err)
	}
	require.False(t, lastEarly, "the deregister deleting the shared snapshot was sent while the first image was still registered")
	require.Nil(t, f.image("us-east-1", first.ID))
	require.Nil(t, f.image("us-east-1", last.ID))
	require.False(t, f.snapshotExists("us-east-1", shared), "the shared snapshot goes with the last image: %s", rs[1].Note)
}

// TestWaitForOrdersOnlySnapshotDeletes: only a deregister that deletes
// snapshots waits, and only for earlier decisions of images holding one.
func TestWaitForOrdersOnlySnapshotDeletes(t *testing.T) {
	img := func(id string, snaps ...string) lifecycle.Image {
		return lifecycle.Image{ID: id, Region: "r", Snapshots: snaps}
	}
	dereg := func(i lifecycle.Image, del ...string) lifecycle.Decision {
		return lifecycle.Decision{Image: i, Action: lifecycle.ActionDeregister, DeleteSnapshots: del != nil, Snapshots: del}
	}
	ds := []lifecycle.Decision{
		dereg(img("a", "s1")), // 0: keeps s1 for 2
		{Image: img("b", "s2"), Action: lifecycle.ActionDeprecate}, // 1
		dereg(img("c", "s1", "s3"), "s1", "s3"),                    // 2: waits for 0
		dereg(img("d", "s4"), "s4"),                                // 3: nothing before it holds s4
		dereg(img("e", "s2"), "s2"),                                // 4: waits for 1 (b holds s2)
	}
	got := waitFor(ds, []int{0, 1, 2, 3, 4}, map[string]lifecycle.Image{})
	require.Equal(t, map[int][]int{2: {0}, 4: {1}}, got)
}

// TestAReadHasSeveralCallsInFlight: the reads before a plan are as
// latency-bound as the actions (a sweep makes a thousand of them a
// region): the usage lookups (DescribeImageReferences, 10 ids a call) and
// the launch-permission reads of the other-account check (one
// DescribeImageAttribute an image) each have their first 8 calls of a
// region in flight together, and never more.
func TestAReadHasSeveralCallsInFlight(t *testing.T) {
	const want = 8
	f := newFixture(t, Options{})
	var imgs []lifecycle.Image
	for v := range 10 * (want + 2) {
		imgs = append(imgs, f.build("web", fmt.Sprintf("1.0.%d", v), "us-east-1")["us-east-1"])
	}
	for _, op := range []string{"DescribeImageReferences", "DescribeImageAttribute"} {
		t.Run(op, func(t *testing.T) {
			cfg, check := holdFirst(t, f, op, want)
			be := f.backend(Options{Config: cfg})
			if op == "DescribeImageReferences" {
				u := be.Usage(f.ctx, imgs)
				require.Empty(t, u, "nothing uses them, and every lookup answered")
			} else {
				u, _ := be.OtherUsage(f.ctx, imgs, true)
				require.Empty(t, u, "none is shared, and every read answered")
			}
			check()
		})
	}
}
