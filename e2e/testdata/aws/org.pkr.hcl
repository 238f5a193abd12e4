packer {
  required_plugins {
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}

variable "dry_run" {
  type    = bool
  default = false
}

# An organisation-wide sweep: the hub role is assumed with the caller's
# credentials, each member account's role with the hub's.
source "null" "sweep" {
  communicator = "none"
}

build {
  sources = ["source.null.sweep"]

  post-processor "lifecycle" {
    allow_simulated_time = true
    backend              = "aws"
    regions              = ["us-east-1", "eu-west-1"]
    family               = "web"
    sweep                = true
    dry_run              = var.dry_run
    keep_releases        = 1
    min_age              = "1d"
    disable_after        = "7d"
    deregister_after     = "7d"
    report_path          = "org.json"

    assume_role {
      role_arn     = "arn:aws:iam::200000000000:role/lifecycle-hub"
      session_name = "org-sweep"
    }

    accounts {
      assume_role {
        role_arn    = "arn:aws:iam::210000000001:role/lifecycle-sweeper"
        external_id = "org-sweep-xid"
      }
    }
    accounts {
      assume_role {
        role_arn    = "arn:aws:iam::210000000002:role/lifecycle-sweeper"
        external_id = "org-sweep-xid"
      }
      regions = ["eu-west-1"]
    }
    # Not created: this account cannot be assumed.
    accounts {
      assume_role {
        role_arn    = "arn:aws:iam::210000000003:role/lifecycle-sweeper"
        external_id = "org-sweep-xid"
      }
    }
  }
}
