package ec2emu

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
)

// productOps are the EC2 operations the lifecycle plugin's AWS backend and its tests
// call: they must be exact.
func productOps() map[string]handler {
	return map[string]handler{
		"DescribeImages":                              describeImages,
		"DescribeImageAttribute":                      describeImageAttribute,
		"ModifyImageAttribute":                        modifyImageAttribute,
		"ResetImageAttribute":                         resetImageAttribute,
		"CancelImageLaunchPermission":                 cancelImageLaunchPermission,
		"RegisterImage":                               registerImage,
		"CopyImage":                                   copyImage,
		"DeregisterImage":                             deregisterImage,
		"EnableImageDeprecation":                      enableImageDeprecation,
		"DisableImageDeprecation":                     disableImageDeprecation,
		"DisableImage":                                disableImage,
		"EnableImage":                                 enableImage,
		"EnableImageDeregistrationProtection":         enableProtection,
		"DisableImageDeregistrationProtection":        disableProtection,
		"GetImageAncestry":                            getImageAncestry,
		"DescribeImageReferences":                     describeImageReferences,
		"DescribeInstanceImageMetadata":               describeInstanceImageMetadata,
		"CreateImageUsageReport":                      createImageUsageReport,
		"GetAllowedImagesSettings":                    getAllowedImagesSettings,
		"EnableAllowedImagesSettings":                 enableAllowedImagesSettings,
		"DisableAllowedImagesSettings":                disableAllowedImagesSettings,
		"ReplaceImageCriteriaInAllowedImagesSettings": replaceImageCriteria,
		"DescribeImageUsageReports":                   describeImageUsageReports,
		"DescribeImageUsageReportEntries":             describeImageUsageReportEntries,
		"CreateSnapshot":                              createSnapshot,
		"DescribeSnapshots":                           describeSnapshots,
		"DeleteSnapshot":                              deleteSnapshot,
		"DescribeSnapshotAttribute":                   describeSnapshotAttribute,
		"ListImagesInRecycleBin":                      listImagesInRecycleBin,
		"RestoreImageFromRecycleBin":                  restoreImageFromRecycleBin,
		"ListSnapshotsInRecycleBin":                   listSnapshotsInRecycleBin,
		"RestoreSnapshotFromRecycleBin":               restoreSnapshotFromRecycleBin,
		"ModifySnapshotAttribute":                     modifySnapshotAttribute,
		"CreateTags":                                  createTags,
		"DeleteTags":                                  deleteTags,
		"DescribeTags":                                describeTags,
		"DescribeInstances":                           describeInstances,
		"CreateLaunchTemplate":                        createLaunchTemplate,
		"CreateLaunchTemplateVersion":                 createLaunchTemplateVersion,
		"DescribeLaunchTemplates":                     describeLaunchTemplates,
		"DescribeLaunchTemplateVersions":              describeLaunchTemplateVersions,
		"DeleteLaunchTemplate":                        deleteLaunchTemplate,
	}
}

// buildOps exist only to carry an amazon-ebs build (Packer's amazon plugin): instances,
// their key pairs, security groups and volumes, and CreateImage from an instance.
func buildOps() map[string]handler {
	return map[string]handler{
		"DescribeRegions":               describeRegions,
		"RunInstances":                  runInstances,
		"StopInstances":                 stopInstances,
		"StartInstances":                startInstances,
		"TerminateInstances":            terminateInstances,
		"CreateImage":                   createImage,
		"CreateKeyPair":                 createKeyPair,
		"DeleteKeyPair":                 deleteKeyPair,
		"DescribeKeyPairs":              describeKeyPairs,
		"CreateSecurityGroup":           createSecurityGroup,
		"DescribeSecurityGroups":        describeSecurityGroups,
		"AuthorizeSecurityGroupIngress": authorizeIngress,
		"DeleteSecurityGroup":           deleteSecurityGroup,
		"DescribeVolumes":               describeVolumes,
		"DeleteVolume":                  deleteVolume,
	}
}

func ec2Service() *service {
	ops := productOps()
	for name, h := range buildOps() {
		ops[name] = h
	}
	return &service{name: "ec2", handlers: ops, respond: writeResponse, fail: writeError, denied: unauthorized}
}

// Deny makes action answer as unauthorized for accountID ("*": every account).
func (s *Server) Deny(accountID, action string) {
	s.mu.Lock()
	s.denied[accountID+"/"+action] = true
	s.mu.Unlock()
}

func (s *Server) isDenied(account, action string) bool {
	return s.denied[account+"/"+action] || s.denied["*/"+action]
}

// unauthorized is EC2's 403 with an encoded authorization failure message, which real
// clients pass to sts decode-authorization-message (here: base64 JSON, not encrypted).
func unauthorized(c *call) error {
	doc, _ := json.Marshal(map[string]any{
		"allowed": false, "explicitDeny": true,
		"context": map[string]string{"principal": c.account, "action": c.svc.name + ":" + c.action},
	})
	return errf(http.StatusForbidden, "UnauthorizedOperation",
		"You are not authorized to perform this operation. User: arn:aws:iam::%s:user/ec2emu is not authorized to perform: %s:%s with an explicit deny. Encoded authorization failure message: %s",
		c.account, c.svc.name, c.action, base64.RawURLEncoding.EncodeToString(doc))
}
