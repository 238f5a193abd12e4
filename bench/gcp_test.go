//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/option"

	gcpbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/gcp"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/gceemu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// ---- Case 6: the GCP sweep of 3 projects × 240 images, one stage per run.

// gcpProjects play the part regions play in case 2: images are global in a
// project, and the backend works on every project at once.
var gcpProjects = []string{"plc-bench-a", "plc-bench-b", "plc-bench-c"}

const (
	gcpImages    = 240 // per project and family (web, and api beside it)
	gcpRetirable = 120 // the oldest of web, past min_age
	gcpInUse     = 24  // 10 % of web: half among the retirable, half among the newer
	gcpToken     = "bench-access-token"
	gcpPage      = 500 // Compute Engine's largest maxResults
	gcpZone      = "us-central1-a"
)

// gcpUsedRetirable are the retirable images in use: deprecated (a warning
// to their users) and never disabled or deleted.
const gcpUsedRetirable = gcpInUse / 2

// gcpQuotas are Compute Engine's documented default rate quotas per project
// and minute: 1,500 queries (mutations), 1,500 read requests (get), 1,500
// list requests and 1,500 operation read requests. gceemu counts get and
// list in one class, so its reads are held to 1,500 together (stricter).
func gcpQuotas() gceemu.Quotas {
	return gceemu.Quotas{ReadPerMinute: 1500, WritePerMinute: 1500, OperationReadPerMinute: 1500, Status: http.StatusForbidden}
}

// gceSwitch serves the emulator of the moment on one loopback address and
// counts the requests in flight in front of it (gceemu has no gauge).
type gceSwitch struct {
	cur atomic.Pointer[gceemu.Server]
	url string // ends in "/"

	mu      sync.Mutex
	in      map[string]int
	inAll   int
	peak    map[string]int
	peakAll int
}

func newGCESwitch() (*gceSwitch, func()) {
	sw := &gceSwitch{in: map[string]int{}, peak: map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(sw.serve))
	sw.url = hs.URL + "/"
	return sw, hs.Close
}

func (sw *gceSwitch) serve(w http.ResponseWriter, r *http.Request) {
	p := ""
	if rest, ok := strings.CutPrefix(r.URL.Path, "/compute/v1/projects/"); ok {
		p, _, _ = strings.Cut(rest, "/")
	}
	sw.mu.Lock()
	sw.in[p]++
	sw.inAll++
	sw.peak[p] = max(sw.peak[p], sw.in[p])
	sw.peakAll = max(sw.peakAll, sw.inAll)
	sw.mu.Unlock()
	defer func() {
		sw.mu.Lock()
		sw.in[p]--
		sw.inAll--
		sw.mu.Unlock()
	}()
	sw.cur.Load().Handler().ServeHTTP(w, r)
}

func (sw *gceSwitch) resetPeak() {
	sw.mu.Lock()
	sw.peak, sw.peakAll = map[string]int{}, 0
	sw.mu.Unlock()
}

func (sw *gceSwitch) peakInFlight() ec2emu.PeakInFlight {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return ec2emu.PeakInFlight{All: sw.peakAll, Regions: maps.Clone(sw.peak)}
}

// fresh installs an empty emulator: 20 ms per call, operations RUNNING when
// answered (so each mutation is waited for, as on Compute Engine, where an
// image operation is not done at once), the per-minute quotas, and a token.
func (sw *gceSwitch) fresh() *gceemu.Server {
	s := gceemu.New(gceemu.WithProjects(gcpProjects...), gceemu.WithOperationPolls(1), gceemu.WithQuotas(gcpQuotas()),
		gceemu.WithRequireToken(gcpToken), gceemu.WithBaseURL(sw.url))
	s.SetFault(gceemu.Fault{Kind: gceemu.LatencyOnly, Latency: latency})
	sw.cur.Store(s)
	return s
}

func gcpImageName(family string, i int) string { return fmt.Sprintf("%s-1-0-%d", family, i) }

