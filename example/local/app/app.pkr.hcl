# A child image: it starts from the newest supported "base" release (never a
# deprecated, disabled, expired or retired one) and records it as its parent.

packer {
  required_plugins {
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}

variable "rehearse" {
  type        = bool
  description = "Act at the time in PACKER_LIFECYCLE_NOW (the demo plays simulated weeks). Leave false for real builds."
  default     = false
}

variable "version" {
  type    = string
  default = "1.0.0"
}

data "lifecycle-image" "base" {
  family             = "base"
  channel            = "stable"
  version_constraint = ">= 1.0, < 2.0"
  allow_simulated_time = var.rehearse
}

source "file" "app" {
  source = data.lifecycle-image.base.path
  target = "out/app-${var.version}.img"
}

build {
  sources = ["source.file.app"]

  post-processor "lifecycle" {
    family  = "app"
    version = var.version
    parent  = data.lifecycle-image.base.id
    allow_simulated_time = var.rehearse
  }
}
