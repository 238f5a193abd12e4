# Builds the web AMI in us-east-1, copies it to eu-west-1, and retires
# superseded releases of the family in both regions.
#
#   packer init . && packer build -var source_ami=ami-… -var release=1.4.2 .
#
# Credentials and region come from the usual places (AWS_PROFILE, the
# environment, an instance role); add `profile` or `assume_role { … }` to the
# post-processor to pick others. For a weekly sweep without a build, see the
# post-processor documentation ("Sweep, dry run and restore").

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.8.0"
    }
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}

variable "source_ami" {
  type        = string
  description = "The AMI to build from."
}

variable "release" {
  type        = string
  description = "The version of this build, e.g. 1.4.2."
}

# Only for tests against an EC2 emulator: leave empty for AWS.
variable "endpoint" {
  type    = string
  default = ""
}

source "amazon-ebs" "web" {
  region                     = "us-east-1"
  ami_regions                = ["eu-west-1"]
  source_ami                 = var.source_ami
  instance_type              = "t3.micro"
  ami_name                   = "web-${var.release}"
  communicator               = "none"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = var.endpoint != ""
  skip_region_validation     = var.endpoint != ""
}

build {
  sources = ["source.amazon-ebs.web"]

  post-processor "lifecycle" {
    family  = "web"
    version = var.release
    channel = "stable"

    # Retention, per region.
    keep_releases    = 3
    min_age          = "7d"
    expire_after     = "180d" # EC2 deprecates the AMI then, natively
    deprecate_after  = "1d"
    disable_after    = "14d"
    deregister_after = "30d"
    delete_snapshots = true

    # AWS: the artifact's regions are covered; these are swept as well.
    regions                  = ["us-west-2"]
    launch_template_versions = "all"

    report_path = "lifecycle-report.json"
  }
}
