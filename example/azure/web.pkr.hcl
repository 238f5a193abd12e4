# Builds the web image with azure-arm, publishes it to a Compute Gallery,
# and retires superseded versions of the family there: excluded from
# "latest" with an end of life, then withdrawn to the home region, then
# deleted. The build starts from the newest supported version of the base
# family, read from the same gallery.
#
#   packer init .
#   packer build -var subscription_id=... -var release=1.4.2 .
#
# Credentials: set client_id, client_secret and tenant_id for a service
# principal; left unset, azure-arm uses the VM's managed identity and the
# lifecycle blocks azidentity's default chain (AZURE_CLIENT_ID and friends,
# workload or managed identity, `az login`). The same options serve
# azure-arm and the lifecycle blocks, and so do cloud_environment_name and
# metadata_host, for a cloud other than the public one. For a weekly sweep
# without a build, see the post-processor documentation ("Sweep, dry run
# and restore").

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

variable "subscription_id" {
  type        = string
  description = "The subscription of the gallery and the build."
}

variable "release" {
  type        = string
  description = "The version of this build, Major.Minor.Patch (a gallery image version), e.g. 1.4.2."
}

variable "client_id" {
  type    = string
  default = null
}

variable "client_secret" {
  type      = string
  default   = null
  sensitive = true
}

variable "tenant_id" {
  type    = string
  default = null
}

variable "cloud_environment_name" {
  type    = string
  default = null
}

variable "metadata_host" {
  type    = string
  default = null
}

variable "gallery_resource_group" {
  type    = string
  default = "images"
}

variable "gallery_name" {
  type    = string
  default = "team_gallery"
}

variable "location" {
  type    = string
  default = "westeurope"
}

# The newest supported release of the base family: the parent.
data "lifecycle-image" "base" {
  family                 = "base"
  subscription_id        = var.subscription_id
  client_id              = var.client_id
  client_secret          = var.client_secret
  tenant_id              = var.tenant_id
  cloud_environment_name = var.cloud_environment_name
  metadata_host          = var.metadata_host
  gallery_resource_group = var.gallery_resource_group
  gallery_name           = var.gallery_name
}

source "azure-arm" "web" {
  subscription_id        = var.subscription_id
  client_id              = var.client_id
  client_secret          = var.client_secret
  tenant_id              = var.tenant_id
  cloud_environment_name = var.cloud_environment_name
  metadata_host          = var.metadata_host

  location = var.location
  os_type  = "Linux"
  vm_size  = "Standard_B2s"

  shared_image_gallery {
    subscription   = data.lifecycle-image.base.subscription_id
    resource_group = data.lifecycle-image.base.resource_group
    gallery_name   = data.lifecycle-image.base.gallery_name
    image_name     = data.lifecycle-image.base.image_name
    image_version  = data.lifecycle-image.base.image_version
  }

  shared_image_gallery_destination {
    subscription        = var.subscription_id
    resource_group      = var.gallery_resource_group
    gallery_name        = var.gallery_name
    image_name          = "web"
    image_version       = var.release
    replication_regions = [var.location, "northeurope"]
  }

  azure_tags = { team = "web" }
}

build {
  sources = ["source.azure-arm.web"]

  # Generalise the VM, as Azure requires of a Generalized image definition.
  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'"
    inline          = ["/usr/sbin/waagent -force -deprovision+user && export HISTSIZE=0 && sync"]
  }

  post-processor "lifecycle" {
    family  = "web"
    version = var.release
    channel = "stable"
    parent  = data.lifecycle-image.base.self_link

    # Retention, per image definition.
    keep_releases    = 3
    min_age          = "7d"
    expire_after     = "180d"
    deprecate_after  = "1d"
    disable_after    = "14d"
    deregister_after = "30d"

    client_id              = var.client_id
    client_secret          = var.client_secret
    tenant_id              = var.tenant_id
    cloud_environment_name = var.cloud_environment_name
    metadata_host          = var.metadata_host
    gallery_resource_group = var.gallery_resource_group
    gallery_name           = var.gallery_name

    report_path = "lifecycle-report.json"
  }
}
