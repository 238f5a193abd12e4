package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/backendtest"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/store"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// safeUI records lines from the accounts' runs, which say things at once.
type safeUI struct {
	*packersdk.MockUi
	mu    sync.Mutex
	lines []string
}

func (u *safeUI) add(s string)     { u.mu.Lock(); defer u.mu.Unlock(); u.lines = append(u.lines, s) }
func (u *safeUI) Say(s string)     { u.add(s) }
func (u *safeUI) Message(s string) { u.add(s) }
func (u *safeUI) Error(s string)   { u.add(s) }

// listingTogether is a fake whose List waits until every account's run
// is listing: a sweep that ran the accounts one after the other would
// never get past the first.
type listingTogether struct {
	*backendtest.Fake
	arrived *sync.WaitGroup
	all     chan struct{}
}

func (l listingTogether) List(ctx context.Context, q backend.Query) (backend.Listing, error) {
	l.arrived.Done()
	select {
	case <-l.all:
	case <-time.After(30 * time.Second):
		return backend.Listing{}, errors.New("the other accounts never started listing: they are not swept at once")
	}
	return l.Fake.List(ctx, q)
}

// TestOrganisationSweepRunsAccountsAtOnce: each account of `accounts` is
// a run of its own on a backend of its own, all at once; an account whose
// backend cannot be opened (its role not assumed) is reported, fails the
// run, and stops no other; one report gathers them, each decision naming
// its account, and the summary adds them up.
func TestOrganisationSweepRunsAccountsAtOnce(t *testing.T) {
	now := day0
	accounts := []string{"210000000001", "210000000002", "210000000003"}
	fakes := map[string]*backendtest.Fake{}
	var arrived sync.WaitGroup
	arrived.Add(2)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	for i, acc := range accounts[:2] {
		f := backendtest.NewFake(func() time.Time { return now })
		for v, stage := range map[string]lifecycle.Stage{"1.0.0": lifecycle.StageActive, "1.1.0": lifecycle.StageActive} {
			img := lifecycle.Image{ID: fmt.Sprintf("ami-%d-%s", i, v), Region: "r" + acc, Name: "web-" + v, Family: "web", Channel: "stable", Version: v,
				Managed: true, State: lifecycle.StateAvailable, Stage: stage, BuildTime: now.Add(-30 * 24 * time.Hour), ReleasedAt: now.Add(-30 * 24 * time.Hour),
				StageSince: now.Add(-30 * 24 * time.Hour), Tags: map[string]string{lifecycle.TagManagedBy: lifecycle.DefaultManagedBy}}
			if v == "1.1.0" {
				img.BuildTime = img.BuildTime.Add(time.Hour)
			}
			f.Images[img.Ref()] = img
		}
		fakes[acc] = f
	}
	old := openBackend
	t.Cleanup(func() { openBackend = old })
	var mu sync.Mutex
	opened := map[string]int{}
	var owners []string
	openBackend = func(c store.Config, _ func() time.Time) (backend.Backend, error) {
		acc := c.Region[len("r"):] // each account's one region names it here
		mu.Lock()
		opened[acc]++
		owners = append(owners, c.Owners...)
		mu.Unlock()
		if f := fakes[acc]; f != nil {
			return listingTogether{Fake: f, arrived: &arrived, all: all}, nil
		}
		return nil, errors.New("assuming arn:aws:iam::" + acc + ":role/sweeper: AccessDenied")
	}
	var raw []map[string]interface{}
	for _, acc := range accounts {
		raw = append(raw, map[string]interface{}{
			"assume_role": map[string]interface{}{"role_arn": "arn:aws:iam::" + acc + ":role/sweeper"},
			"regions":     []string{"us-east-1"},
		})
	}
	// Regions must be region names at validate; the fake opener reads
	// the account from a region made of it instead, set after Configure.
	dir := t.TempDir()
	t.Setenv(clock.Env, now.Format(time.RFC3339))
	var p PostProcessor
	require.NoError(t, p.Configure(map[string]interface{}{"family": "web", "sweep": true, "backend": "aws", "keep_releases": 1, "min_age": "0s",
		"allow_simulated_time": true, "catalog_dir": filepath.Join(dir, "catalog"), "report_path": filepath.Join(dir, "org.json"), "accounts": raw}))
	for i, acc := range accounts {
		p.config.Accounts[i].Regions = []string{"r" + acc}
	}
	u := &safeUI{MockUi: &packersdk.MockUi{}}
	_, _, _, err := p.PostProcess(context.Background(), u, &packersdk.MockArtifact{})
	require.ErrorContains(t, err, "account 210000000003: assuming arn:aws:iam::210000000003:role/sweeper: AccessDenied")
	require.Equal(t, map[string]int{"210000000001": 1, "210000000002": 1, "210000000003": 1}, opened)
	require.Empty(t, owners, "each account retires only what it owns")

	for _, acc := range accounts[:2] {
		require.Len(t, fakes[acc].Applied, 1, "account %s was swept", acc)
		require.Equal(t, "1.0.0", fakes[acc].Applied[0].Image.Version)
		require.Equal(t, lifecycle.ActionDeprecate, fakes[acc].Applied[0].Action)
	}
	var rep report.Report
	data, err := os.ReadFile(filepath.Join(dir, "org.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	require.Equal(t, []report.Account{
		{Account: "210000000001", RoleARN: "arn:aws:iam::210000000001:role/sweeper", Status: "swept"},
		{Account: "210000000002", RoleARN: "arn:aws:iam::210000000002:role/sweeper", Status: "swept"},
		{Account: "210000000003", RoleARN: "arn:aws:iam::210000000003:role/sweeper", Status: "failed",
			Error: "assuming arn:aws:iam::210000000003:role/sweeper: AccessDenied"},
	}, rep.Accounts)
	got := map[string]string{}
	for _, e := range rep.Decisions {
		got[e.Account+" "+e.Version] = string(e.Action) + " " + e.Status
	}
	require.Equal(t, map[string]string{
		"210000000001 1.0.0": "deprecate done", "210000000001 1.1.0": "keep none",
		"210000000002 1.0.0": "deprecate done", "210000000002 1.1.0": "keep none",
	}, got)
	require.Equal(t, 2, rep.Summary.Actions[lifecycle.ActionDeprecate])
	require.Equal(t, "aws", rep.Backend)
	require.Contains(t, u.lines, "account 210000000001: Listing family web")
	require.Contains(t, u.lines, "account 210000000003: assuming arn:aws:iam::210000000003:role/sweeper: AccessDenied")
	require.Contains(t, u.lines, "Swept 2 of 3 accounts; "+rep.Totals())
}

