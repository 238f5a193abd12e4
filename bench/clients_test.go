//go:build bench

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	awsbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/aws"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/timescale"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/post-processor/release"
)

// ppInput is one run of the real post-processor, configured as a template
// would, on an artifact (an amazon-ebs one, or the null builder's for a
// sweep).
type ppInput struct {
	Config     map[string]any `json:"config"`
	BuilderID  string         `json:"builderId"`
	ArtifactID string         `json:"artifactId"`
	Endpoint   string         `json:"endpoint"`
	Scale      float64        `json:"scale"`
}

// useEndpoint points the clients the configuration cannot name (Auto
// Scaling, SSM) at the emulator; hermetic.Main cleared the environment.
func useEndpoint(url string) {
	for _, k := range []string{"AWS_ENDPOINT_URL_AUTO_SCALING", "AWS_ENDPOINT_URL_AUTOSCALING", "AWS_ENDPOINT_URL_SSM"} {
		os.Setenv(k, url)
	}
}

func runPostProcessor(raw []byte) childOutput {
	var in ppInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return childOutput{Err: err.Error()}
	}
	timescale.Set(in.Scale)
	useEndpoint(in.Endpoint)
	in.Config["custom_endpoint_ec2"] = in.Endpoint
	return postProcess(in)
}

// postProcess configures the post-processor with in.Config and runs it on
// in's artifact, timed.
func postProcess(in ppInput) childOutput {
	var p release.PostProcessor
	if err := p.Configure(in.Config); err != nil {
		return childOutput{Err: "configure: " + err.Error()}
	}
	var errs bytes.Buffer
	ui := &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: io.Discard, ErrorWriter: &errs}
	art := &packersdk.MockArtifact{BuilderIdValue: in.BuilderID, IdValue: in.ArtifactID,
		StateValues: map[string]interface{}{"generated_data": map[interface{}]interface{}{}}}
	start := time.Now()
	_, _, _, err := p.PostProcess(context.Background(), ui, art)
	out := childOutput{Wall: time.Since(start)}
	if err != nil {
		out.Err = fmt.Sprintf("%v\n%s", err, errs.String())
	}
	return out
}

// serialInput is the serial baseline's run: the same decisions as the
// post-processor's, the way the common peer post-processor makes them.
type serialInput struct {
	Regions  []string          `json:"regions"`
	Family   string            `json:"family"`
	Version  string            `json:"version,omitempty"` // with Fresh: the new build's
	Fresh    map[string]string `json:"fresh,omitempty"`   // region -> the new build's AMI
	Policy   lifecycle.Policy  `json:"policy"`
	Endpoint string            `json:"endpoint"`
	Scale    float64           `json:"scale"`
}

// runSerial is the serial baseline: one region after another, one request
// in flight, one call per image and no batching. Per region it lists the
// family with the backend (paginated), records the new build if there is
// one, plans without usage, looks up the usage of each image the plan would
// disable or deregister (one DescribeImageReferences per image), plans
// again with it, and then per decision makes the EC2 call and one
// CreateTags for that image's stage.
func runSerial(raw []byte) childOutput {
	var in serialInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return childOutput{Err: err.Error()}
	}
	timescale.Set(in.Scale)
	useEndpoint(in.Endpoint)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	for _, region := range in.Regions {
		if err := serialRegion(ctx, in, region, now); err != nil {
			return childOutput{Wall: time.Since(start), Err: fmt.Sprintf("%s: %v", region, err)}
		}
	}
	return childOutput{Wall: time.Since(start)}
}

