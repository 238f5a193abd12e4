//go:generate packer-sdc struct-markdown

package aws

import "fmt"

// An organisation-wide sweep covers member accounts: for each, the
// backend assumes a role in that account with the caller's credentials
// (after the caller's own `assume_role`, if any: a hub role), and sweeps
// the AMIs that account owns. Each account is a backend of its own, with
// its own clients, regions and rate-limit buckets.

// AccountConfig is one account of an organisation-wide sweep.
type AccountConfig struct {
	// The role to assume in the account (its ARN names the account), with
	// the credentials of the top-level options (after the top-level
	// `assume_role`, when set). Required.
	AssumeRole AssumeRoleConfig `mapstructure:"assume_role" required:"true"`
	// The regions to sweep in this account. Defaults to `region` and
	// `regions`.
	Regions []string `mapstructure:"regions"`
}

// Account is the 12-digit account id the role ARN names.
func (a AccountConfig) Account() string {
	if m := roleRE.FindStringSubmatch(a.AssumeRole.RoleARN); m != nil {
		return m[1]
	}
	return ""
}

// Check checks one account of `accounts` (field is e.g. `accounts[1]`).
func (a AccountConfig) Check(field string) []error {
	var errs []error
	if a.AssumeRole.RoleARN == "" {
		errs = append(errs, fmt.Errorf("%s.assume_role.role_arn: must be set: it names the account", field))
	}
	errs = append(errs, a.AssumeRole.check(field+".assume_role")...)
	for i, r := range a.Regions {
		if !regionRE.MatchString(r) {
			errs = append(errs, fmt.Errorf("%s.regions[%d]: %q is not a region name like eu-west-1", field, i, r))
		}
	}
	return errs
}

// check checks an assume_role block named field.
func (a AssumeRoleConfig) check(field string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(field+format, args...)) }
	if a.RoleARN != "" && !roleRE.MatchString(a.RoleARN) {
		bad(".role_arn: %q is not an IAM role ARN like arn:aws:iam::123456789012:role/name", a.RoleARN)
	} else if a.RoleARN == "" && (a.ExternalID != "" || a.SessionName != "" || a.DurationSeconds != 0) {
		bad(".role_arn: must be set when %s is", field)
	}
	// The external id is a shared secret: the error never shows it.
	if x := a.ExternalID; x != "" && (len(x) < 2 || len(x) > 1224 || !externalIDRE.MatchString(x)) {
		bad(".external_id: must be 2 to 1224 characters of letters, digits and +=,.@:/-_ (the value is not shown: it is a secret)")
	}
	if n := a.SessionName; n != "" && !sessionNameRE.MatchString(n) {
		bad(".session_name: %q must be 2 to 64 characters of letters, digits and +=,.@-_", n)
	}
	if d := a.DurationSeconds; d != 0 && (d < 900 || d > 43200) {
		bad(".duration_seconds: %d is not between 900 and 43200", d)
	}
	return errs
}

// InAccount is the access config of one account of a sweep: the account's
// role assumed after the caller's, its regions, and only AMIs it owns.
func (c AccessConfig) InAccount(a AccountConfig) AccessConfig {
	role := a.AssumeRole
	c.accountRole = &role
	if len(a.Regions) > 0 {
		c.Region, c.Regions = a.Regions[0], a.Regions[1:]
	}
	c.Owners = nil // self: the assumed account
	return c
}
