packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "= 1.8.0"
    }
  }
}

# The EC2 emulator's URL; the test also sets AWS_ENDPOINT_URL_EC2 to it, because
# only the plugin's main client honours custom_endpoint_ec2. max_retries = 3 (the
# plugin's default is 10 with exponential backoff) makes a client that misses the
# endpoint fail in seconds instead of minutes inside the offline namespace.
variable "endpoint" {
  type = string
}

variable "source_ami" {
  type = string
}

variable "ami_name" {
  type = string
}

variable "deprecate_at" {
  type = string
}

variable "protect" {
  type    = bool
  default = false
}

source "amazon-ebs" "app" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  skip_region_validation     = true
  max_retries                = 3
  source_ami                 = var.source_ami
  instance_type              = "t3.micro"
  ami_name                   = var.ami_name
  ami_description            = "built from {{ .SourceAMI }}"
  communicator               = "none"
  deprecate_at               = var.deprecate_at
  force_deregister           = true
  force_delete_snapshot      = true
  deregistration_protection {
    enabled = var.protect
  }
  run_tags                   = { Run = "e2e" }
  tags                       = { App = "myapp", SrcName = "{{ .SourceAMIName }}" }
  snapshot_tags              = { Snap = "s1" }
}

build {
  sources = ["source.amazon-ebs.app"]
}
