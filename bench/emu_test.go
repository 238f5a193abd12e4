//go:build bench

package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// latency is the per-call latency the issue asks for, at EC2 speed.
const latency = 20 * time.Millisecond

// switchable serves the emulator of the moment on one loopback address, so
// each sequence of runs starts from a fresh state.
type switchable struct {
	cur atomic.Pointer[ec2emu.Server]
	url string
}

func newSwitchable() (*switchable, func()) {
	sw := &switchable{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sw.cur.Load().ServeHTTP(w, r) }))
	sw.url = hs.URL
	return sw, hs.Close
}

// fresh installs an empty emulator whose buckets refill k times faster than
// EC2's (bursts as EC2's) and whose latency is k times shorter.
func (sw *switchable) fresh(k float64) (*ec2emu.Server, ec2emu.RateLimits) {
	s := ec2emu.New()
	s.SetFault(ec2emu.Fault{Probability: 1, Kind: ec2emu.LatencyOnly, Latency: time.Duration(float64(latency) / k)})
	sw.cur.Store(s)
	return s, scaledLimits(k)
}

func scaledLimits(k float64) ec2emu.RateLimits {
	l := ec2emu.DefaultRateLimits()
	for _, b := range []*ec2emu.Bucket{&l.Describe, &l.Mutating, &l.Tags, &l.Delete, &l.CopyImage} {
		b.Rate *= k
	}
	return l
}

// ami is one AMI to seed: its family, version, build time and where it
// stands.
type ami struct {
	family, version string
	built, since    time.Time
	stage           lifecycle.Stage
}

// seed stores EBS AMIs (one snapshot each) with their lifecycle tags, as
// the post-processor records them, and returns their ids in order.
func seed(s *ec2emu.Server, region string, rels []ami) []string {
	ids := make([]string, len(rels))
	s.Update(func(st *ec2emu.State) {
		r := st.Region(region)
		for i, rel := range rels {
			snap := &ec2emu.Snapshot{ID: st.NewID("snap"), OwnerID: ec2emu.DefaultAccount, VolumeSize: 8, State: "completed", StartTime: rel.built}
			r.Snapshots[snap.ID] = snap
			img := &ec2emu.Image{ID: st.NewID("ami"), Name: rel.family + "-" + rel.version, OwnerID: ec2emu.DefaultAccount, State: "available",
				CreationDate: rel.built, Architecture: "x86_64", VirtualizationType: "hvm", RootDeviceName: "/dev/xvda", RootDeviceType: "ebs",
				BlockDevices: []ec2emu.BlockDevice{{DeviceName: "/dev/xvda", SnapshotID: snap.ID, VolumeSize: 8, VolumeType: "gp3", DeleteOnTermination: true}}}
			r.Images[img.ID] = img
			ids[i] = img.ID
			if rel.family == "" {
				continue // a new build, not recorded yet
			}
			switch rel.stage {
			case lifecycle.StageDisabled:
				img.State = "disabled"
				fallthrough
			case lifecycle.StageDeprecated:
				at := rel.since.Truncate(time.Minute)
				img.DeprecationTime = &at
			}
			r.Tags[img.ID] = map[string]string{
				lifecycle.TagFamily: rel.family, lifecycle.TagVersion: rel.version, lifecycle.TagChannel: "stable",
				lifecycle.TagManagedBy: lifecycle.DefaultManagedBy, lifecycle.TagStage: string(rel.stage),
				lifecycle.TagStageSince: rel.since.Format(time.RFC3339), lifecycle.TagReleasedAt: rel.built.Format(time.RFC3339),
			}
		}
	})
	return ids
}

// use makes an instance (even i) or a launch template (odd i) use each id.
func use(s *ec2emu.Server, region string, ids []string, now time.Time) {
	s.Update(func(st *ec2emu.State) {
		r := st.Region(region)
		for i, id := range ids {
			if i%2 == 0 {
				inst := &ec2emu.Instance{ID: st.NewID("i"), ReservationID: st.NewID("r"), OwnerID: ec2emu.DefaultAccount, ImageID: id,
					InstanceType: "t3.micro", State: "running", LaunchTime: now, AZ: region + "a"}
				r.Instances[inst.ID] = inst
				continue
			}
			lt := &ec2emu.LaunchTemplate{ID: st.NewID("lt"), Name: fmt.Sprintf("lt-%d", i), OwnerID: ec2emu.DefaultAccount, CreateTime: now,
				DefaultVersion: 1, LatestVersion: 1, Versions: []*ec2emu.TemplateVersion{{Number: 1, CreateTime: now, ImageID: id, InstanceType: "t3.micro"}}}
			r.LaunchTemplates[lt.ID] = lt
		}
	})
}

// measured is one run: its wall time, the calls EC2 accepted and the ones
// it throttled (by operation, all regions), the peak of requests in flight
// and the client's peak RSS.
type measured struct {
	Wall      time.Duration
	Calls     map[string]int
	Throttled map[string]int
	ByRegion  map[string]map[string]int // accepted calls
	Peak      ec2emu.PeakInFlight
	RSS       int64         // KiB
	CPU       time.Duration // the client's, user + system
	EmuCPU    time.Duration // the emulator's (the benchmark process's)
}

func (m measured) total() int { return sum(m.Calls) }

func (m measured) peakRegion() int {
	n := 0
	for _, p := range m.Peak.Regions {
		n = max(n, p)
	}
	return n
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// collect reads the emulator's counters after a run.
func collect(s *ec2emu.Server, wall time.Duration, u usage) measured {
	m := measured{Wall: wall, RSS: u.rss, CPU: u.cpu, Calls: map[string]int{}, Throttled: map[string]int{}, ByRegion: map[string]map[string]int{}, Peak: s.InFlightPeak()}
	throttled := s.ThrottleSnapshot()
	for region, acts := range s.Snapshot() {
		m.ByRegion[region] = map[string]int{}
		for a, n := range acts {
			t := throttled[region][a]
			m.Calls[a] += n - t
			m.Throttled[a] += t
			m.ByRegion[region][a] = n - t
		}
	}
	return m
}

// fastest is the run with the least wall time, with the least RSS of all.
func fastest(runs []measured) measured {
	best := runs[0]
	for _, r := range runs[1:] {
		if r.Wall < best.Wall {
			best, best.RSS = r, min(best.RSS, r.RSS)
		} else {
			best.RSS = min(best.RSS, r.RSS)
		}
	}
	return best
}

func ops(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