func serialRegion(ctx context.Context, in serialInput, region string, now time.Time) error {
	cfg, err := awsbackend.LoadConfig(ctx, awsbackend.AccessConfig{Region: region})
	if err != nil {
		return err
	}
	clock := func() time.Time { return now }
	be := awsbackend.New(awsbackend.Options{Config: cfg, EC2Endpoint: in.Endpoint, Parallel: 1}, clock)
	cl := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(in.Endpoint) })

	var fresh []lifecycle.Image
	if ami := in.Fresh[region]; ami != "" {
		rel := lifecycle.Image{Name: in.Family + "-" + in.Version, Family: in.Family, Channel: "stable", Version: in.Version,
			BuildTime: now, ReleasedAt: now, Stage: lifecycle.StageActive, StageSince: now, State: lifecycle.StateAvailable,
			Managed: true, Tags: map[string]string{lifecycle.TagManagedBy: in.Policy.ManagedBy}}
		imgs, err := be.NewReleases(&packersdk.MockArtifact{BuilderIdValue: "mitchellh.amazonebs", IdValue: region + ":" + ami}, rel)
		if err != nil {
			return err
		}
		imgs[0].State = backend.StatePending
		if err := record(ctx, be, imgs); err != nil {
			return err
		}
		fresh = imgs
	}
	l, err := be.List(ctx, backend.Query{Family: in.Family})
	if err != nil {
		return err
	}
	if len(l.Failed) > 0 {
		return l.Failed[0]
	}
	var refs []lifecycle.Ref
	for _, f := range fresh {
		refs = append(refs, f.Ref())
		for i := range l.Images {
			if l.Images[i].Ref() == f.Ref() {
				l.Images[i].State = lifecycle.StateAvailable
			}
		}
	}
	usage := lifecycle.Usage{}
	for _, d := range lifecycle.Plan(l.Images, usage, in.Policy, now, refs) {
		if d.Action != lifecycle.ActionDisable && d.Action != lifecycle.ActionDeregister {
			continue
		}
		out, err := cl.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{d.Image.ID}, ResourceTypes: []types.ResourceTypeRequest{
			{ResourceType: types.ImageReferenceResourceTypeEc2Instance}, {ResourceType: types.ImageReferenceResourceTypeEc2LaunchTemplate},
			{ResourceType: types.ImageReferenceResourceTypeSsmParameter}, {ResourceType: types.ImageReferenceResourceTypeImageBuilderImageRecipe},
		}})
		if err != nil {
			return err
		}
		for _, r := range out.ImageReferences {
			usage[d.Image.Ref()] = append(usage[d.Image.Ref()], lifecycle.Consumer{Kind: lifecycle.ConsumerInstance, ID: aws.ToString(r.Arn)})
		}
	}
	for _, d := range lifecycle.Plan(l.Images, usage, in.Policy, now, refs) {
		if !d.Action.Mutates() {
			continue
		}
		id := aws.String(d.Image.ID)
		switch d.Action {
		case lifecycle.ActionDeprecate:
			_, err = cl.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: id, DeprecateAt: aws.Time(time.Now().UTC().Add(2 * time.Minute).Truncate(time.Minute))})
		case lifecycle.ActionDisable:
			_, err = cl.DisableImage(ctx, &ec2.DisableImageInput{ImageId: id})
		case lifecycle.ActionDeregister:
			_, err = cl.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: id, DeleteAssociatedSnapshots: aws.Bool(d.DeleteSnapshots && len(d.Image.Snapshots) > 0)})
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", d.Action, d.Image.ID, err)
		}
		if d.Target() == lifecycle.StageDeregistered {
			continue
		}
		all := lifecycle.Tags(lifecycle.Apply(d.Image, d, now), "")
		if _, err := cl.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{d.Image.ID}, Tags: []types.Tag{
			{Key: aws.String(lifecycle.TagStage), Value: aws.String(all[lifecycle.TagStage])},
			{Key: aws.String(lifecycle.TagStageSince), Value: aws.String(all[lifecycle.TagStageSince])},
		}}); err != nil {
			return fmt.Errorf("tagging %s: %w", d.Image.ID, err)
		}
	}
	for i := range fresh {
		fresh[i].State = lifecycle.StateAvailable
	}
	return record(ctx, be, fresh)
}

func record(ctx context.Context, be *awsbackend.Backend, imgs []lifecycle.Image) error {
	for _, img := range imgs {
		for _, r := range be.Record(ctx, []lifecycle.Image{img}, false) {
			if r.Err != nil {
				return r.Err
			}
		}
	}
	return nil
}