// seedGCP stores per project 240 releases of web and 240 of api (another
// family, never touched), labelled as the post-processor records them. The
// 120 oldest of web are past min_age (30 days) and retirable; the 120 newer
// are within it. 24 of web (10 %) are in use, 12 retirable and 12 newer ones:
// the even ones by an instance (a disk made from the image, attached to it),
// the odd ones by a global instance template.
func seedGCP(s *gceemu.Server, base string, now time.Time) {
	for _, p := range gcpProjects {
		for _, family := range []string{"web", "api"} {
			for i := range gcpImages {
				built := now.Add(-60*24*time.Hour + time.Duration(i)*time.Minute)
				if i >= gcpRetirable {
					built = now.Add(-20*24*time.Hour + time.Duration(i-gcpRetirable)*10*time.Minute)
				}
				built = built.Truncate(time.Second)
				rel := lifecycle.Image{Family: family, Version: fmt.Sprintf("1.0.%d", i), Channel: "stable", ReleasedAt: built,
					Stage: lifecycle.StageActive, StageSince: built}
				tags := lifecycle.Tags(rel, lifecycle.DefaultManagedBy)
				maps.DeleteFunc(tags, func(_, v string) bool { return v == "" })
				labels, err := gcpbackend.Labels(tags)
				if err != nil {
					panic(err)
				}
				s.PutImage(p, &compute.Image{Name: gcpImageName(family, i), Family: family, Labels: labels,
					CreationTimestamp: gceemu.Timestamp(built), DiskSizeGb: 10, ArchiveSizeBytes: 3 << 30})
			}
		}
		var used []string
		for j := range gcpUsedRetirable {
			used = append(used, gcpImageName("web", 2+5*j))
		}
		for j := range gcpInUse - gcpUsedRetirable {
			used = append(used, gcpImageName("web", gcpRetirable+3+5*j))
		}
		for k, name := range used {
			src := "projects/" + p + "/global/images/" + name
			if k%2 == 0 {
				vm := fmt.Sprintf("vm-%d", k)
				s.PutDisk(p, gcpZone, &compute.Disk{Name: vm, SourceImage: src,
					Users: []string{base + "compute/v1/projects/" + p + "/zones/" + gcpZone + "/instances/" + vm}})
				continue
			}
			s.PutInstanceTemplate(p, "", &compute.InstanceTemplate{Name: fmt.Sprintf("tpl-%d", k), Properties: &compute.InstanceProperties{
				MachineType: "e2-small", Disks: []*compute.AttachedDisk{{Boot: true, InitializeParams: &compute.AttachedDiskInitializeParams{SourceImage: src}}}}})
		}
	}
}

// gcpState is where every image stands: project:name → deprecation state
// and stage label; deleted images are absent.
func gcpState(s *gceemu.Server) map[string]string {
	out := map[string]string{}
	for _, p := range gcpProjects {
		for _, im := range s.Images(p) {
			st := "ACTIVE"
			if im.Deprecated != nil && im.Deprecated.State != "" {
				st = im.Deprecated.State
			}
			out[p+":"+im.Name] = st + "/" + im.Labels[gcpbackend.LabelKey(lifecycle.TagStage)]
		}
	}
	return out
}

