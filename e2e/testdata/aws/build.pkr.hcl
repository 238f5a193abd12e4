packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "= 1.8.0"
    }
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}

# The EC2 emulator's URL (the test also sets AWS_ENDPOINT_URL_EC2 to it: the
# amazon plugin's copy clients and our post-processor read that).
variable "endpoint" {
  type = string
}

variable "source_ami" {
  type = string
}

variable "release" {
  type = string
}

# Accounts the release is shared with (launch permissions).
variable "ami_users" {
  type    = list(string)
  default = []
}

variable "keep" {
  type    = number
  default = 1
}

source "amazon-ebs" "web" {
  region                     = "us-east-1"
  ami_regions                = ["eu-west-1"]
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  skip_region_validation     = true
  max_retries                = 3
  source_ami                 = var.source_ami
  instance_type              = "t3.micro"
  ami_name                   = "web-${var.release}"
  ami_description            = "web ${var.release}"
  ami_users                  = var.ami_users
  communicator               = "none"
}

build {
  sources = ["source.amazon-ebs.web"]

  post-processor "lifecycle" {
    # The test plays simulated weeks through PACKER_LIFECYCLE_NOW.
    allow_simulated_time = true
    family               = "web"
    version              = var.release
    keep_releases        = var.keep
    min_age              = "1d"
    disable_after        = "7d"
    deregister_after     = "7d"
    report_path          = "report-${var.release}.json"
  }
}
