// Package armemu is an in-process and stand-alone emulator of the parts of Azure
// Resource Manager the plugin's Azure Compute Gallery backend depends on: an Entra ID
// token endpoint (client secret, v1 and v2), the cloud metadata document,
// subscriptions, Compute Gallery galleries, image definitions and image versions
// (long-running operations, paging, the safety rules Azure enforces), and virtual
// machines and scale sets as image consumers. It serves HTTPS on loopback with a CA
// of its own, so azidentity, MSAL, armcompute and the az CLI accept it as Azure.
package armemu
