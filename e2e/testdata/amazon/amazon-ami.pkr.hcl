packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "= 1.8.0"
    }
  }
}

variable "endpoint" {
  type = string
}

# Our own images, as "self": the owner sees its deprecated images even without
# include_deprecated, never its disabled ones.
data "amazon-ami" "self" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  max_retries                = 3
  filters = {
    name                = "myapp-*"
    virtualization-type = "hvm"
  }
  owners      = ["self"]
  most_recent = true
}

# The same by account id, asking for deprecated images explicitly.
data "amazon-ami" "acct" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  max_retries                = 3
  filters = {
    name = "myapp-*"
  }
  owners             = ["123456789012"]
  most_recent        = true
  include_deprecated = true
}

# Another account's public images: its deprecated ones are hidden from us...
data "amazon-ami" "vendor" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  max_retries                = 3
  filters = {
    name = "vendor-*"
  }
  owners      = ["210987654321"]
  most_recent = true
}

# ...unless we ask for them.
data "amazon-ami" "vendor_deprecated" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  max_retries                = 3
  filters = {
    name = "vendor-*"
  }
  owners             = ["210987654321"]
  most_recent        = true
  include_deprecated = true
}

source "null" "n" {
  communicator = "none"
}

build {
  sources = ["source.null.n"]
  post-processor "shell-local" {
    inline = [
      "echo SELF id=${data.amazon-ami.self.id} name=${data.amazon-ami.self.name} created=${data.amazon-ami.self.creation_date} owner=${data.amazon-ami.self.owner} tag=${data.amazon-ami.self.tags["Version"]}",
      "echo ACCT id=${data.amazon-ami.acct.id} name=${data.amazon-ami.acct.name}",
      "echo VENDOR id=${data.amazon-ami.vendor.id} name=${data.amazon-ami.vendor.name}",
      "echo VENDOR_DEPRECATED id=${data.amazon-ami.vendor_deprecated.id} name=${data.amazon-ami.vendor_deprecated.name}",
    ]
  }
}
