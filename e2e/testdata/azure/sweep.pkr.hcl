# A sweep of web in the team gallery without a build, as a scheduled job
# runs it, on a cloud the metadata document at metadata_host describes.
packer {
  required_plugins {
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}

variable "metadata_host" { type = string }
variable "cloud" { type = string }
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

    backend                = "azure"
    subscription_id        = "00000000-0000-0000-0000-0000000000a1"
    client_id              = "00000000-0000-0000-0000-0000000000c1"
    client_secret          = "emu-secret"
    tenant_id              = "00000000-0000-0000-0000-00000000c0de"
    cloud_environment_name = var.cloud
    metadata_host          = var.metadata_host
    gallery_resource_group = "images"
    gallery_name           = "team_gallery"
  }
}
