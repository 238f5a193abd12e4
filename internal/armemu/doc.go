// Package armemu is an in-process and stand-alone emulator of the parts of Azure
// Resource Manager the plugin's Azure Compute Gallery backend depends on: an Entra ID
// token endpoint (client secret, v1 and v2), the cloud metadata document,
// subscriptions, Compute Gallery galleries, image definitions and image versions
// (long-running operations, paging, the safety rules Azure enforces), and virtual
// machines and scale sets as image consumers; and for the azure-arm builder, resource
// groups, template deployments (a small evaluator of ARM's template language), public
// IPs, VM deallocate and generalize, managed images, OS disks and the VMs' SSH (ssh.go:
// keys from the VM's osProfile, an scp sink, every command exits 0). It serves HTTPS on
// loopback with a CA of its own, so azidentity, MSAL, armcompute, the az CLI and the
// azure-arm builder accept it as Azure.
package armemu
