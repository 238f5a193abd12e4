# A googlecompute build of web, recorded and retired by the lifecycle
# post-processor, against the Compute Engine emulator.
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
variable "release" { type = string }
variable "image_project" {
  type    = string
  default = "lifecycle-test"
}

source "googlecompute" "web" {
  project_id              = "lifecycle-test"
  zone                    = "us-central1-a"
  source_image_family     = "debian-12"
  source_image_project_id = ["debian-cloud"]
  image_name              = "web-${replace(var.release, ".", "-")}"
  image_project_id        = var.image_project
  communicator            = "none"
  access_token            = "dummy-token"
  custom_endpoints        = { compute = var.endpoint }
}

build {
  sources = ["source.googlecompute.web"]

  post-processor "lifecycle" {
    family               = "web"
    version              = var.release
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
