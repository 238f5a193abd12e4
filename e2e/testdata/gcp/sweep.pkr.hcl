# A sweep of web without a build, as a scheduled job runs it.
packer {
  required_plugins {
    googlecompute = {
      source  = "github.com/hashicorp/googlecompute"
      version = ">= 1.2.7"
    }
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}

variable "endpoint" { type = string }
variable "dry_run" {
  type    = bool
  default = false
}

source "null" "sweep" {
  communicator = "none"
}

build {
  sources = ["source.null.sweep"]

  post-processor "lifecycle" {
    family               = "web"
    sweep                = true
    dry_run              = var.dry_run
    keep_releases        = 1
    min_age              = "0s"
    deprecate_after      = "0s"
    disable_after        = "7d"
    deregister_after     = "7d"
    allow_simulated_time = true
    report_path          = "report.json"

    backend          = "gcp"
    project_id       = "lifecycle-test"
    access_token     = "dummy-token"
    custom_endpoints = { compute = var.endpoint }
  }
}
