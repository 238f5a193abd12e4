# Builds the web image in a project and retires superseded releases of the
# family there with Compute Engine's own states: DEPRECATED (pointing at the
# new release), then OBSOLETE, then deleted.
#
#   packer init . && packer build -var project=my-project -var release=1.4.2 .
#
# Credentials are Application Default Credentials (`gcloud auth
# application-default login`, a service account on the machine) unless
# access_token, credentials_file or impersonate_service_account say
# otherwise. For a weekly sweep without a build, see the post-processor
# documentation ("Sweep, dry run and restore").

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

variable "project" {
  type        = string
  description = "The project the image is built and released in."
}

variable "release" {
  type        = string
  description = "The version of this build, e.g. 1.4.2."
}

variable "source_image_family" {
  type    = string
  default = "debian-12"
}

variable "source_image_project" {
  type    = string
  default = "debian-cloud"
}

# Only for tests against a Compute Engine emulator: leave both empty.
variable "endpoint" {
  type    = string
  default = ""
}

variable "access_token" {
  type      = string
  default   = ""
  sensitive = true
}

locals {
  endpoints = var.endpoint == "" ? {} : { compute = var.endpoint }
}

source "googlecompute" "web" {
  project_id              = var.project
  zone                    = "europe-west1-b"
  source_image_family     = var.source_image_family
  source_image_project_id = [var.source_image_project]
  image_name              = "web-${replace(var.release, ".", "-")}"
  image_labels            = { team = "web" }
  communicator            = "none"
  access_token            = var.access_token
  custom_endpoints        = local.endpoints
}

build {
  sources = ["source.googlecompute.web"]

  post-processor "lifecycle" {
    family  = "web" # also the image's Compute Engine family: image_family is unset
    version = var.release
    channel = "stable"

    # Retention, per project.
    keep_releases    = 3
    min_age          = "7d"
    expire_after     = "180d"
    deprecate_after  = "1d"
    disable_after    = "14d"
    deregister_after = "30d"

    access_token     = var.access_token
    custom_endpoints = local.endpoints

    report_path = "lifecycle-report.json"
  }
}