// sameState fails the benchmark when two runs did not leave the images
// alike: the serial baseline must make exactly the post-processor's
// decisions, and a dry run none.
func sameState(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	var diff []string
	for k, v := range want {
		if got[k] != v {
			diff = append(diff, fmt.Sprintf("%s: %q, want %q", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: %q, want deleted", k, v))
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		t.Fatalf("%s: %d images differ, e.g. %s", what, len(diff), strings.Join(diff[:min(5, len(diff))], "; "))
	}
}

// gcpWork is what one project's run must do at least.
type gcpWork struct {
	listed, all   int // images of the family; images in the project
	templatesUsed bool
	deprecate     int // images.deprecate decisions (deprecate, disable)
	delete        int
}

// gcpMinCalls is the minimum call count of one project's run:
// ⌈listed/500⌉ images.list pages of the family; the usage reads the backend
// must make once per project (backend/gcp/usage.go): disks.aggregatedList
// (instances, through their disks), instanceTemplates.aggregatedList,
// instanceGroupManagers.aggregatedList when a template uses one of the
// images, and ⌈images in the project/500⌉ images.list pages for child
// images (no template names a family here, so no images.getFromFamily);
// and per decision images.deprecate + globalOperations.wait +
// images.setLabels + globalOperations.wait, or images.delete +
// globalOperations.wait. A dry run needs only the reads.
func gcpMinCalls(w gcpWork, dry bool) map[string]int {
	m := map[string]int{
		"images.list":                      ceilDiv(w.listed, gcpPage) + ceilDiv(w.all, gcpPage),
		"disks.aggregatedList":             1,
		"instanceTemplates.aggregatedList": 1,
	}
	if w.templatesUsed {
		m["instanceGroupManagers.aggregatedList"] = 1
	}
	if dry {
		return m
	}
	for op, n := range map[string]int{"images.deprecate": w.deprecate, "images.setLabels": w.deprecate, "images.delete": w.delete,
		"globalOperations.wait": 2*w.deprecate + w.delete} {
		if n > 0 {
			m[op] = n
		}
	}
	return m
}

// gcpQuotaFloor is the time the per-minute quotas alone impose on calls
// made in one project: a class with n calls and a quota of q a minute needs
// ⌈n/q⌉ − 1 minutes beyond the first (windows are wall-clock minutes, so
// this is a lower bound). Projects have quotas of their own.
func gcpQuotaFloor(calls map[string]int, q gceemu.Quotas) time.Duration {
	limit := map[string]int{"read": q.ReadPerMinute, "write": q.WritePerMinute, "opread": q.OperationReadPerMinute}
	var worst time.Duration
	for class, n := range byClass(calls) {
		if l := limit[class]; l > 0 {
			worst = max(worst, time.Duration(ceilDiv(n, l)-1)*time.Minute)
		}
	}
	return worst
}

// quotaClass is gceemu's quota class of a method ("compute." dropped):
// operation reads, other reads, writes.
func quotaClass(op string) string {
	switch {
	case strings.HasSuffix(op, "Operations.wait"), strings.HasSuffix(op, "Operations.get"):
		return "opread"
	case strings.HasSuffix(op, ".list"), strings.HasSuffix(op, ".aggregatedList"), strings.HasSuffix(op, ".get"),
		strings.HasSuffix(op, ".getIamPolicy"), strings.HasSuffix(op, ".getFromFamily"):
		return "read"
	}
	return "write"
}

func byClass(calls map[string]int) map[string]int {
	need := map[string]int{}
	for op, n := range calls {
		need[quotaClass(op)] += n
	}
	return need
}

var gcpStages = []struct {
	name, op string
	work     gcpWork
}{
	{"deprecate", "images.deprecate", gcpWork{listed: gcpImages, all: 2 * gcpImages, templatesUsed: true, deprecate: gcpRetirable}},
	{"disable", "images.deprecate", gcpWork{listed: gcpImages, all: 2 * gcpImages, templatesUsed: true, deprecate: gcpRetirable - gcpUsedRetirable}},
	{"deregister", "images.delete", gcpWork{listed: gcpImages, all: 2 * gcpImages, templatesUsed: true, delete: gcpRetirable - gcpUsedRetirable}},
}

func (w gcpWork) decisions() int { return w.deprecate + w.delete }

func gcpSweepConfig(dry bool) map[string]any {
	return map[string]any{
		"packer_builder_type": "null", "sweep": true, "backend": "gcp", "family": "web", "dry_run": dry,
		"project_id": gcpProjects[0], "projects": gcpProjects[1:], "keep_releases": 3, "min_age": "30d",
		"deprecate_after": "0s", "disable_after": "0s", "deregister_after": "0s",
	}
}

type gcpStageResult struct {
	name                 string
	real, dry, serial    measured
	min, dryMin          map[string]int
	floor                time.Duration
	realRuns, serialRuns []time.Duration
}

type gcpResult struct {
	stages []gcpStageResult
	quotas gceemu.Quotas
}

// gcpRunner measures the clients against one Compute Engine emulator.
type gcpRunner struct {
	t   *testing.T
	sw  *gceSwitch
	dir string
}

func (r *gcpRunner) measure(s *gceemu.Server, role string, in any) measured {
	r.t.Helper()
	s.ResetCounters() // and the quota windows: the run starts after a quiet spell
	r.sw.resetPeak()
	emu := selfCPU()
	out, u, err := runChild(r.dir, role, in)
	if err != nil {
		r.t.Fatal(err)
	}
	m := collectGCE(s, r.sw, out.Wall, u)
	m.EmuCPU = selfCPU() - emu
	return m
}

// collectGCE reads the emulator's journal after a run: calls by method
// ("compute." dropped) and project; refusals by a quota (403 or 429) are
// throttled, not accepted.
func collectGCE(s *gceemu.Server, sw *gceSwitch, wall time.Duration, u usage) measured {
	m := measured{Wall: wall, RSS: u.rss, CPU: u.cpu, Calls: map[string]int{}, Throttled: map[string]int{}, ByRegion: map[string]map[string]int{}, Peak: sw.peakInFlight()}
	for _, c := range s.Journal() {
		op := strings.TrimPrefix(c.Method, "compute.")
		if c.Status == http.StatusForbidden || c.Status == http.StatusTooManyRequests {
			m.Throttled[op]++
			continue
		}
		m.Calls[op]++
		if m.ByRegion[c.Project] == nil {
			m.ByRegion[c.Project] = map[string]int{}
		}
		m.ByRegion[c.Project][op]++
	}
	return m
}

func (r *gcpRunner) sweep(runs int) *gcpResult {
	n := len(gcpProjects)
	reals, drys, serials := make([][]measured, len(gcpStages)), make([][]measured, len(gcpStages)), make([][]measured, len(gcpStages))
	for rep := range runs {
		s := r.sw.fresh()
		seedGCP(s, r.sw.url, time.Now().UTC())
		after := make([]map[string]string, len(gcpStages))
		for i, st := range gcpStages {
			before := gcpState(s)
			cfg := gcpSweepConfig(true)
			cfg["report_path"] = filepath.Join(r.dir, "report.json")
			d := r.measure(s, "gcp-post-processor", ppInput{Config: cfg, BuilderID: "null", Endpoint: r.sw.url, Scale: 1})
			expect(r.t, "gcp "+st.name+" dry run", d, map[string]int{"images.deprecate": 0, "images.delete": 0, "images.setLabels": 0})
			sameState(r.t, "gcp "+st.name+" dry run", before, gcpState(s))
			drys[i] = append(drys[i], d)
			cfg = gcpSweepConfig(false)
			cfg["report_path"] = filepath.Join(r.dir, "report.json")
			m := r.measure(s, "gcp-post-processor", ppInput{Config: cfg, BuilderID: "null", Endpoint: r.sw.url, Scale: 1})
			expect(r.t, "gcp "+st.name, m, map[string]int{st.op: n * st.work.decisions()})
			after[i] = gcpState(s)
			reals[i] = append(reals[i], m)
			r.t.Logf("gcp %d %s: plugin %s (%d calls, %d throttled), dry run %s (%d calls)", rep+1, st.name, m.Wall, m.total(), sum(m.Throttled), d.Wall, d.total())
		}
		s = r.sw.fresh()
		seedGCP(s, r.sw.url, time.Now().UTC())
		for i, st := range gcpStages {
			m := r.measure(s, "gcp-serial", gcpSerialInput{Projects: gcpProjects, Family: "web", Policy: sweepPolicy(), Endpoint: r.sw.url})
			expect(r.t, "gcp "+st.name+" serial", m, map[string]int{st.op: n * st.work.decisions()})
			sameState(r.t, "gcp "+st.name+" serial against the post-processor", after[i], gcpState(s))
			serials[i] = append(serials[i], m)
			r.t.Logf("gcp %d %s: serial %s (%d calls, %d throttled)", rep+1, st.name, m.Wall, m.total(), sum(m.Throttled))
		}
	}
	res := &gcpResult{quotas: gcpQuotas()}
	for i, st := range gcpStages {
		per, dry := gcpMinCalls(st.work, false), gcpMinCalls(st.work, true)
		sr := gcpStageResult{name: st.name, real: fastest(reals[i]), dry: fastest(drys[i]), serial: fastest(serials[i]),
			min: times(per, n), dryMin: times(dry, n), floor: gcpQuotaFloor(per, res.quotas)}
		for j := range reals[i] {
			sr.realRuns = append(sr.realRuns, reals[i][j].Wall)
			sr.serialRuns = append(sr.serialRuns, serials[i][j].Wall)
		}
		res.stages = append(res.stages, sr)
	}
	return res
}

// ---- the children

// runGCPPostProcessor is runPostProcessor for the gcp backend: the
// emulator is the compute endpoint, reached with a static access token.
func runGCPPostProcessor(raw []byte) childOutput {
	var in ppInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return childOutput{Err: err.Error()}
	}
	in.Config["custom_endpoints"] = map[string]any{"compute": in.Endpoint + "compute/v1/"}
	in.Config["access_token"] = gcpToken
	return postProcess(in)
}

// gcpSerialInput is the GCP serial baseline's run.
type gcpSerialInput struct {
	Projects []string         `json:"projects"`
	Family   string           `json:"family"`
	Policy   lifecycle.Policy `json:"policy"`
	Endpoint string           `json:"endpoint"`
}

// runGCPSerial is the serial baseline on Compute Engine, the way a script
// would do it with google.golang.org/api/compute/v1: one project after
// another, one request in flight. Per project it lists the family (images.list
// with a label filter, paginated), plans with the same planner without
// usage, checks the usage of each image the plan would disable or delete
// (one disks.aggregatedList and one instanceTemplates.aggregatedList each),
// plans again with it, and then per decision makes images.deprecate (or
// images.delete), waits for its operation, and labels the stage with
// images.setLabels and waits again. Its retries are the backend's transport
// (gcp.Retrying, the same attempts).
func runGCPSerial(raw []byte) childOutput {
	var in gcpSerialInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return childOutput{Err: err.Error()}
	}
	ctx := context.Background()
	hc := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: gcpToken, TokenType: "Bearer"}),
		Base:   &gcpbackend.Retrying{Next: http.DefaultTransport, Attempts: gcpbackend.DefaultMaxRetries},
	}}
	svc, err := compute.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(in.Endpoint+"compute/v1/"), option.WithUserAgent("plc-bench-serial"))
	if err != nil {
		return childOutput{Err: err.Error()}
	}
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	for _, p := range in.Projects {
		if err := serialProject(ctx, svc, in, p, now); err != nil {
			return childOutput{Wall: time.Since(start), Err: fmt.Sprintf("%s: %v", p, err)}
		}
	}
	return childOutput{Wall: time.Since(start)}
}

