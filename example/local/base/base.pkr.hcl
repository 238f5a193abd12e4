# The "base" image family, built with the file builder so it runs anywhere.
# `release` records a new version and retires superseded ones; `sweep` only
# retires (run it on a schedule). Run from the directory that holds the
# catalog: packer build -only='release.*' -var version=1.2.0 base/

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
  default = "0.0.0"
}

variable "source_file" {
  type        = string
  description = "The disk image this release ships (any file)."
  default     = ""
}

source "file" "base" {
  source = var.source_file
  target = "out/base-${var.version}.img"
}

source "null" "sweep" {
  communicator = "none"
}

build {
  name    = "release"
  sources = ["source.file.base"]

  post-processor "lifecycle" {
    family           = "base"
    version          = var.version
    channel          = "stable"
    keep_releases    = 1
    min_age          = "1d"
    deprecate_after  = "0s"
    disable_after    = "7d"
    deregister_after = "7d"
    delete_snapshots = true
    allow_simulated_time = var.rehearse
  }
}

build {
  name    = "sweep"
  sources = ["source.null.sweep"]

  post-processor "lifecycle" {
    family           = "base"
    sweep            = true
    keep_releases    = 1
    min_age          = "1d"
    deprecate_after  = "0s"
    disable_after    = "7d"
    deregister_after = "7d"
    delete_snapshots = true
    allow_simulated_time = var.rehearse
  }
}
