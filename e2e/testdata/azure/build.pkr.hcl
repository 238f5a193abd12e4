# web built with the real azure-arm builder from a platform image and
# published to the team gallery; the lifecycle post-processor records it
# and retires superseded versions; the manifest after it records the
# builder's artifact, optionally with a managed image. The cloud is the one the metadata document at
# metadata_host describes; every VM's SSH answers on ssh_port.
packer {
  required_plugins {
    azure = {
      source  = "github.com/hashicorp/azure"
      version = ">= 1.4.5"
    }
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}

variable "metadata_host" { type = string }
variable "cloud" { type = string }
variable "release" { type = string }
variable "ssh_port" { type = number }
variable "managed_image_name" {
  type    = string
  default = ""
}

locals {
  subscription_id = "00000000-0000-0000-0000-0000000000a1"
  client_id       = "00000000-0000-0000-0000-0000000000c1"
  client_secret   = "emu-secret"
  tenant_id       = "00000000-0000-0000-0000-00000000c0de"
}

source "azure-arm" "web" {
  subscription_id        = local.subscription_id
  client_id              = local.client_id
  client_secret          = local.client_secret
  tenant_id              = local.tenant_id
  cloud_environment_name = var.cloud
  metadata_host          = var.metadata_host

  location        = "westeurope"
  os_type         = "Linux"
  image_publisher = "Canonical"
  image_offer     = "0001-com-ubuntu-server-jammy"
  image_sku       = "22_04-lts"
  vm_size         = "Standard_B2s"
  ssh_port        = var.ssh_port

  # Optionally a managed image too: the artifact's id is then the managed
  # image's, and the version's id is in its String().
  managed_image_name                = var.managed_image_name
  managed_image_resource_group_name = var.managed_image_name == "" ? "" : "images"

  shared_image_gallery_destination {
    subscription        = local.subscription_id
    resource_group      = "images"
    gallery_name        = "team_gallery"
    image_name          = "web"
    image_version       = var.release
    replication_regions = ["westeurope", "northeurope"]
  }

  azure_tags = { team = "web" }
}

build {
  sources = ["source.azure-arm.web"]

  # Azure's Linux generalisation step, as every azure-arm template has it.
  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'"
    inline          = ["/usr/sbin/waagent -force -deprovision+user && export HISTSIZE=0 && sync"]
  }

  post-processors {
    post-processor "lifecycle" {
      family               = "web"
      version              = var.release
      channel              = "stable"
      keep_releases        = 1
      min_age              = "0s"
      deprecate_after      = "0s"
      disable_after        = "7d"
      deregister_after     = "7d"
      allow_simulated_time = true
      report_path          = "report.json"

      subscription_id        = local.subscription_id
      client_id              = local.client_id
      client_secret          = local.client_secret
      tenant_id              = local.tenant_id
      cloud_environment_name = var.cloud
      metadata_host          = var.metadata_host
      gallery_resource_group = "images"
      gallery_name           = "team_gallery"
    }

    post-processor "manifest" {
      output = "manifest.json"
    }
  }
}
