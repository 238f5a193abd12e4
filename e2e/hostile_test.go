package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
)

// hostileCase is one bad input: the attribute lines of one post-processor
// block or data source block, and what the error must say (the field
// first).
type hostileCase struct {
	component string // pp or ds
	backend   string // local, aws, gcp or azure
	category  string // types, durations, versions, names, ids, regions, ARNs, owners, paths, constraints, report paths, env, endpoints, credentials, projects, backends
	name      string
	body      string
	want      []string
	env       []string // a case of its own process: its environment
}

// hostileCases are the bad inputs refused by `packer validate`. The AWS
// ones set custom_endpoint_ec2 to the test's listener (see
// TestValidateRefusesHostileInput), written here as ENDPOINT.
var hostileCases = []hostileCase{
	// post-processor, local backend
	{"pp", "local", "names", "family with a tab", `family = "a\tb"`, []string{`family: "a\tb" contains a control character`}, nil},
	{"pp", "local", "names", "family too long", `family = "` + strings.Repeat("f", 101) + `"`, []string{"family: at most 100 characters, got 101"}, nil},
	{"pp", "local", "names", "channel too long", `channel = "` + strings.Repeat("c", 65) + `"`, []string{"channel: at most 64 characters, got 65"}, nil},
	{"pp", "local", "names", "parent too long", `parent = "` + strings.Repeat("p", 257) + `"`, []string{"parent: at most 256 characters, got 257"}, nil},
	{"pp", "local", "names", "managed_by too long", `managed_by = "` + strings.Repeat("m", 257) + `"`, []string{"managed_by: at most 256 characters, got 257"}, nil},
	{"pp", "local", "names", "managed_by with a newline", `managed_by = "team\nb"`, []string{`managed_by: "team\nb" contains a control character`}, nil},
	{"pp", "local", "names", "channel_policy name with escape", "channel_policy {\n name = \"rc\\u001b[0m\"\n}", []string{"channel_policy[0].name:", "contains a control character"}, nil},
	{"pp", "local", "versions", "version empty", `version = ""`, []string{"version: must be set"}, nil},
	{"pp", "local", "versions", "version too long", `version = "` + strings.Repeat("1", 65) + `"`, []string{"version: at most 64 characters, got 65"}, nil},
	{"pp", "local", "versions", "version with a newline", `version = "1.0\n2.0"`, []string{`version: "1.0\n2.0" contains a control character`}, nil},
	{"pp", "local", "durations", "expire_after forever", `expire_after = "forever"`, []string{`expire_after: invalid duration "forever"`}, nil},
	{"pp", "local", "durations", "deprecate_after in years", `deprecate_after = "1y"`, []string{`deprecate_after: invalid duration "1y"`}, nil},
	{"pp", "local", "durations", "disable_after negative", `disable_after = "-1d"`, []string{"disable_after:"}, nil},
	{"pp", "local", "durations", "forget_pending_after shorter than a run", `forget_pending_after = "10m"`, []string{`forget_pending_after: "10m" is shorter than 1h`}, nil},
	{"pp", "local", "backends", "delete_orphaned_snapshots on the local backend", `delete_orphaned_snapshots = true`, []string{`delete_orphaned_snapshots: orphaned snapshots are AMIs'; the backend is local`}, nil},
	{"pp", "local", "backends", "allowed_images_path on the local backend", `allowed_images_path = "criteria.json"`, []string{`allowed_images_path: Allowed AMIs are EC2's; the backend is local`}, nil},
	{"pp", "local", "durations", "forget_pending_after negative", `forget_pending_after = "-1d"`, []string{"forget_pending_after:"}, nil},
	{"pp", "aws", "durations", "forget_pending_after words", `forget_pending_after = "later"`, []string{`forget_pending_after: invalid duration "later"`}, nil},
	{"pp", "local", "durations", "deregister_after beyond 100 years", `deregister_after = "99999999d"`, []string{"deregister_after:"}, nil},
	{"pp", "local", "durations", "channel_policy min_age words", "channel_policy {\n name = \"rc\"\n min_age = \"soon\"\n}", []string{`channel_policy[0].min_age: invalid duration "soon"`}, nil},
	{"pp", "local", "constraints", "keep_releases negative", `keep_releases = -3`, []string{"keep_releases: must be at least 1 (the newest release is always kept), got -3"}, nil},
	{"pp", "local", "constraints", "channel_policy keep 0", "channel_policy {\n name = \"rc\"\n keep_releases = 0\n}", []string{"channel_policy[0].keep_releases: must be at least 1, got 0"}, nil},
	{"pp", "local", "constraints", "channel_policy twice", "channel_policy {\n name = \"rc\"\n}\nchannel_policy {\n name = \"rc\"\n}", []string{`channel_policy[1].name: channel "rc" has more than one channel_policy`}, nil},
	{"pp", "local", "constraints", "never_expire and expire_after", "channel_policy {\n name = \"rc\"\n never_expire = true\n expire_after = \"1d\"\n}", []string{"channel_policy[0]: never_expire and expire_after contradict each other"}, nil},
	{"pp", "local", "constraints", "pin_releases without sweep", `pin_releases = ["web-1.0.0-0123456789ab"]`, []string{"pin_releases: needs sweep = true"}, nil},
	{"pp", "local", "constraints", "pinned and unpinned", "sweep = true\npin_releases = [\"x1\"]\nunpin_releases = [\"x1\"]", []string{"pin_releases, unpin_releases: x1 is in both"}, nil},
	{"pp", "local", "constraints", "backend unknown", `backend = "gce"`, []string{`backend: "gce" is not one of auto, local, aws, gcp`}, nil},
	{"pp", "local", "ids", "restore a path", "sweep = true\nrestore = [\"../../etc/passwd\"]", []string{`restore[0]: invalid catalog id "../../etc/passwd"`}, nil},
	{"pp", "local", "ids", "pin a slash", "sweep = true\npin_releases = [\"web/1\"]", []string{`pin_releases[0]: invalid catalog id "web/1"`}, nil},
	{"pp", "local", "ids", "unpin blank", "sweep = true\nunpin_releases = [\" \"]", []string{`unpin_releases[0]: must be a release id (or region:id), got " "`}, nil},
	{"pp", "local", "ids", "restore with a bad region", "sweep = true\nrestore = [\"../x:web-1\"]", []string{`restore[0]: "../x:web-1": bad region "../x"`}, nil},
	{"pp", "local", "paths", "catalog_dir at the root", `catalog_dir = "/catalog"`, []string{"catalog_dir:", "the whole file system, the artifact root"}, nil},
	{"pp", "local", "paths", "catalog_dir is a file", `catalog_dir = "t.pkr.hcl"`, []string{`catalog_dir: "t.pkr.hcl" exists and is not a directory`}, nil},
	{"pp", "local", "report paths", "report not json", `report_path = "report.txt"`, []string{`report_path: "report.txt" should end in .json`}, nil},
	{"pp", "local", "report paths", "report in the quarantine", `report_path = ".packer-lifecycle/quarantine/x/r.json"`, []string{"report_path:", "lies inside catalog_dir"}, nil},
	{"pp", "local", "report paths", "report over the catalog via ..", `report_path = ".packer-lifecycle/reports/../catalog.json.bak.json"`, []string{"report_path:", "lies inside catalog_dir"}, nil},
	{"pp", "local", "report paths", "report is a symlink", `report_path = "link.json"`, []string{`report_path: "link.json" is a symlink; name the file itself`}, nil},
	{"pp", "local", "report paths", "report is a directory", `report_path = "dir.json"`, []string{`report_path: "dir.json" exists and is not a regular file`}, nil},
	{"pp", "local", "types", "dry_run not a bool", `dry_run = "maybe"`, []string{`attribute "dry_run": a bool is required`}, nil},
	{"pp", "local", "types", "restore not a list", "sweep = true\nrestore = \"x\"", []string{`attribute "restore": list of string required`}, nil},
	{"pp", "local", "types", "channel_policy as an attribute", `channel_policy = "rc"`, []string{`An argument named "channel_policy" is not expected here`}, nil},
	{"pp", "local", "env", "rehearsal clock in year 1", `dry_run = true`, []string{`PACKER_LIFECYCLE_NOW: "0001-01-01T00:00:00Z": year 1 is out of range`}, []string{"PACKER_LIFECYCLE_NOW=0001-01-01T00:00:00Z"}},
	{"pp", "local", "env", "rehearsal clock without a zone", `dry_run = true`, []string{`PACKER_LIFECYCLE_NOW: "2030-01-01 00:00:00" is not an RFC 3339 time`}, []string{"PACKER_LIFECYCLE_NOW=2030-01-01 00:00:00"}},

	// post-processor, AWS backend
	{"pp", "aws", "regions", "region upper case", `region = "US-EAST-1"`, []string{`region: "US-EAST-1" is not a region name`}, nil},
	{"pp", "aws", "regions", "region without number", `region = "eu-west"`, []string{`region: "eu-west" is not a region name`}, nil},
	{"pp", "aws", "regions", "regions entry with underscore", `regions = ["us-east-1", "eu_west_1"]`, []string{`regions[1]: "eu_west_1" is not a region name`}, nil},
	{"pp", "aws", "regions", "regions entry empty", `regions = [""]`, []string{`regions[0]: "" is not a region name`}, nil},
	{"pp", "aws", "owners", "owner of 11 digits", `owners = ["12345678901"]`, []string{`owners[0]: "12345678901" is not a 12-digit account id or self`}, nil},
	{"pp", "aws", "owners", "owner an ARN", `owners = ["arn:aws:iam::123456789012:root"]`, []string{`owners[0]: "arn:aws:iam::123456789012:root" is not a 12-digit account id`}, nil},
	{"pp", "aws", "owners", "owner empty", `owners = ["self", ""]`, []string{`owners[1]: "" is not a 12-digit account id`}, nil},
	{"pp", "aws", "owners", "owner an alias", `owners = ["aws-marketplace"]`, []string{`owners[0]: "aws-marketplace" is not a 12-digit account id`}, nil},
	{"pp", "aws", "ARNs", "role_arn of a user", "assume_role {\n role_arn = \"arn:aws:iam::123456789012:user/ci\"\n}", []string{`assume_role.role_arn: "arn:aws:iam::123456789012:user/ci" is not an IAM role ARN`}, nil},
	{"pp", "aws", "ARNs", "role_arn short account", "assume_role {\n role_arn = \"arn:aws:iam::12345:role/ci\"\n}", []string{`assume_role.role_arn: "arn:aws:iam::12345:role/ci" is not an IAM role ARN`}, nil},
	{"pp", "aws", "ARNs", "external_id without role", "assume_role {\n external_id = \"xid-1\"\n}", []string{"assume_role.role_arn: must be set when assume_role is"}, nil},
	{"pp", "aws", "ARNs", "external_id with a space", "assume_role {\n role_arn = \"arn:aws:iam::123456789012:role/ci\"\n external_id = \"a b\"\n}", []string{"assume_role.external_id: must be 2 to 1224 characters"}, nil},
	{"pp", "aws", "ARNs", "session_name with a space", "assume_role {\n role_arn = \"arn:aws:iam::123456789012:role/ci\"\n session_name = \"my session\"\n}", []string{`assume_role.session_name: "my session" must be 2 to 64 characters`}, nil},
	{"pp", "aws", "durations", "assume_role duration too short", "assume_role {\n role_arn = \"arn:aws:iam::123456789012:role/ci\"\n duration_seconds = 60\n}", []string{"assume_role.duration_seconds: 60 is not between 900 and 43200"}, nil},
	{"pp", "aws", "durations", "assume_role duration too long", "assume_role {\n role_arn = \"arn:aws:iam::123456789012:role/ci\"\n duration_seconds = 50000\n}", []string{"assume_role.duration_seconds: 50000 is not between 900 and 43200"}, nil},
	{"pp", "aws", "endpoints", "endpoint a host name", `custom_endpoint_ec2 = "ec2.internal"`, []string{`custom_endpoint_ec2: "ec2.internal" is not an http(s) URL`}, nil},
	{"pp", "aws", "endpoints", "endpoint ftp", `custom_endpoint_ec2 = "ftp://127.0.0.1/"`, []string{`custom_endpoint_ec2: "ftp://127.0.0.1/" is not an http(s) URL`}, nil},
	{"pp", "aws", "endpoints", "endpoint with credentials", `custom_endpoint_ec2 = "http://user:hunter2@127.0.0.1:1/"`, []string{`custom_endpoint_ec2: "http://user:xxxxx@127.0.0.1:1/" carries credentials`}, nil},
	{"pp", "aws", "constraints", "max_retries negative", `max_retries = -1`, []string{"max_retries: must not be negative"}, nil},
	{"pp", "aws", "durations", "call_timeout negative", `call_timeout = "-5s"`, []string{"call_timeout: -5s must not be negative"}, nil},
	{"pp", "aws", "durations", "call_timeout without a unit", `call_timeout = "90"`, []string{"call_timeout", `missing unit in duration "90"`}, nil},
	{"pp", "aws", "constraints", "launch_template_versions latest", `launch_template_versions = "latest"`, []string{`launch_template_versions: "latest" is not one of all, default_and_latest, default, asg_used`}, nil},
	{"pp", "aws", "constraints", "launch_template_versions upper case", `launch_template_versions = "ALL"`, []string{`launch_template_versions: "ALL" is not one of`}, nil},
	{"pp", "aws", "constraints", "delete_orphaned_snapshots with delete_snapshots false", "sweep = true\ndelete_orphaned_snapshots = true\ndelete_snapshots = false", []string{`delete_orphaned_snapshots: delete_snapshots = false keeps the snapshots of deregistered AMIs, which this would then delete; choose one`}, nil},
	{"pp", "aws", "constraints", "delete_orphaned_snapshots in a build", `delete_orphaned_snapshots = true`, []string{`delete_orphaned_snapshots: orphaned snapshots are looked for in sweeps only; set sweep = true`}, nil},
	{"pp", "aws", "constraints", "revoke in a build", "revoke = [\"ami-0123456789abcdef0\"]\nrevoke_reason = \"CVE\"", []string{`revoke: needs sweep = true (a revocation records no build)`}, nil},
	{"pp", "aws", "constraints", "revoke without a reason", "sweep = true\nrevoke = [\"ami-0123456789abcdef0\"]", []string{`revoke_reason: must be set with revoke`}, nil},
	{"pp", "aws", "constraints", "revoke with a blank reason", "sweep = true\nrevoke = [\"ami-0123456789abcdef0\"]\nrevoke_reason = \"   \"", []string{`revoke_reason: must be set with revoke`}, nil},
	{"pp", "aws", "names", "revoke reason with a newline", "sweep = true\nrevoke = [\"ami-0123456789abcdef0\"]\nrevoke_reason = \"a\\nb\"", []string{`revoke_reason: `, `contains a control character`}, nil},
	{"pp", "aws", "names", "revoke reason too long", "sweep = true\nrevoke = [\"ami-0123456789abcdef0\"]\nrevoke_reason = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"", []string{`revoke_reason: at most 256 characters, got 257`}, nil},
	{"pp", "aws", "constraints", "revoke with restore", "sweep = true\nrevoke = [\"ami-0123456789abcdef0\"]\nrevoke_reason = \"CVE\"\nrestore = [\"ami-0123456789abcdef1\"]", []string{`revoke, restore: one undoes the other; run them apart`}, nil},
	{"pp", "aws", "constraints", "revoke and pin the same", "sweep = true\nrevoke = [\"ami-0123456789abcdef0\"]\nrevoke_reason = \"CVE\"\npin_releases = [\"ami-0123456789abcdef0\"]", []string{`revoke, pin_releases: ami-0123456789abcdef0 is in both`}, nil},
	{"pp", "aws", "constraints", "revoke_descendants without revoke", "sweep = true\nrevoke_descendants = true", []string{`revoke_descendants: goes with revoke, which is not set`}, nil},
	{"pp", "aws", "constraints", "revoke_reason without revoke", "sweep = true\nrevoke_reason = \"CVE\"", []string{`revoke_reason: goes with revoke, which is not set`}, nil},
	{"pp", "aws", "ids", "revoke not an AMI id", "sweep = true\nrevoke = [\"web-1.0.0\"]\nrevoke_reason = \"CVE\"", []string{`revoke[0]: "web-1.0.0" is not an AMI id`}, nil},
	{"pp", "aws", "ids", "revoke empty id", "sweep = true\nrevoke = [\"\"]\nrevoke_reason = \"CVE\"", []string{`revoke[0]: must be a release id (or region:id), got ""`}, nil},
	{"pp", "aws", "types", "revoke as a string", "sweep = true\nrevoke = \"ami-0123456789abcdef0\"\nrevoke_reason = \"CVE\"", []string{`Incorrect attribute value type`}, nil},
	{"pp", "aws", "constraints", "accounts in a build", "accounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/sweeper\"\n }\n}", []string{`accounts: sweeps other accounts, but a build records its image in its own; set sweep = true`}, nil},
	{"pp", "aws", "constraints", "accounts with owners", "sweep = true\nowners = [\"123456789012\"]\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/sweeper\"\n }\n}", []string{`owners: not with accounts: each account sweeps the AMIs it owns; run owners in the account that owns them`}, nil},
	{"pp", "aws", "constraints", "accounts with restore", "sweep = true\nrestore = [\"ami-0123456789abcdef0\"]\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/sweeper\"\n }\n}", []string{`restore: not with accounts`}, nil},
	{"pp", "aws", "constraints", "accounts with pin_releases", "sweep = true\npin_releases = [\"ami-0123456789abcdef0\"]\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/sweeper\"\n }\n}", []string{`pin_releases: not with accounts`}, nil},
	{"pp", "aws", "ARNs", "accounts without a role", "sweep = true\naccounts {\n regions = [\"us-east-1\"]\n}", []string{`accounts[0].assume_role.role_arn: must be set: it names the account`}, nil},
	{"pp", "aws", "ARNs", "accounts role_arn of a user", "sweep = true\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:user/ci\"\n }\n}", []string{`accounts[0].assume_role.role_arn: "arn:aws:iam::210000000001:user/ci" is not an IAM role ARN`}, nil},
	{"pp", "aws", "ARNs", "accounts same account twice", "sweep = true\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/sweeper\"\n }\n}\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/other\"\n }\n}", []string{`accounts[1].assume_role.role_arn: account 210000000001 is accounts[0] already: it would be swept twice at once`}, nil},
	{"pp", "aws", "ARNs", "accounts external_id with a space", "sweep = true\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/sweeper\"\n external_id = \"a b\"\n }\n}", []string{`accounts[0].assume_role.external_id: must be 2 to 1224 characters`}, nil},
	{"pp", "aws", "durations", "accounts duration too short", "sweep = true\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/sweeper\"\n duration_seconds = 60\n }\n}", []string{`accounts[0].assume_role.duration_seconds: 60 is not between 900 and 43200`}, nil},
	{"pp", "aws", "regions", "accounts bad region", "sweep = true\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/sweeper\"\n }\n regions = [\"us-east-1\", \"mars\"]\n}", []string{`accounts[0].regions[1]: "mars" is not a region name like eu-west-1`}, nil},
	{"pp", "aws", "types", "accounts as an attribute", "sweep = true\naccounts = [\"arn:aws:iam::210000000001:role/sweeper\"]", []string{`An argument named "accounts" is not expected here`}, nil},
	{"pp", "local", "backends", "accounts on the local backend", "sweep = true\naccounts {\n assume_role {\n role_arn = \"arn:aws:iam::210000000001:role/sweeper\"\n }\n}", []string{`accounts: an organisation-wide sweep is AWS's; the backend is local`}, nil},
	{"pp", "aws", "paths", "allowed_images_path not json", `allowed_images_path = "criteria.txt"`, []string{`allowed_images_path: "criteria.txt" should end in .json`}, nil},
	{"pp", "aws", "paths", "allowed_images_path is report_path", "allowed_images_path = \"out.json\"\nreport_path = \"./out.json\"", []string{`allowed_images_path: "out.json" is report_path too`}, nil},
	{"pp", "aws", "constraints", "allowed_images_max_days_deprecated negative", "allowed_images_path = \"c.json\"\nallowed_images_max_days_deprecated = -1", []string{`allowed_images_max_days_deprecated: -1 is not between 0 and 3650`}, nil},
	{"pp", "aws", "constraints", "allowed_images_max_days_deprecated alone", `allowed_images_max_days_deprecated = 30`, []string{`allowed_images_max_days_deprecated: goes with allowed_images_path, which is not set`}, nil},
	{"pp", "aws", "durations", "usage_report_wait words", `usage_report_wait = "a while"`, []string{`usage_report_wait: invalid duration "a while"`}, nil},
	{"pp", "aws", "durations", "usage_report_wait negative", `usage_report_wait = "-5m"`, []string{`usage_report_wait: invalid duration "-5m"`}, nil},
	{"pp", "aws", "durations", "usage_report_wait a day", `usage_report_wait = "1d"`, []string{`usage_report_wait: "1d" is not between 0s and 12h`}, nil},
	{"pp", "aws", "durations", "usage_report_max_age a minute", `usage_report_max_age = "1m"`, []string{`usage_report_max_age: "1m" is not between 1h and 29d (EC2 keeps a report 30 days)`}, nil},
	{"pp", "aws", "durations", "usage_report_max_age past expiry", `usage_report_max_age = "30d"`, []string{`usage_report_max_age: "30d" is not between 1h and 29d`}, nil},
	{"pp", "aws", "constraints", "skip_usage_reports with a wait", "skip_usage_reports = true\nusage_report_wait = \"5m\"", []string{`skip_usage_reports: no usage reports are asked for, so usage_report_wait and usage_report_max_age mean nothing`}, nil},
	{"pp", "aws", "credentials", "access_key without secret", `access_key = "AKIAEXAMPLE"`, []string{"access_key, secret_key: set both or neither"}, nil},
	{"pp", "aws", "credentials", "token without keys", `token = "tok"`, []string{"token: goes with access_key and secret_key"}, nil},
	{"pp", "aws", "ids", "restore ami-xyz", "sweep = true\nrestore = [\"ami-xyz\"]", []string{`restore[0]: "ami-xyz" is not an AMI id`}, nil},
	{"pp", "aws", "ids", "restore on the moon", "sweep = true\nrestore = [\"moon-1:ami-0123456789abcdef0\"]", []string{`restore[0]: "moon-1:ami-0123456789abcdef0": "moon-1" is not a region name`}, nil},
	{"pp", "aws", "ids", "pin an instance id", "sweep = true\npin_releases = [\"i-0123456789abcdef0\"]", []string{`pin_releases[0]: "i-0123456789abcdef0" is not an AMI id`}, nil},
	{"pp", "aws", "ids", "unpin a short ami", "sweep = true\nunpin_releases = [\"us-east-1:ami-12\"]", []string{`unpin_releases[0]: "us-east-1:ami-12" is not an AMI id`}, nil},
	{"pp", "aws", "types", "regions a string", `regions = "us-east-1"`, []string{`attribute "regions": list of string required`}, nil},
	{"pp", "aws", "types", "assume_role as an attribute", `assume_role = "arn:aws:iam::123456789012:role/ci"`, []string{`An argument named "assume_role" is not expected here`}, nil},
	{"pp", "aws", "types", "max_retries a word", `max_retries = "three"`, []string{`attribute "max_retries": a number is required`}, nil},
	{"pp", "aws", "env", "stray rehearsal clock in a real AWS run", ``, []string{"allow_simulated_time: PACKER_LIFECYCLE_NOW is set (2999-01-01T00:00:00Z) and this run changes images"}, []string{"PACKER_LIFECYCLE_NOW=2999-01-01T00:00:00Z"}},

	// data source, local backend
	{"ds", "local", "names", "ds family missing", `channel = "stable"`, []string{"family: must be set"}, nil},
	{"ds", "local", "names", "ds family too long", `family = "` + strings.Repeat("f", 101) + `"`, []string{"family: at most 100 characters, got 101"}, nil},
	{"ds", "local", "names", "ds channel with a newline", `channel = "stable\nrc"`, []string{`channel: "stable\nrc" contains a control character`}, nil},
	{"ds", "local", "names", "ds managed_by too long", `managed_by = "` + strings.Repeat("m", 257) + `"`, []string{"managed_by: at most 256 characters, got 257"}, nil},
	{"ds", "local", "constraints", "ds constraint with a double comma", `version_constraint = ">= 1.0,, < 2.0"`, []string{"version_constraint:"}, nil},
	{"ds", "local", "constraints", "ds constraint not a version", `version_constraint = "~> x"`, []string{"version_constraint:", "~> x"}, nil},
	{"ds", "local", "constraints", "ds backend unknown", `backend = "s3"`, []string{`backend: "s3" is not one of auto, local, aws`}, nil},
	{"ds", "local", "paths", "ds catalog_dir at the root", `catalog_dir = "/catalog"`, []string{"catalog_dir:", "the whole file system, the artifact root"}, nil},
	{"ds", "local", "paths", "ds catalog_dir is a file", `catalog_dir = "t.pkr.hcl"`, []string{`catalog_dir: "t.pkr.hcl" exists and is not a directory`}, nil},
	{"ds", "local", "types", "ds keep_releases unknown", `keep_releases = 2`, []string{`An argument named "keep_releases" is not expected here`}, nil},
	{"ds", "local", "env", "ds rehearsal clock garbage", ``, []string{`PACKER_LIFECYCLE_NOW: "next week" is not an RFC 3339 time`}, []string{"PACKER_LIFECYCLE_NOW=next week"}},

	// data source, AWS backend (auto picks aws when an AWS option is set)
	{"ds", "aws", "regions", "ds region on the moon", `region = "moon-1"`, []string{`region: "moon-1" is not a region name`}, nil},
	{"ds", "aws", "owners", "ds owner empty", `owners = [""]`, []string{`owners[0]: "" is not a 12-digit account id`}, nil},
	{"ds", "aws", "owners", "ds owner an ARN", `owners = ["arn:aws:iam::123456789012:root"]`, []string{`owners[0]: "arn:aws:iam::123456789012:root" is not a 12-digit account id`}, nil},
	{"ds", "aws", "ARNs", "ds role_arn a name", "assume_role {\n role_arn = \"producer\"\n}", []string{`assume_role.role_arn: "producer" is not an IAM role ARN`}, nil},
	{"ds", "aws", "endpoints", "ds endpoint not a URL", `custom_endpoint_ec2 = "::"`, []string{`custom_endpoint_ec2: "::" is not an http(s) URL`}, nil},
	{"ds", "aws", "constraints", "ds max_retries negative", `max_retries = -5`, []string{"max_retries: must not be negative"}, nil},
	{"ds", "aws", "durations", "ds call_timeout a word", `call_timeout = "soon"`, []string{"call_timeout", `invalid duration "soon"`}, nil},
	{"ds", "aws", "constraints", "ds launch_template_versions", `launch_template_versions = "none"`, []string{`launch_template_versions: "none" is not one of`}, nil},
	{"ds", "aws", "types", "ds owners a number", `owners = 123456789012`, []string{`attribute "owners": list of string required`}, nil},
	// post-processor, GCP backend (project_id and custom_endpoints are set
	// to the test's listener unless the case sets them)
	{"pp", "gcp", "names", "gcp family upper case", `family = "Web"`, []string{`family: "Web" is not a Compute Engine image family name`}, nil},
	{"pp", "gcp", "names", "gcp family with underscore", `family = "web_base"`, []string{`family: "web_base" is not a Compute Engine image family name`}, nil},
	{"pp", "gcp", "names", "gcp family of 64", `family = "` + strings.Repeat("w", 64) + `"`, []string{"family:", "is not a Compute Engine image family name"}, nil},
	{"pp", "gcp", "names", "gcp family ending with a dash", `family = "web-"`, []string{`family: "web-" is not a Compute Engine image family name`}, nil},
	{"pp", "gcp", "names", "gcp family starting with a digit", `family = "1web"`, []string{`family: "1web" is not a Compute Engine image family name`}, nil},
	{"pp", "gcp", "versions", "gcp version too long as a label", `version = "1.0.0-RC.1+Build.2026.12.06.12345.X.Y"`, []string{"version:", "takes 67 characters as a Compute Engine label value"}, nil},
	{"pp", "gcp", "versions", "gcp version of capitals", `version = "` + strings.Repeat("V", 22) + `"`, []string{"version:", "takes 66 characters as a Compute Engine label value"}, nil},
	{"pp", "gcp", "names", "gcp channel too long as a label", `channel = "Release Candidate (Team X) QA Rings!"`, []string{"channel:", "takes 66 characters as a Compute Engine label value"}, nil},
	{"pp", "gcp", "names", "gcp parent too long as a label", `parent = "projects/lifecycle-test/global/images/web-base-1-0-0-20261206"`, []string{"parent:", "takes 69 characters as a Compute Engine label value"}, nil},
	{"pp", "gcp", "names", "gcp managed_by too long as a label", `managed_by = "Team Platform / Images / Production!!!"`, []string{"managed_by:", "takes 66 characters as a Compute Engine label value"}, nil},
	{"pp", "gcp", "names", "gcp channel_policy name too long as a label", "channel_policy {\n name = \"Nightly.Builds.Of.Team.X.QA.Ring.2\"\n}", []string{"channel_policy[0].name:", "takes 64 characters"}, nil},
	{"pp", "gcp", "projects", "gcp project upper case", `project_id = "Lifecycle-Test"`, []string{`project_id: "Lifecycle-Test" is not a project id`}, nil},
	{"pp", "gcp", "projects", "gcp project too short", `project_id = "web"`, []string{`project_id: "web" is not a project id`}, nil},
	{"pp", "gcp", "projects", "gcp project domain scoped", `project_id = "example.com:images"`, []string{`project_id: "example.com:images" is a domain-scoped project id`}, nil},
	{"pp", "gcp", "projects", "gcp project a number", `project_id = "123456789012"`, []string{`project_id: "123456789012" is not a project id`}, nil},
	{"pp", "gcp", "projects", "gcp projects entry with a space", `projects = ["lifecycle-other", "my project"]`, []string{`projects[1]: "my project" is not a project id`}, nil},
	{"pp", "gcp", "types", "gcp projects a string", `projects = "lifecycle-other"`, []string{`attribute "projects": list of string required`}, nil},
	{"pp", "gcp", "types", "gcp custom_endpoints a string", `custom_endpoints = "http://127.0.0.1:1/"`, []string{`attribute "custom_endpoints": map of string required`}, nil},
	{"pp", "gcp", "credentials", "gcp access_token with a newline", `access_token = "ya29.a\nb"`, []string{"access_token: must be one OAuth 2.0 access token"}, nil},
	{"pp", "gcp", "credentials", "gcp two ways to authenticate", "access_token = \"ya29.x\"\nimpersonate_service_account = \"packer@lifecycle-test.iam.gserviceaccount.com\"", []string{"access_token, impersonate_service_account: choose one way to authenticate"}, nil},
	{"pp", "gcp", "credentials", "gcp credentials_file missing", `credentials_file = "nowhere.json"`, []string{"credentials_file: open nowhere.json"}, nil},
	{"pp", "gcp", "credentials", "gcp credentials_file not JSON", `credentials_file = "t.pkr.hcl"`, []string{"credentials_file: t.pkr.hcl: not JSON credentials"}, nil},
	{"pp", "gcp", "credentials", "gcp credentials_json not JSON", `credentials_json = "hostile-secret-key"`, []string{"credentials_json: not JSON credentials (the value is not shown: it is a secret)"}, nil},
	{"pp", "gcp", "credentials", "gcp credentials_json an API key", `credentials_json = "{\"type\":\"api_key\"}"`, []string{`credentials_json: credentials of type "api_key"`}, nil},
	{"pp", "gcp", "credentials", "gcp impersonate a user", `impersonate_service_account = "alice@example.com"`, []string{`impersonate_service_account: "alice@example.com" is not a service account email`}, nil},
	{"pp", "gcp", "endpoints", "gcp endpoint unknown service", `custom_endpoints = { computer = "http://127.0.0.1:1/" }`, []string{`custom_endpoints: unknown service "computer"`}, nil},
	{"pp", "gcp", "endpoints", "gcp endpoint a host name", `custom_endpoints = { compute = "compute.internal" }`, []string{`custom_endpoints.compute: "compute.internal" is not an http(s) URL`}, nil},
	{"pp", "gcp", "endpoints", "gcp endpoint with credentials", `custom_endpoints = { compute = "http://user:hunter2@127.0.0.1:1/compute/v1/" }`, []string{`custom_endpoints.compute: "http://user:xxxxx@127.0.0.1:1/compute/v1/" carries credentials`}, nil},
	{"pp", "gcp", "backends", "gcp with an AWS region", `region = "us-east-1"`, []string{"region: AWS options, but backend is gcp"}, nil},
	{"pp", "gcp", "backends", "gcp with AWS owners and profile", "owners = [\"self\"]\nprofile = \"prod\"", []string{"owners, profile: AWS options, but backend is gcp"}, nil},
	{"pp", "gcp", "ids", "gcp restore an AMI-style name", "sweep = true\nrestore = [\"Web_1\"]", []string{`restore[0]: "Web_1" is not an image name`}, nil},
	{"pp", "gcp", "ids", "gcp pin in a domain project", "sweep = true\npin_releases = [\"example.com:p:web-1\"]", []string{`pin_releases[0]: "example.com:p:web-1":`, "domain-scoped"}, nil},
	{"pp", "gcp", "ids", "gcp unpin with a bad project", "sweep = true\nunpin_releases = [\"P:web-1\"]", []string{`unpin_releases[0]: "P:web-1": "P" is not a project id`}, nil},
	{"pp", "gcp", "constraints", "gcp max_retries negative", `max_retries = -2`, []string{"max_retries: must not be negative"}, nil},
	{"pp", "local", "backends", "GCP option on a local run", `project_id = "lifecycle-test"`, []string{"project_id: GCP options, but backend is local"}, nil},
	{"pp", "aws", "backends", "GCP option on an AWS run", `access_token = "hostile-secret-token"`, []string{"access_token: GCP options, but backend is aws"}, nil},

	// data source, GCP backend
	{"ds", "gcp", "projects", "ds gcp without project_id", `backend = "gcp"`, []string{"project_id: must be set with the gcp backend"}, nil},
	{"ds", "gcp", "projects", "ds gcp with projects", "project_id = \"lifecycle-test\"\nprojects = [\"lifecycle-other\"]", []string{"projects: the data source reads the one project of project_id"}, nil},
	{"ds", "gcp", "backends", "ds both clouds", "project_id = \"lifecycle-test\"\nregion = \"us-east-1\"", []string{"backend: both AWS options (region) and GCP options (project_id) are set"}, nil},
	{"ds", "gcp", "credentials", "ds gcp token with a space", "project_id = \"lifecycle-test\"\naccess_token = \"ya29 x\"", []string{"access_token: must be one OAuth 2.0 access token"}, nil},
	{"ds", "gcp", "projects", "ds gcp project domain scoped", `project_id = "google.com:images"`, []string{`project_id: "google.com:images" is a domain-scoped project id`}, nil},

	// post-processor, Azure backend (subscription_id and the gallery are
	// set unless the case sets them)
	{"pp", "azure", "ids", "azure subscription a name", `subscription_id = "Production"`, []string{`subscription_id: "Production" is not a subscription id`}, nil},
	{"pp", "azure", "credentials", "azure client_id a name", "client_id = \"packer\"\nclient_secret = \"hostile-secret-key\"\ntenant_id = \"contoso.onmicrosoft.com\"", []string{`client_id: "packer" is not an application (client) id`}, nil},
	{"pp", "azure", "credentials", "azure tenant with a space", "client_id = \"00000000-0000-0000-0000-0000000000c1\"\nclient_secret = \"hostile-secret-key\"\ntenant_id = \"my tenant\"", []string{`tenant_id: "my tenant" is not a tenant id`}, nil},
	{"pp", "azure", "credentials", "azure secret without tenant", "client_id = \"00000000-0000-0000-0000-0000000000c1\"\nclient_secret = \"hostile-secret-key\"", []string{"tenant_id: a service principal needs client_id, client_secret and tenant_id"}, nil},
	{"pp", "azure", "credentials", "azure secret alone", `client_secret = "hostile-secret-key"`, []string{"client_id, tenant_id: a service principal needs"}, nil},
	{"pp", "azure", "credentials", "azure secret of two lines", "client_id = \"00000000-0000-0000-0000-0000000000c1\"\nclient_secret = \"hostile-secret-key\\nx\"\ntenant_id = \"contoso.onmicrosoft.com\"", []string{"client_secret: must be one line (the value is not shown: it is a secret)"}, nil},
	{"pp", "azure", "credentials", "azure cli and a secret", "use_azure_cli_auth = true\nclient_id = \"00000000-0000-0000-0000-0000000000c1\"\nclient_secret = \"hostile-secret-key\"\ntenant_id = \"contoso.onmicrosoft.com\"", []string{"use_azure_cli_auth: the Azure CLI's account is used"}, nil},
	{"pp", "azure", "types", "azure cli auth a word", `use_azure_cli_auth = "sometimes"`, []string{`attribute "use_azure_cli_auth": a bool is required`}, nil},
	{"pp", "azure", "endpoints", "azure German cloud", `cloud_environment_name = "AzureGermanCloud"`, []string{`cloud_environment_name: "AzureGermanCloud" is not Public, USGovernment or China`}, nil},
	{"pp", "azure", "endpoints", "azure metadata host a URL", "cloud_environment_name = \"Stack\"\nmetadata_host = \"https://management.local\"", []string{`metadata_host: "https://management.local" must be a host or host:port`}, nil},
	{"pp", "azure", "endpoints", "azure metadata host with a path", "cloud_environment_name = \"Stack\"\nmetadata_host = \"management.local/metadata\"", []string{`metadata_host: "management.local/metadata" must be a host or host:port`}, nil},
	{"pp", "azure", "endpoints", "azure metadata host bad port", "cloud_environment_name = \"Stack\"\nmetadata_host = \"management.local:https\"", []string{`metadata_host: "management.local:https" has a bad port`}, nil},
	{"pp", "azure", "endpoints", "azure metadata host for the public cloud", "cloud_environment_name = \"Public\"\nmetadata_host = \"management.local\"", []string{"cloud_environment_name: with metadata_host, name the cloud"}, nil},
	{"pp", "azure", "endpoints", "azure metadata host without a cloud", `metadata_host = "management.local"`, []string{"cloud_environment_name: with metadata_host"}, nil},
	{"pp", "azure", "names", "azure gallery without a resource group", "gallery_resource_group = \"\"\ngallery_name = \"gallery\"", []string{"gallery_resource_group, gallery_name: set both"}, nil},
	{"pp", "azure", "names", "azure resource group with a space", `gallery_resource_group = "my images"`, []string{`gallery_resource_group: "my images" is not a resource group name`}, nil},
	{"pp", "azure", "names", "azure resource group ending with a dot", `gallery_resource_group = "images."`, []string{`gallery_resource_group: "images." is not a resource group name`}, nil},
	{"pp", "azure", "names", "azure gallery with a dash", `gallery_name = "team-gallery"`, []string{`gallery_name: "team-gallery" is not a gallery name`}, nil},
	{"pp", "azure", "names", "azure image definition with a colon", `gallery_image_names = ["web:1"]`, []string{`gallery_image_names[0]: "web:1" is not an image definition name`}, nil},
	{"pp", "azure", "names", "azure image definition twice", `gallery_image_names = ["Web", "web"]`, []string{`gallery_image_names[1]: "web" is listed twice`}, nil},
	{"pp", "azure", "types", "azure image definitions a string", `gallery_image_names = "web"`, []string{`attribute "gallery_image_names": list of string required`}, nil},
	{"pp", "azure", "ids", "azure restore two parts", "sweep = true\nrestore = [\"1.2\"]", []string{`restore[0]: "1.2" is not a gallery image version (Major.Minor.Patch`}, nil},
	{"pp", "azure", "ids", "azure restore a prerelease", "sweep = true\nrestore = [\"1.2.3-rc.1\"]", []string{`restore[0]: "1.2.3-rc.1" is not a gallery image version`}, nil},
	{"pp", "azure", "ids", "azure pin past 32 bits", "sweep = true\npin_releases = [\"1.0.2147483648\"]", []string{`pin_releases[0]: "1.0.2147483648" is not a gallery image version`}, nil},
	{"pp", "azure", "ids", "azure unpin in a two-part definition", "sweep = true\nunpin_releases = [\"team.gallery/web:1.0.0\"]", []string{`unpin_releases[0]: "team.gallery/web:1.0.0":`, "is not resource-group/gallery/image"}, nil},
	{"pp", "azure", "backends", "azure with an AWS region", `region = "us-east-1"`, []string{"region: AWS options, but backend is azure"}, nil},
	{"pp", "azure", "backends", "azure with a GCP project", `project_id = "lifecycle-test"`, []string{"project_id: GCP options, but backend is azure"}, nil},
	{"pp", "gcp", "backends", "Azure option on a GCP run", `tenant_id = "contoso.onmicrosoft.com"`, []string{"tenant_id: Azure options, but backend is gcp"}, nil},
	{"pp", "local", "backends", "Azure option on a local run", `gallery_name = "gallery"`, []string{"gallery_name: Azure options, but backend is local"}, nil},

	// data source, Azure backend
	{"ds", "azure", "ids", "ds azure without a gallery", "backend = \"azure\"\nsubscription_id = \"00000000-0000-0000-0000-0000000000a1\"", []string{"subscription_id, gallery_resource_group, gallery_name: must be set with the azure backend"}, nil},
	{"ds", "azure", "backends", "ds Azure and GCP", "project_id = \"lifecycle-test\"\nsubscription_id = \"00000000-0000-0000-0000-0000000000a1\"", []string{"backend: both GCP options (project_id) and Azure options (subscription_id) are set"}, nil},
}

// TestValidateRefusesHostileInput: every bad input of hostileCases is
// refused by the real `packer validate`, in the block it was written in,
// with the field named; nothing is touched: no catalog, no report, no
// file created, and not one connection to the endpoint every AWS client is
// pointed at (custom_endpoint_ec2, AWS_ENDPOINT_URL_*). The post-processor
// cases share one template per backend (Packer reports every
// post-processor block); a data source or an environment needs a process
// of its own.
func TestValidateRefusesHostileInput(t *testing.T) {
	var conns atomic.Int64
	s := ec2emu.New()
	hs := httptest.NewUnstartedServer(s)
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	env := []string{"AWS_ENDPOINT_URL_EC2=" + hs.URL, "AWS_ENDPOINT_URL_AUTO_SCALING=" + hs.URL, "AWS_ENDPOINT_URL_SSM=" + hs.URL,
		"AWS_ENDPOINT_URL_STS=" + hs.URL, "AWS_ENDPOINT_URL=" + hs.URL, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDHOSTILE", "AWS_SECRET_ACCESS_KEY=hostile-secret"}

	// Every case once, counted.
	seen := map[string]bool{}
	count := map[string]int{}
	categories := map[string]bool{}
	for _, c := range hostileCases {
		require.False(t, seen[c.name], "case %q twice", c.name)
		seen[c.name] = true
		count[c.component+"/"+c.backend]++
		categories[c.category] = true
	}
	for _, want := range []string{"types", "durations", "versions", "names", "ids", "regions", "ARNs", "owners", "paths", "constraints", "report paths", "env", "projects", "credentials", "endpoints", "backends"} {
		require.True(t, categories[want], "no case of category %s", want)
	}

	type run struct {
		name  string
		cases []hostileCase
		env   []string
	}
	var runs []run
	for _, be := range []string{"local", "aws", "gcp", "azure"} {
		r := run{name: "post-processor " + be}
		for _, c := range hostileCases {
			if c.component == "pp" && c.backend == be && c.env == nil {
				r.cases = append(r.cases, c)
			}
		}
		runs = append(runs, r)
	}
	for _, c := range hostileCases {
		if c.component == "ds" || c.env != nil {
			runs = append(runs, run{name: c.name, cases: []hostileCase{c}, env: c.env})
		}
	}

	var mu sync.Mutex
	var rows []string
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			body, lines := hostileTemplate(r.cases, hs.URL)
			dir := template(t, "t.pkr.hcl", body)
			require.NoError(t, os.Mkdir(filepath.Join(dir, "dir.json"), 0o755))
			require.NoError(t, os.Symlink("t.pkr.hcl", filepath.Join(dir, "link.json")))
			before := treeOf(t, dir)
			res := packerEnv(dir, append(append([]string{}, env...), r.env...), "validate", ".")
			require.NotZero(t, res.code, "validate accepted %s: %s", r.name, res)
			require.Equal(t, before, treeOf(t, dir), "validate touched the directory")
			for _, secret := range []string{"hostile-secret-key", "hostile-secret-token", "hunter2"} {
				require.NotContains(t, res.stdout+res.stderr, secret, "a secret is shown")
			}
			chunks := diagnosticsByBlock(res.stdout+res.stderr, lines)
			for i, c := range r.cases {
				got, ok := chunks[lines[i]]
				if !ok {
					t.Errorf("%s: no error for the block at line %d:\n%s", c.name, lines[i], res.stdout+res.stderr)
					continue
				}
				if !mustContain(t, got, c.want...) {
					continue
				}
				mu.Lock()
				rows = append(rows, fmt.Sprintf("%-3s %-5s %-12s %-40s %s", c.component, c.backend, c.category, c.name, strings.Join(strings.Fields(c.want[0]), " ")))
				mu.Unlock()
			}
		})
	}
	t.Cleanup(func() {
		require.Zero(t, conns.Load(), "validate connected to the AWS endpoint")
		require.Empty(t, s.Snapshot(), "validate called the emulator")
		sort.Strings(rows)
		t.Logf("%d hostile inputs refused at validate (%v):\n%s", len(rows), count, strings.Join(rows, "\n"))
	})
}

