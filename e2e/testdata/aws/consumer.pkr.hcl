packer {
  required_plugins {
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}

# The account that builds the family and shares it with this one.
variable "producer" {
  type = string
}

# The newest supported release of the producer's family in us-east-1
# (AWS_REGION), as an account it is shared with sees it.
data "lifecycle-image" "base" {
  family               = "web"
  owners               = [var.producer]
  allow_simulated_time = true # the test plays simulated days
}

source "null" "read" {
  communicator = "none"
}

build {
  sources = ["source.null.read"]
  provisioner "shell-local" {
    inline = ["echo CONSUMER id=${data.lifecycle-image.base.id} version=${data.lifecycle-image.base.version} owner=${data.lifecycle-image.base.owner} released=${data.lifecycle-image.base.released_at}"]
  }
}