// TestRunRevokesAcrossFamiliesAndRestores: a revoke sweep lists every
// family, deprecates the release and its descendants, leaves the other
// families' untouched releases out of the report, refuses an id it cannot
// find before touching anything, and a restore of the ids finds them in
// their families.
func TestRunRevokesAcrossFamiliesAndRestores(t *testing.T) {
	s := newShell(t)
	put := func(id, family, version, parent string) {
		img := lifecycle.Image{ID: id, Region: "fake", Name: id, Family: family, Channel: "stable", Version: version, Parent: parent,
			Managed: true, State: lifecycle.StateAvailable, Stage: lifecycle.StageActive, BuildTime: s.now.Add(-time.Hour), StageSince: s.now.Add(-time.Hour),
			Tags: map[string]string{lifecycle.TagManagedBy: lifecycle.DefaultManagedBy}}
		s.fake.Images[img.Ref()] = img
	}
	put("base-1", "web", "1.0.0", "")
	put("base-2", "web", "1.1.0", "")
	put("app-1", "app", "2.0.0", "base-2")
	put("app-0", "app", "1.9.0", "base-1")
	sweep := func(extra map[string]interface{}) (map[string]string, error) {
		s.now = s.now.Add(time.Minute) // a report file of its own
		raw := map[string]interface{}{"family": "web", "sweep": true, "keep_releases": 1}
		for k, v := range extra {
			raw[k] = v
		}
		_, _, _, err := s.run(raw, "x")
		out := map[string]string{}
		if r := s.reports(); len(r) > 0 {
			for _, e := range r[len(r)-1].Decisions {
				out[e.ID] = string(e.Action) + " " + e.Status
			}
		}
		return out, err
	}
	_, err := sweep(map[string]interface{}{"revoke": []string{"missing"}, "revoke_reason": "CVE"})
	require.ErrorContains(t, err, "revoke: no release missing in any family the backend covers")
	require.Empty(t, s.fake.Applied)

	got, err := sweep(map[string]interface{}{"revoke": []string{"base-2"}, "revoke_descendants": true, "revoke_reason": "CVE"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"base-1": "keep none", "base-2": "deprecate done", "app-1": "deprecate done"}, got)
	require.Zero(t, s.fake.Calls["usage"], "a revocation asks about no usage")

	got, err = sweep(map[string]interface{}{"restore": []string{"base-2", "app-1"}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"base-1": "keep none", "base-2": "restore done", "app-1": "restore done"}, got)
	require.Equal(t, lifecycle.StageActive, s.fake.Images[lifecycle.Ref{Region: "fake", ID: "app-1"}].Stage)
}
