package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
)

// TestAWSOrganisationSweep: one sweep through the real Packer covers the
// member accounts it names, each through its own role (assumed with the
// hub role's credentials), its own regions and only the AMIs it owns, into
// one report. An account whose role cannot be assumed is reported and
// fails the run, after the others were swept; the caller's own account is
// not listed and is left alone. The dry run before changes nothing.
func TestAWSOrganisationSweep(t *testing.T) {
	a := newAWSRun(t, time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	body, err := os.ReadFile(filepath.Join("testdata", "aws", "org.pkr.hcl"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(a.dir, "org.pkr.hcl"), body, 0o644))
	const hub, memberA, memberB, memberC = "200000000000", "210000000001", "210000000002", "210000000003"
	a.s.AddRole("arn:aws:iam::"+hub+":role/lifecycle-hub", ec2emu.Role{Trusted: []string{ec2emu.DefaultAccount}})
	for _, m := range []string{memberA, memberB} {
		a.s.AddRole("arn:aws:iam::"+m+":role/lifecycle-sweeper", ec2emu.Role{Trusted: []string{hub}, ExternalID: "org-sweep-xid"})
	}
	// A: 1.0.0 is due to be disabled (us-east-1), 1.1.0 is the newest.
	aOld := a.seedReleaseIn("us-east-1", memberA, "1.0.0", "deprecated", nil)
	aNew := a.seedReleaseIn("us-east-1", memberA, "1.1.0", "active", nil)
	// B, swept in eu-west-1 only: 2.0.0 is superseded there; its
	// us-east-1 release stays as it is.
	bOld := a.seedReleaseIn("eu-west-1", memberB, "2.0.0", "active", nil)
	bNew := a.seedReleaseIn("eu-west-1", memberB, "2.1.0", "active", nil)
	bElsewhere := a.seedReleaseIn("us-east-1", memberB, "2.0.1", "deprecated", nil)
	// C cannot be assumed; the caller's own account is not in the list.
	cOld := a.seedReleaseIn("us-east-1", memberC, "3.0.0", "deprecated", nil)
	own := a.seedReleaseIn("us-east-1", ec2emu.DefaultAccount, "0.9.0", "deprecated", nil)
	env := append(a.env(), "AWS_ENDPOINT_URL_STS="+a.url)
	sweep := func(vars ...string) (result, report.Report) {
		r := buildTemplate(t, a.dir, "org.pkr.hcl", env, a.clock.Now(), vars)
		noPublicEndpoint(t, r)
		return r, a.report("org/org.json")
	}
	states := func() map[string]string {
		out := map[string]string{}
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			a.s.Update(func(st *ec2emu.State) {
				for _, id := range []string{aOld, aNew, bOld, bNew, bElsewhere, cOld, own} {
					if img := st.Region(region).Images[id]; img != nil {
						out[id] = img.State
						if img.DeprecationTime != nil {
							out[id] += "+deprecated"
						}
					}
				}
			})
		}
		return out
	}
	before := states()
	accounts := func(rep report.Report) map[string]string {
		out := map[string]string{}
		for _, acc := range rep.Accounts {
			out[acc.Account] = acc.Status
		}
		return out
	}
	decided := func(rep report.Report) map[string]string {
		out := map[string]string{}
		for _, e := range rep.Decisions {
			out[e.Account+" "+e.Region+":"+e.ID] = string(e.Action) + " " + e.Status
		}
		return out
	}

	r, rep := sweep("dry_run=true")
	require.NotZero(t, r.code, "an account could not be assumed: %s", r)
	require.Equal(t, before, states(), "a dry run changes nothing")
	require.Equal(t, map[string]string{memberA: "swept", memberB: "swept", memberC: "failed"}, accounts(rep))
	require.Equal(t, map[string]string{
		memberA + " us-east-1:" + aOld: "disable planned", memberA + " us-east-1:" + aNew: "keep none",
		memberB + " eu-west-1:" + bOld: "deprecate planned", memberB + " eu-west-1:" + bNew: "keep none",
	}, decided(rep))

	a.s.ResetCounters()
	r, rep = sweep()
	require.NotZero(t, r.code, "an account could not be assumed: %s", r)
	mustContain(t, r.stdout, "Sweeping family web in 3 accounts", "Swept 2 of 3 accounts",
		"account "+memberA+": Listing family web", "account "+memberB+": Listing family web")
	mustContain(t, r.stderr+r.stdout, "account "+memberC+": assuming arn:aws:iam::"+memberC+":role/lifecycle-sweeper", "AccessDenied")
	require.NotContains(t, r.stdout+r.stderr, "org-sweep-xid", "the external id is a secret")
	after := states()
	require.Equal(t, "disabled+deprecated", after[aOld])
	require.Equal(t, "available+deprecated", after[bOld])
	for _, id := range []string{aNew, bNew, bElsewhere, cOld, own} {
		require.Equal(t, before[id], after[id], "%s is not the sweep's to change", id)
	}
	require.Equal(t, map[string]string{memberA: "swept", memberB: "swept", memberC: "failed"}, accounts(rep))
	for _, acc := range rep.Accounts {
		if acc.Account == memberC {
			require.Contains(t, acc.Error, "AccessDenied")
		}
	}
	require.Equal(t, map[string]string{
		memberA + " us-east-1:" + aOld: "disable done", memberA + " us-east-1:" + aNew: "keep none",
		memberB + " eu-west-1:" + bOld: "deprecate done", memberB + " eu-west-1:" + bNew: "keep none",
	}, decided(rep))
	require.Zero(t, a.s.Calls("us-east-1", "DescribeImages")-a.s.CallsBy("us-east-1", "DescribeImages", memberA),
		"only account A lists us-east-1: B sweeps eu-west-1 only, C and the caller none")

	// Each member role was assumed with the hub's credentials, the hub's
	// with the caller's; C's refusal is the trust policy's.
	byRole := map[string]ec2emu.AssumeRoleCall{}
	for _, c := range a.s.AssumeRoleCalls() {
		byRole[c.RoleARN] = c
	}
	hubCall := byRole["arn:aws:iam::"+hub+":role/lifecycle-hub"]
	require.Equal(t, "org-sweep", hubCall.SessionName)
	require.Equal(t, ec2emu.DefaultAccount, a.s.AccountOf(hubCall.CallerKey))
	for _, m := range []string{memberA, memberB, memberC} {
		c := byRole["arn:aws:iam::"+m+":role/lifecycle-sweeper"]
		require.Equal(t, "org-sweep-xid", c.ExternalID, m)
		require.Equal(t, hub, a.s.AccountOf(c.CallerKey), "%s's role is assumed with the hub's credentials", m)
	}
	require.Equal(t, "no such role", byRole["arn:aws:iam::"+memberC+":role/lifecycle-sweeper"].Denied)
}
