package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// EC2 shows an account only its own resources (DescribeImageReferences).
// Who else uses an AMI shared with other accounts, EC2 says in an image
// usage report: other accounts' instances and launch templates, built
// asynchronously on request and kept 30 days. The shell asks OtherUsage
// about the AMIs a first plan would disable or deregister; it asks EC2 for
// the reports it lacks, waits for them a while and reads them, and keeps
// an AMI whose report is missing or not finished.

// UsageReports configures the lookups of other accounts' use.
type UsageReports struct {
	// Skip turns them off: other accounts' use is then not checked.
	Skip bool
	// Wait is how long ReportUsage waits for the reports it asked for; an
	// image whose report is not finished by then is kept this run, and the
	// next run reads the report.
	Wait time.Duration
	// MaxAge is how old a report may be to decide on: usage changes, and
	// a report is a picture of the moment it was made.
	MaxAge time.Duration
}

// Defaults of UsageReports.
const (
	DefaultUsageReportWait   = 10 * time.Minute
	DefaultUsageReportMaxAge = 24 * time.Hour
	// usageReportLifetime is EC2's: a report expires 30 days after it is made.
	usageReportLifetime = 30 * 24 * time.Hour
	// maxReportImages bounds the ImageIds of one DescribeImageUsageReports.
	maxReportImages = 200
)

// usageReportTypes are the resource types a report covers: all EC2 has,
// and every version of a launch template (EC2 looks at 20 unless told),
// as DescribeImageReferences does for our own account.
var usageReportTypes = []types.ImageUsageResourceTypeRequest{
	{ResourceType: aws.String("ec2:Instance")},
	{ResourceType: aws.String("ec2:LaunchTemplate"), ResourceTypeOptions: []types.ImageUsageResourceTypeOptionRequest{
		{OptionName: aws.String("version-depth"), OptionValues: []string{"10000"}}}},
}

var _ backend.OtherUsage = (*Backend)(nil)

// report is the newest usable usage report of an image.
type report struct {
	id      string
	pending bool
	created time.Time
}