func serialProject(ctx context.Context, svc *compute.Service, in gcpSerialInput, project string, now time.Time) error {
	fam, _ := gcpbackend.EncodeValue(lifecycle.TagFamily, in.Family)
	filter := fmt.Sprintf(`labels.%s = "%s"`, gcpbackend.LabelKey(lifecycle.TagFamily), fam)
	raw := map[string]*compute.Image{}
	var imgs []lifecycle.Image
	err := svc.Images.List(project).Filter(filter).MaxResults(gcpPage).Pages(ctx, func(page *compute.ImageList) error {
		for _, im := range page.Items {
			raw[im.Name] = im
			imgs = append(imgs, serialImage(project, im, now, in.Policy.ManagedBy))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("images.list: %w", err)
	}
	usage := lifecycle.Usage{}
	for _, d := range lifecycle.Plan(imgs, usage, in.Policy, now, nil) {
		if d.Action != lifecycle.ActionDisable && d.Action != lifecycle.ActionDeregister {
			continue
		}
		cs, err := serialUsage(ctx, svc, project, d.Image.ID)
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			usage[d.Image.Ref()] = cs
		}
	}
	stamp := time.Now().UTC().Format(time.RFC3339)
	for _, d := range lifecycle.Plan(imgs, usage, in.Policy, now, nil) {
		if !d.Action.Mutates() {
			continue
		}
		id := d.Image.ID
		var op *compute.Operation
		var err error
		switch d.Action {
		case lifecycle.ActionDeprecate:
			op, err = svc.Images.Deprecate(project, id, &compute.DeprecationStatus{State: "DEPRECATED", Deprecated: stamp}).Context(ctx).Do()
		case lifecycle.ActionDisable:
			st := &compute.DeprecationStatus{State: "OBSOLETE", Obsolete: stamp}
			if !d.Image.DeprecationTime.IsZero() {
				st.Deprecated = d.Image.DeprecationTime.UTC().Format(time.RFC3339)
			}
			op, err = svc.Images.Deprecate(project, id, st).Context(ctx).Do()
		case lifecycle.ActionDeregister:
			op, err = svc.Images.Delete(project, id).Context(ctx).Do()
		}
		if err == nil && op != nil {
			err = serialWait(ctx, svc, project, op)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", d.Action, id, err)
		}
		if d.Target() == lifecycle.StageDeregistered {
			continue
		}
		all := lifecycle.Tags(lifecycle.Apply(d.Image, d, now), "")
		want, err := gcpbackend.Labels(map[string]string{lifecycle.TagStage: all[lifecycle.TagStage], lifecycle.TagStageSince: all[lifecycle.TagStageSince]})
		if err != nil {
			return err
		}
		labels := maps.Clone(raw[id].Labels)
		maps.Copy(labels, want)
		op, err = svc.Images.SetLabels(project, id, &compute.GlobalSetLabelsRequest{Labels: labels, LabelFingerprint: raw[id].LabelFingerprint}).Context(ctx).Do()
		if err == nil {
			err = serialWait(ctx, svc, project, op)
		}
		if err != nil {
			return fmt.Errorf("labelling %s: %w", id, err)
		}
	}
	return nil
}

// serialImage reads an image as the backend does: state from its status
// and deprecation state, the lifecycle metadata from its labels.
func serialImage(project string, im *compute.Image, now time.Time, managedBy string) lifecycle.Image {
	img := lifecycle.Image{ID: im.Name, Region: project, Name: im.Name, Owner: project, Size: im.ArchiveSizeBytes}
	img.BuildTime, _ = time.Parse(time.RFC3339, im.CreationTimestamp)
	img.BuildTime = img.BuildTime.UTC()
	switch im.Status {
	case "READY":
		img.State = lifecycle.StateAvailable
	case "DELETING":
		img.State = lifecycle.StateDeregistered
	default:
		img.State = strings.ToLower(im.Status)
	}
	if d := im.Deprecated; d != nil && (d.State == "DEPRECATED" || d.State == "OBSOLETE" || d.State == "DELETED") {
		at, err := time.Parse(time.RFC3339, d.Deprecated)
		if err != nil || at.After(now) {
			at = now
		}
		img.DeprecationTime = at.UTC()
		if d.State != "DEPRECATED" && img.State == lifecycle.StateAvailable {
			img.State = lifecycle.StateDisabled
		}
	}
	tags, _ := gcpbackend.TagsFromLabels(im.Labels)
	img, _ = lifecycle.FromTags(img, tags)
	img.Managed = lifecycle.IsManaged(tags, managedBy)
	return img
}

// serialUsage asks who uses one image: instances through the disks made
// from it, and instance templates that name it.
func serialUsage(ctx context.Context, svc *compute.Service, project, name string) ([]lifecycle.Consumer, error) {
	suffix := "projects/" + project + "/global/images/" + name
	var out []lifecycle.Consumer
	err := svc.Disks.AggregatedList(project).MaxResults(gcpPage).Pages(ctx, func(page *compute.DiskAggregatedList) error {
		for _, l := range page.Items {
			for _, d := range l.Disks {
				if strings.HasSuffix(d.SourceImage, suffix) {
					for _, u := range d.Users {
						out = append(out, lifecycle.Consumer{Kind: lifecycle.ConsumerInstance, ID: u})
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("disks.aggregatedList: %w", err)
	}
	err = svc.InstanceTemplates.AggregatedList(project).MaxResults(gcpPage).Pages(ctx, func(page *compute.InstanceTemplateAggregatedList) error {
		for _, l := range page.Items {
			for _, t := range l.InstanceTemplates {
				if t.Properties == nil {
					continue
				}
				for _, d := range t.Properties.Disks {
					if d.InitializeParams != nil && strings.HasSuffix(d.InitializeParams.SourceImage, suffix) {
						out = append(out, lifecycle.Consumer{Kind: gcpbackend.ConsumerInstanceTemplate, ID: t.Name})
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("instanceTemplates.aggregatedList: %w", err)
	}
	return out, nil
}

func serialWait(ctx context.Context, svc *compute.Service, project string, op *compute.Operation) error {
	for op.Status != "DONE" {
		var err error
		if op, err = svc.GlobalOperations.Wait(project, op.Name).Context(ctx).Do(); err != nil {
			return fmt.Errorf("globalOperations.wait: %w", err)
		}
	}
	if op.Error != nil && len(op.Error.Errors) > 0 {
		return fmt.Errorf("operation %s: %s: %s", op.Name, op.Error.Errors[0].Code, op.Error.Errors[0].Message)
	}
	return nil
}
