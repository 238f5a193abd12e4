# The googlecompute plugin's own image data source beside lifecycle-image,
# both reading the web family with a service account key (Application
# Default Credentials for googlecompute-image, credentials_file for ours).
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
variable "credentials" { type = string }

# What a user writes today: the newest image labelled active.
data "googlecompute-image" "labelled" {
  project_id       = "lifecycle-test"
  filters          = "labels.lifecycle-family = web AND labels.lifecycle-stage = active"
  most_recent      = true
  custom_endpoints = { compute = var.endpoint }
}

data "lifecycle-image" "web" {
  family               = "web"
  project_id           = "lifecycle-test"
  credentials_file     = var.credentials
  custom_endpoints     = { compute = var.endpoint }
  allow_simulated_time = true
}

source "null" "show" {
  communicator = "none"
}

build {
  sources = ["source.null.show"]

  post-processor "shell-local" {
    inline = ["echo googlecompute-image=${data.googlecompute-image.labelled.name} lifecycle-image=${data.lifecycle-image.web.id}"]
  }
}
