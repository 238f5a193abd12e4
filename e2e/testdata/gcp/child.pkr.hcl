# A child build from the newest supported web release, through the data
# source, as googlecompute takes it.
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

data "lifecycle-image" "web" {
  family               = "web"
  project_id           = "lifecycle-test"
  access_token         = "dummy-token"
  custom_endpoints     = { compute = var.endpoint }
  allow_simulated_time = true
}

source "googlecompute" "app" {
  project_id              = "lifecycle-test"
  zone                    = "us-central1-a"
  source_image            = data.lifecycle-image.web.id
  source_image_project_id = [data.lifecycle-image.web.project]
  image_name              = "app-1"
  image_labels            = { base = replace(data.lifecycle-image.web.version, ".", "-") }
  communicator            = "none"
  access_token            = "dummy-token"
  custom_endpoints        = { compute = var.endpoint }
}

build {
  sources = ["source.googlecompute.app"]

  post-processor "lifecycle" {
    family               = "app"
    version              = "1.0.0"
    parent               = data.lifecycle-image.web.id
    allow_simulated_time = true
    project_id           = "lifecycle-test"
    access_token         = "dummy-token"
    custom_endpoints     = { compute = var.endpoint }
  }

  post-processor "shell-local" {
    inline = ["echo self_link=${data.lifecycle-image.web.self_link} family=${data.lifecycle-image.web.family}"]
  }
}
