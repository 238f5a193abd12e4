# Integration metadata read by the Packer integrations site.
integration {
  name        = "Lifecycle"
  description = "Records machine image releases and retires superseded ones: deprecate, disable, delete."
  identifier  = "packer/packer-lifecycle/lifecycle"
  component {
    type = "post-processor"
    name = "Lifecycle"
    slug = "lifecycle"
  }
  component {
    type = "data-source"
    name = "Lifecycle Image"
    slug = "image"
  }
  docs {
    process_docs    = true
    readme_location = "./README.md"
    external_url    = "https://github.com/packer-lifecycle/packer-plugin-lifecycle"
  }
  license {
    type = "MPL-2.0"
    url  = "https://github.com/packer-lifecycle/packer-plugin-lifecycle/blob/main/LICENSE"
  }
}
