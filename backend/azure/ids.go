package azure

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Gallery is a Compute Gallery the backend covers; Images narrows it to
// these image definitions (empty: all).
type Gallery struct {
	ResourceGroup, Name string
	Images              []string
}

// Definition is one gallery image definition: the scope a release is
// planned in (what a region is on AWS). Its Key, in lower case because ARM
// names are case-insensitive, is the region part of a ref.
type Definition struct {
	ResourceGroup, Gallery, Image string
}

// Key is "resource-group/gallery/image" in lower case.
func (d Definition) Key() string {
	return strings.ToLower(d.ResourceGroup + "/" + d.Gallery + "/" + d.Image)
}

// ID is the definition's ARM id in subscription sub.
func (d Definition) ID(sub string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s/images/%s", sub, d.ResourceGroup, d.Gallery, d.Image)
}

// VersionID is the ARM id of version v of the definition.
func (d Definition) VersionID(sub, v string) string { return d.ID(sub) + "/versions/" + v }

// parseKey reads a Definition's Key.
func parseKey(key string) (Definition, error) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 {
		return Definition{}, fmt.Errorf("%q is not resource-group/gallery/image", clip(key))
	}
	d := Definition{ResourceGroup: parts[0], Gallery: parts[1], Image: parts[2]}
	for _, err := range []error{CheckResourceGroup(d.ResourceGroup), CheckGallery(d.Gallery), CheckImage(d.Image)} {
		if err != nil {
			return Definition{}, err
		}
	}
	return d, nil
}

// Version names one gallery image version.
type Version struct {
	Subscription string
	Definition   Definition
	Version      string
}

const versionType = "Microsoft.Compute/galleries/images/versions"

// parseVersionID reads a gallery image version's ARM id.
func parseVersionID(id string) (Version, error) {
	rid, err := arm.ParseResourceID(id)
	if err != nil || !strings.EqualFold(rid.ResourceType.String(), versionType) || rid.Parent == nil || rid.Parent.Parent == nil {
		return Version{}, fmt.Errorf("%q is not a gallery image version id (/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/galleries/N/images/I/versions/V)", clip(id))
	}
	v := Version{Subscription: rid.SubscriptionID, Version: rid.Name,
		Definition: Definition{ResourceGroup: rid.ResourceGroupName, Gallery: rid.Parent.Parent.Name, Image: rid.Parent.Name}}
	for _, err := range []error{CheckSubscription(v.Subscription), CheckResourceGroup(v.Definition.ResourceGroup),
		CheckGallery(v.Definition.Gallery), CheckImage(v.Definition.Image), CheckVersion(v.Version)} {
		if err != nil {
			return Version{}, fmt.Errorf("the gallery image version id %q: %w", clip(id), err)
		}
	}
	return v, nil
}

// definitionOf reads an image reference id naming a gallery image
// definition (a VM that follows "latest") or one of its versions.
func definitionOf(id string) (sub string, d Definition, version string, ok bool) {
	rid, err := arm.ParseResourceID(id)
	if err != nil {
		return "", Definition{}, "", false
	}
	switch {
	case strings.EqualFold(rid.ResourceType.String(), versionType) && rid.Parent != nil && rid.Parent.Parent != nil:
		return rid.SubscriptionID, Definition{rid.ResourceGroupName, rid.Parent.Parent.Name, rid.Parent.Name}, rid.Name, true
	case strings.EqualFold(rid.ResourceType.String(), "Microsoft.Compute/galleries/images") && rid.Parent != nil:
		return rid.SubscriptionID, Definition{rid.ResourceGroupName, rid.Parent.Name, rid.Name}, "", true
	}
	return "", Definition{}, "", false
}

// VersionOf reads where a listed image lives, in the case Azure spells it.
func VersionOf(img lifecycle.Image) (Version, error) {
	v, err := parseVersionID(img.Name)
	if err != nil {
		return Version{}, err
	}
	return v, nil
}
