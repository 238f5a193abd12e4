package release

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	awsbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/aws"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
)

// maxParallelAccounts bounds the accounts swept at once: each sweeps its
// regions in parallel too, with its own rate limits, so the bound is on
// this process (connections, memory), not on EC2.
const maxParallelAccounts = 8

// sweepAccounts is an organisation-wide sweep: each account of `accounts`
// is a run of its own, on a backend in that account, and top's report
// gathers them. An account that fails (its role cannot be assumed, or
// something in it failed) is reported; the others go on.
func (p *PostProcessor) sweepAccounts(ctx context.Context, top *run) error {
	accounts := p.config.Accounts
	top.ui.Say(fmt.Sprintf("Sweeping family %s in %d accounts", p.config.Family, len(accounts)))
	subs := make([]*run, len(accounts))
	errs := make([]error, len(accounts))
	sem := make(chan struct{}, maxParallelAccounts)
	var wg sync.WaitGroup
	for i, a := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			subs[i], errs[i] = p.sweepAccount(ctx, top, a)
		}()
	}
	wg.Wait()
	var failed []error
	for i, a := range accounts {
		id := a.Account()
		out := report.Account{Account: id, RoleARN: a.AssumeRole.RoleARN, Status: "swept"}
		if sub := subs[i]; sub != nil {
			top.rep.Merge(id, sub.rep)
			for _, o := range sub.owners {
				if !slices.Contains(top.owners, o) {
					top.owners = append(top.owners, o)
				}
			}
		}
		if errs[i] != nil {
			out.Status, out.Error = "failed", errs[i].Error()
			failed = append(failed, fmt.Errorf("account %s: %w", id, errs[i]))
		}
		top.rep.Accounts = append(top.rep.Accounts, out)
	}
	slices.Sort(top.owners)
	top.ui.Say(fmt.Sprintf("Swept %d of %d accounts; %s", len(accounts)-len(failed), len(accounts), top.rep.Totals()))
	for _, err := range failed {
		top.ui.Error(err.Error())
	}
	return errors.Join(failed...)
}

// sweepAccount sweeps one account: the top-level options with the
// account's role, regions and own AMIs only.
func (p *PostProcessor) sweepAccount(ctx context.Context, top *run, a awsbackend.AccountConfig) (*run, error) {
	c := p.config
	c.AccessConfig = c.AccessConfig.InAccount(a)
	ui := &accountUi{Ui: top.ui, prefix: "account " + a.Account() + ": "}
	be, err := openBackend(c.Config, top.clock)
	if err != nil {
		return nil, err // said with the other failures once all are swept
	}
	sub := &run{c: &c, policy: top.policy, ui: ui, be: be, now: top.now,
		rep: report.New(top.rep.Plugin, c.Family, be.Name(), top.now, c.DryRun, c.Sweep)}
	return sub, sub.do(ctx, nil)
}

// accountUi prefixes what one account's run says with the account: the
// accounts run at once and their lines interleave.
type accountUi struct {
	packersdk.Ui
	prefix string
}

func (u *accountUi) Say(s string)     { u.Ui.Say(u.prefix + s) }
func (u *accountUi) Message(s string) { u.Ui.Message(u.prefix + s) }
func (u *accountUi) Error(s string)   { u.Ui.Error(u.prefix + s) }
