// Package gceemu is an in-process and stand-alone emulator of the Compute Engine v1
// REST API (JSON), good enough for google.golang.org/api/compute/v1, gcloud and
// Packer's googlecompute builder to accept it as GCE.
package gceemu

import _ "google.golang.org/api/compute/v1"
