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

variable "endpoint" {
  type = string
}

# The newest supported release of the base family in us-east-1 (AWS_REGION).
data "lifecycle-image" "base" {
  family               = "web"
  owners               = ["self"]
  allow_simulated_time = true # the test plays simulated days
}

# The same question asked of the amazon plugin, for comparison: it returns
# the owner's deprecated AMIs.
data "amazon-ami" "base" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  max_retries                = 3
  filters = {
    "tag:lifecycle:family" = "web"
  }
  owners      = ["self"]
  most_recent = true
}

source "amazon-ebs" "child" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  skip_region_validation     = true
  max_retries                = 3
  source_ami                 = data.lifecycle-image.base.id
  instance_type              = "t3.micro"
  ami_name                   = "app-1"
  communicator               = "none"
  tags = {
    AmazonAMI   = data.amazon-ami.base.id
    BaseVersion = data.lifecycle-image.base.version
  }
}

build {
  sources = ["source.amazon-ebs.child"]

  post-processor "lifecycle" {
    # The test plays simulated weeks through PACKER_LIFECYCLE_NOW.
    allow_simulated_time = true
    family               = "app"
    version              = "1.0.0"
    parent               = data.lifecycle-image.base.id
  }
}