// OtherUsage finds, region by region in parallel, who in other accounts
// uses each of the images that are shared: a disabled one by the launch
// permissions it had (saved in a tag when it was disabled), another by
// its launch permissions now (one DescribeImageAttribute each). It reads
// each one's newest report younger than MaxAge; unless dryRun, it first
// asks EC2 for a report of each that has none (finished or not) and waits
// up to Wait for the unfinished. It fails closed: no finished report, or
// a lookup that fails, makes the image used by a lifecycle.ConsumerUnknown
// that says why.
func (b *Backend) OtherUsage(ctx context.Context, images []lifecycle.Image, dryRun bool) (lifecycle.Usage, []string) {
	u := lifecycle.Usage{}
	if b.opts.UsageReports.Skip {
		return u, nil
	}
	var mu sync.Mutex
	var lines []string
	say := func(format string, args ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	regions, idx := backend.ByRegion(len(images), func(i int) string { return images[i].Region })
	b.eachRegion(ctx, regions, func(ctx context.Context, region string) {
		found := b.regionOtherUsage(ctx, region, pick(images, idx[region]), dryRun, func(format string, args ...any) {
			say(region+": "+format, args...)
		})
		mu.Lock()
		for _, f := range found {
			ref := lifecycle.Ref{Region: region, ID: f.image}
			u[ref] = append(u[ref], f.consumer)
		}
		mu.Unlock()
	})
	slices.Sort(lines)
	return u, lines
}

func (b *Backend) regionOtherUsage(ctx context.Context, region string, images []lifecycle.Image, dryRun bool, say func(string, ...any)) []use {
	var out []use
	unknown := func(id, why string) {
		out = append(out, use{id, lifecycle.Consumer{Kind: lifecycle.ConsumerUnknown, ID: "other accounts: " + why}})
	}
	rc := b.client(region)
	cl := rc.ec2
	shared, errs := b.sharedOnes(ctx, rc, images)
	for id, err := range errs {
		unknown(id, err.Error())
	}
	if len(shared) == 0 {
		return out
	}
	have, err := b.reports(ctx, cl, shared)
	if err != nil {
		for _, id := range shared {
			unknown(id, err.Error())
		}
		return out
	}
	if !dryRun {
		have = b.askForReports(ctx, cl, shared, have, say)
	}
	var ready []string
	byReport := map[string]string{}
	for _, id := range shared {
		r, ok := have[id]
		switch {
		case !ok:
			// Kept short: a reason shows 64 characters of it.
			unknown(id, fmt.Sprintf("no usage report under %s old (a run asks)", lifecycle.FormatDuration(b.opts.UsageReports.MaxAge)))
		case r.pending:
			unknown(id, fmt.Sprintf("usage report %s unfinished", r.id))
		default:
			ready = append(ready, r.id)
			byReport[r.id] = id
		}
	}
	for chunk := range slices.Chunk(ready, maxReportImages) {
		found, err := entries(ctx, cl, chunk)
		if err != nil {
			for _, rid := range chunk {
				unknown(byReport[rid], err.Error())
			}
			continue
		}
		for _, e := range found {
			if id, ok := byReport[aws.ToString(e.ReportId)]; ok {
				out = append(out, use{id, reportConsumer(e)})
			}
		}
	}
	return out
}

// askForReports creates a report of every image without one, waits up to
// Wait for the unfinished, and returns the reports as they are then.
func (b *Backend) askForReports(ctx context.Context, cl ec2Client, ids []string, have map[string]report, say func(string, ...any)) map[string]report {
	var asked, pending []string
	for _, id := range ids {
		r, ok := have[id]
		if ok {
			if r.pending {
				pending = append(pending, r.id)
			}
			continue
		}
		out, err := cl.CreateImageUsageReport(ctx, &ec2.CreateImageUsageReportInput{ImageId: aws.String(id), ResourceTypes: usageReportTypes,
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImageUsageReport,
				Tags: []types.Tag{{Key: aws.String(lifecycle.TagManagedBy), Value: aws.String(b.opts.ManagedBy)}}}}})
		if err != nil {
			say("%s: asking for its usage report failed, so it is kept: %v", id, wrap("CreateImageUsageReport", err))
			continue
		}
		asked = append(asked, id)
		pending = append(pending, aws.ToString(out.ReportId))
	}
	if len(asked) > 0 {
		say("asked EC2 for usage reports (other accounts' instances and launch templates) of %d shared AMIs: %s", len(asked), strings.Join(asked, ", "))
	}
	if len(pending) == 0 || b.opts.UsageReports.Wait <= 0 {
		return b.rereadReports(ctx, cl, ids, have)
	}
	w := ec2.NewImageUsageReportAvailableWaiter(cl, func(o *ec2.ImageUsageReportAvailableWaiterOptions) {
		o.MinDelay = min(15*time.Second, b.opts.UsageReports.Wait)
	})
	if err := w.Wait(ctx, &ec2.DescribeImageUsageReportsInput{ReportIds: pending}, b.opts.UsageReports.Wait); err != nil {
		say("%d usage reports not finished after %s (%v): their AMIs are kept this run, the next run reads them",
			len(pending), lifecycle.FormatDuration(b.opts.UsageReports.Wait), err)
	}
	return b.rereadReports(ctx, cl, ids, have)
}

// rereadReports reads the reports again after some were asked for or waited on;
// if that fails, what was known before stands (the new ones then count as
// missing: kept).
func (b *Backend) rereadReports(ctx context.Context, cl ec2Client, ids []string, have map[string]report) map[string]report {
	now, err := b.reports(ctx, cl, ids)
	if err != nil {
		return have
	}
	return now
}

func pick(images []lifecycle.Image, idx []int) []lifecycle.Image {
	out := make([]lifecycle.Image, len(idx))
	for k, i := range idx {
		out[k] = images[i]
	}
	return out
}

