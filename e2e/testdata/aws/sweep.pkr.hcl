packer {
  required_plugins {
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}

variable "dry_run" {
  type    = bool
  default = false
}

variable "max_retries" {
  type    = number
  default = 0
}

variable "pin" {
  type    = list(string)
  default = []
}

variable "unpin" {
  type    = list(string)
  default = []
}

variable "lt_versions" {
  type    = string
  default = "all"
}

variable "restore" {
  type    = list(string)
  default = []
}

variable "usage_report_wait" {
  type    = string
  default = ""
}

variable "delete_orphaned_snapshots" {
  type    = bool
  default = false
}

variable "allowed_images_path" {
  type    = string
  default = ""
}

variable "revoke" {
  type    = list(string)
  default = []
}

variable "revoke_descendants" {
  type    = bool
  default = false
}

variable "revoke_reason" {
  type    = string
  default = ""
}

variable "delete_snapshots" {
  type    = bool
  default = true
}

# A sweep: no build, the family retired in every configured region.
source "null" "sweep" {
  communicator = "none"
}

build {
  sources = ["source.null.sweep"]

  post-processor "lifecycle" {
    # The test plays simulated weeks through PACKER_LIFECYCLE_NOW.
    allow_simulated_time = true
    backend              = "aws"
    regions              = ["us-east-1", "eu-west-1"]
    family               = "web"
    sweep                = true
    dry_run              = var.dry_run
    max_retries          = var.max_retries

    launch_template_versions = var.lt_versions
    usage_report_wait        = var.usage_report_wait
    restore                  = var.restore
    revoke                   = var.revoke
    revoke_descendants       = var.revoke_descendants
    revoke_reason            = var.revoke_reason
    pin_releases             = var.pin
    unpin_releases           = var.unpin
    keep_releases            = 1
    min_age                  = "1d"
    disable_after            = "7d"
    deregister_after         = "7d"
    delete_snapshots         = var.delete_snapshots
    report_path              = "sweep.json"

    allowed_images_path       = var.allowed_images_path
    delete_orphaned_snapshots = var.delete_orphaned_snapshots
  }
}