// hostileTemplate writes one block per case: a post-processor block in a
// build of the file builder, or a data source; lines are the blocks'
// first lines, where Packer's diagnostics point.
func hostileTemplate(cases []hostileCase, endpoint string) (string, []int) {
	var b strings.Builder
	b.WriteString(requireLifecycle)
	if cases[0].component == "pp" {
		b.WriteString("source \"file\" \"app\" {\n  content = \"x\"\n  target  = \"out/app.img\"\n}\nbuild {\n  sources = [\"source.file.app\"]\n")
	}
	var lines []int
	for _, c := range cases {
		attrs := map[string]bool{}
		for _, l := range strings.Split(c.body, "\n") {
			if k, _, ok := strings.Cut(l, "="); ok {
				attrs[strings.TrimSpace(k)] = true
			}
		}
		set := func(k, v string) {
			if !attrs[k] && !strings.Contains(c.body, k+" {") {
				fmt.Fprintf(&b, "%s = %s\n", k, v)
			}
		}
		lines = append(lines, strings.Count(b.String(), "\n")+1)
		if c.component == "pp" {
			b.WriteString("post-processor \"lifecycle\" {\n")
			set("family", `"web"`)
			if !attrs["sweep"] {
				set("version", `"1.0.0"`)
			}
			switch c.backend {
			case "aws":
				set("backend", `"aws"`)
				set("custom_endpoint_ec2", strconv.Quote(endpoint))
			case "gcp":
				set("backend", `"gcp"`)
				set("project_id", `"lifecycle-test"`)
				set("custom_endpoints", "{ compute = "+strconv.Quote(endpoint+"/compute/v1/")+" }")
			case "azure":
				set("backend", `"azure"`)
				set("subscription_id", `"00000000-0000-0000-0000-0000000000a1"`)
				set("gallery_resource_group", `"images"`)
				set("gallery_name", `"gallery"`)
			}
		} else {
			b.WriteString("data \"lifecycle-image\" \"p\" {\n")
			if c.name != "ds family missing" {
				set("family", `"web"`)
			}
		}
		b.WriteString(c.body + "\n}\n")
	}
	if cases[0].component == "pp" {
		b.WriteString("}\n")
	} else {
		b.WriteString("source \"null\" \"x\" { communicator = \"none\" }\nbuild { sources = [\"source.null.x\"] }\n")
	}
	return b.String(), lines
}

var (
	diagStartRE = regexp.MustCompile(`(?m)^Error: `)
	diagLineRE  = regexp.MustCompile(`(?m)^\s*on t\.pkr\.hcl line (\d+)`)
)

// diagnosticsByBlock splits Packer's output into its diagnostics (each
// starts with "Error: ") and gives each to the block whose lines hold the
// line it points at (a block's first line, or an attribute's line); blocks
// are the blocks' first lines, in order.
func diagnosticsByBlock(out string, blocks []int) map[int]string {
	chunks := map[int]string{}
	starts := diagStartRE.FindAllStringIndex(out, -1)
	for i, loc := range starts {
		end := len(out)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		d := out[loc[0]:end]
		if m := diagLineRE.FindStringSubmatch(d); m != nil {
			n, _ := strconv.Atoi(m[1])
			for b := len(blocks) - 1; b >= 0; b-- {
				if blocks[b] <= n {
					chunks[blocks[b]] += d
					break
				}
			}
		}
	}
	return chunks
}

// treeOf lists every path under dir with its mode and size.
func treeOf(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(p, ".packer.d") {
			return nil
		}
		out = append(out, fmt.Sprintf("%s %s %d", p, fi.Mode(), fi.Size()))
		return nil
	}))
	return out
}