// sharedOnes are the ids of the images shared with other accounts, in the
// order given. An image whose launch permissions cannot be read is in errs;
// those read are kept for the disable that may follow (see act). The reads
// (one DescribeImageAttribute an image: EC2 has no batch form) go several
// at once (inFlight).
func (b *Backend) sharedOnes(ctx context.Context, rc *regionClients, images []lifecycle.Image) (shared []string, errs map[string]error) {
	var read []lifecycle.Image // whose launch permissions are read
	has := map[string]bool{}   // shared, by id; an image read is absent until then
	for _, img := range images {
		if _, seen := has[img.ID]; seen || !amiRE.MatchString(img.ID) || img.State == lifecycle.StateDeregistered {
			continue
		}
		if img.State == lifecycle.StateDisabled || img.Stage == lifecycle.StageDisabled {
			// EC2 dropped its permissions: those it had are in the tag.
			has[img.ID] = img.Tags[TagLaunchPermissions] != ""
			continue
		}
		has[img.ID] = false
		read = append(read, img)
	}
	failed, sharing := make([]error, len(read)), make([]bool, len(read))
	rc.inFlight(len(read), func(k int) {
		img := read[k]
		attr, err := rc.ec2.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(img.ID), Attribute: types.ImageAttributeNameLaunchPermission})
		if err != nil {
			failed[k] = wrap("DescribeImageAttribute", err)
			return
		}
		b.keepPerms(img.Ref(), attr.LaunchPermissions)
		sharing[k] = len(attr.LaunchPermissions) > 0
	})
	for k, err := range failed {
		has[read[k].ID] = sharing[k]
		if err != nil {
			if errs == nil {
				errs = map[string]error{}
			}
			errs[read[k].ID] = err
		}
	}
	for _, img := range images {
		if has[img.ID] && !slices.Contains(shared, img.ID) {
			shared = append(shared, img.ID)
		}
	}
	return shared, errs
}

// reports finds each image's newest report younger than MaxAge: a
// finished one if there is, else one still being made.
func (b *Backend) reports(ctx context.Context, cl ec2Client, ids []string) (map[string]report, error) {
	out := map[string]report{}
	oldest := b.now().Add(-b.opts.UsageReports.MaxAge)
	for chunk := range slices.Chunk(ids, maxReportImages) {
		p := ec2.NewDescribeImageUsageReportsPaginator(cl, &ec2.DescribeImageUsageReportsInput{ImageIds: chunk})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, wrap("DescribeImageUsageReports", err)
			}
			for _, r := range page.ImageUsageReports {
				created := aws.ToTime(r.CreationTime)
				state := aws.ToString(r.State)
				if created.Before(oldest) || state != "available" && state != "pending" || !covers(r) {
					continue
				}
				next := report{id: aws.ToString(r.ReportId), pending: state == "pending", created: created}
				cur, seen := out[aws.ToString(r.ImageId)]
				// A finished report beats an unfinished one; then the newer.
				if !seen || cur.pending && !next.pending || cur.pending == next.pending && next.created.After(cur.created) {
					out[aws.ToString(r.ImageId)] = next
				}
			}
		}
	}
	return out, nil
}

// covers says whether a report counts every account's instances and
// launch templates (one made by hand may cover less).
func covers(r types.ImageUsageReport) bool {
	if len(r.AccountIds) > 0 {
		return false
	}
	var got []string
	for _, t := range r.ResourceTypes {
		got = append(got, aws.ToString(t.ResourceType))
	}
	return slices.Contains(got, "ec2:Instance") && slices.Contains(got, "ec2:LaunchTemplate")
}

// entries reads the entries of finished reports.
func entries(ctx context.Context, cl ec2Client, reportIDs []string) ([]types.ImageUsageReportEntry, error) {
	var out []types.ImageUsageReportEntry
	p := ec2.NewDescribeImageUsageReportEntriesPaginator(cl, &ec2.DescribeImageUsageReportEntriesInput{ReportIds: reportIDs})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap("DescribeImageUsageReportEntries", err)
		}
		out = append(out, page.ImageUsageReportEntries...)
	}
	return out, nil
}

// reportConsumer names an entry: how many of which resource, in which
// account, per which report.
func reportConsumer(e types.ImageUsageReportEntry) lifecycle.Consumer {
	n := aws.ToInt64(e.UsageCount)
	kind, what := lifecycle.ConsumerInstance, "instance"
	if aws.ToString(e.ResourceType) == "ec2:LaunchTemplate" {
		kind, what = lifecycle.ConsumerLaunchTemplate, "launch template"
	}
	if n != 1 {
		what += "s"
	}
	return lifecycle.Consumer{Kind: kind, ID: fmt.Sprintf("%d %s per usage report %s", n, what, aws.ToString(e.ReportId)), Account: aws.ToString(e.AccountId)}
}
