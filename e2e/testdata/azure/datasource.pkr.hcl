# The newest supported web release of the team gallery, as a child build
# reads it (its azure-arm shared_image_gallery source takes these fields).
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

data "lifecycle-image" "web" {
  family                 = "web"
  subscription_id        = "00000000-0000-0000-0000-0000000000a1"
  client_id              = "00000000-0000-0000-0000-0000000000c1"
  client_secret          = "emu-secret"
  tenant_id              = "00000000-0000-0000-0000-00000000c0de"
  cloud_environment_name = var.cloud
  metadata_host          = var.metadata_host
  gallery_resource_group = "images"
  gallery_name           = "team_gallery"
  allow_simulated_time   = true
}

source "null" "show" {
  communicator = "none"
}

build {
  sources = ["source.null.show"]

  post-processor "shell-local" {
    inline = ["echo version=${data.lifecycle-image.web.image_version} id=${data.lifecycle-image.web.self_link} rg=${data.lifecycle-image.web.resource_group} gallery=${data.lifecycle-image.web.gallery_name} image=${data.lifecycle-image.web.image_name} sub=${data.lifecycle-image.web.subscription_id}"]
  }
}
