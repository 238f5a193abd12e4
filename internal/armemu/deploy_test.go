package armemu_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

const buildRG = "pkr-Resource-Group-abc"

// buildTemplate is the shape of azure-arm v1.4.5's Linux deployment
// (common/template TestBuildLinux00, with a managed OS disk): a public IP,
// a network, a NIC, the VM and a conditional extension.
func buildTemplate(key string) string {
	return `{"properties":{"mode":"Incremental","template":{
  "$schema":"http://schema.management.azure.com/schemas/2014-04-01-preview/deploymentTemplate.json","contentVersion":"1.0.0.0",
  "parameters":{"adminUsername":{"type":"string"},"vmName":{"type":"string"},"nicName":{"type":"string"},
    "publicIPAddressName":{"type":"string"},"virtualNetworkName":{"type":"string"},"subnetName":{"type":"string"},
    "osDiskName":{"type":"string"},"commandToExecute":{"type":"string"},"vmSize":{"type":"string","defaultValue":"Standard_B2s"}},
  "variables":{"location":"[resourceGroup().location]","vnetID":"[resourceId(variables('virtualNetworkResourceGroup'), 'Microsoft.Network/virtualNetworks', parameters('virtualNetworkName'))]",
    "virtualNetworkResourceGroup":"[resourceGroup().name]","subnetRef":"[concat(variables('vnetID'),'/subnets/',parameters('subnetName'))]",
    "sshKeyPath":"[concat('/home/',parameters('adminUsername'),'/.ssh/authorized_keys')]"},
  "resources":[
    {"apiVersion":"2017-04-01","type":"Microsoft.Network/publicIPAddresses","name":"[parameters('publicIPAddressName')]","location":"[variables('location')]",
     "properties":{"publicIPAllocationMethod":"Dynamic"}},
    {"apiVersion":"2017-04-01","type":"Microsoft.Network/virtualNetworks","name":"[parameters('virtualNetworkName')]","location":"[variables('location')]",
     "properties":{"subnets":[{"name":"[parameters('subnetName')]"}]}},
    {"apiVersion":"2017-04-01","type":"Microsoft.Network/networkInterfaces","name":"[parameters('nicName')]","location":"[variables('location')]",
     "dependsOn":["[concat('Microsoft.Network/publicIPAddresses/', parameters('publicIPAddressName'))]"],
     "properties":{"ipConfigurations":[{"name":"ipconfig","properties":{"subnet":{"id":"[variables('subnetRef')]"},
       "publicIPAddress":{"id":"[resourceId('Microsoft.Network/publicIPAddresses', parameters('publicIPAddressName'))]"}}}]}},
    {"apiVersion":"2021-11-01","type":"Microsoft.Compute/virtualMachines","name":"[parameters('vmName')]","location":"[variables('location')]",
     "properties":{"hardwareProfile":{"vmSize":"[parameters('vmSize')]"},
       "networkProfile":{"networkInterfaces":[{"id":"[resourceId('Microsoft.Network/networkInterfaces', parameters('nicName'))]"}]},
       "osProfile":{"adminUsername":"[parameters('adminUsername')]","computerName":"[parameters('vmName')]",
         "linuxConfiguration":{"disablePasswordAuthentication":true,"ssh":{"publicKeys":[{"keyData":"` + key + `","path":"[variables('sshKeyPath')]"}]}}},
       "storageProfile":{"imageReference":{"publisher":"Canonical","offer":"ubuntu","sku":"22_04-lts","version":"latest"},
         "osDisk":{"name":"[parameters('osDiskName')]","createOption":"FromImage","caching":"ReadWrite","managedDisk":{"storageAccountType":"Standard_LRS"}}}}},
    {"apiVersion":"2022-08-01","type":"Microsoft.Compute/virtualMachines/extensions","condition":"[not(empty(parameters('commandToExecute')))]",
     "name":"[concat(parameters('vmName'), '/extension-customscript')]","location":"[variables('location')]","properties":{}}]},
  "parameters":{"adminUsername":{"value":"packer"},"vmName":{"value":"pkrvmabc"},"nicName":{"value":"pkrniabc"},
    "publicIPAddressName":{"value":"pkripabc"},"virtualNetworkName":{"value":"pkrvnabc"},"subnetName":{"value":"pkrsnabc"},
    "osDiskName":{"value":"pkrosabc"},"commandToExecute":{"value":""}}}}`
}

func rgPath(p string) string {
	return "subscriptions/" + sub + "/resourcegroups/" + buildRG + p + "?api-version=2018-02-01"
}

func vmPath(p string) string {
	sep := "?"
	if strings.Contains(p, "?") {
		sep = "&"
	}
	return "subscriptions/" + sub + "/resourceGroups/" + buildRG + "/providers/Microsoft.Compute/virtualMachines/pkrvmabc" + p + sep + "api-version=2021-11-01"
}

// TestBuildSequence walks the azure-arm builder's calls (wire notes §1): a
// resource group, a deployment and what it made, a VM stopped and
// generalized into a gallery version, and the group's deletion taking
// everything in it.
func TestBuildSequence(t *testing.T) {
	e := newEnv(t)
	e.seed()
	signer, authorized := sshKey(t)
	dep := "/providers/Microsoft.Resources/deployments/pkrdpabc"

	resp, _ := e.raw("HEAD", rgPath(""), "")
	require.Equal(t, 404, resp.StatusCode)
	resp, v := e.raw("PUT", rgPath(""), `{"location":"West Europe","tags":{"team":"web"}}`)
	require.Equal(t, 201, resp.StatusCode, v)
	require.Equal(t, "westeurope", v["location"])
	resp, _ = e.raw("HEAD", rgPath(""), "")
	require.Equal(t, 200, resp.StatusCode)
	resp, v = e.raw("PUT", rgPath(""), `{"location":"eastus"}`)
	require.Equal(t, 409, resp.StatusCode, v)

	resp, v = e.raw("POST", rgPath(dep+"/validate"), buildTemplate(authorized))
	require.Equal(t, 200, resp.StatusCode, v)
	require.Len(t, v["properties"].(map[string]any)["validatedResources"], 4, "the extension's condition is false")
	resp, v = e.raw("PUT", rgPath(dep), buildTemplate(authorized))
	require.Equal(t, 201, resp.StatusCode, v)
	require.NotEmpty(t, resp.Header.Get("Azure-AsyncOperation"))
	resp, v = e.raw("GET", rgPath(dep), "")
	require.Equal(t, "Succeeded", v["properties"].(map[string]any)["provisioningState"], v)

	resp, v = e.raw("GET", "subscriptions/"+sub+"/resourceGroups/"+buildRG+"/providers/Microsoft.Network/publicIPAddresses/pkripabc?api-version=2018-01-01", "")
	require.Equal(t, 200, resp.StatusCode, v)
	require.Equal(t, armemu.PublicIP, v["properties"].(map[string]any)["ipAddress"])
	resp, v = e.raw("GET", vmPath(""), "")
	require.Equal(t, 200, resp.StatusCode, v)
	sp := v["properties"].(map[string]any)["storageProfile"].(map[string]any)
	require.Equal(t, "/subscriptions/"+sub+"/resourceGroups/"+buildRG+"/providers/Microsoft.Compute/disks/pkrosabc",
		sp["osDisk"].(map[string]any)["managedDisk"].(map[string]any)["id"])
	resp, v = e.raw("GET", "subscriptions/"+sub+"/resourcegroups/"+buildRG+"/deployments/pkrdpabc/operations?$top=50&api-version=2018-02-01", "")
	require.Equal(t, 200, resp.StatusCode, v)
	var targets []string
	for _, op := range v["value"].([]any) {
		tr := op.(map[string]any)["properties"].(map[string]any)["targetResource"].(map[string]any)
		targets = append(targets, tr["resourceType"].(string)+"/"+tr["resourceName"].(string))
	}
	require.Equal(t, []string{"Microsoft.Network/publicIPAddresses/pkripabc", "Microsoft.Network/virtualNetworks/pkrvnabc",
		"Microsoft.Network/networkInterfaces/pkrniabc", "Microsoft.Compute/virtualMachines/pkrvmabc"}, targets)

	// SSH: the key the deployment installed lets packer in; another does not.
	port, closeSSH, err := e.s.ServeSSH("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeSSH() })
	other, _ := sshKey(t)
	_, err = sshDial(port, "packer", other)
	require.Error(t, err)
	_, err = sshDial(port, "root", signer)
	require.Error(t, err, "the key is the admin user's")
	cl, err := sshDial(port, "packer", signer)
	require.NoError(t, err)
	scpUpload(t, cl, "/tmp", "script_1.sh", "echo deprovision\n")
	sess, err := cl.NewSession()
	require.NoError(t, err)
	require.NoError(t, sess.Run("sh /tmp/script_1.sh"))
	require.NoError(t, cl.Close())
	vm := "/subscriptions/" + sub + "/resourceGroups/" + buildRG + "/providers/Microsoft.Compute/virtualMachines/pkrvmabc"
	require.Equal(t, []armemu.SSHCommand{
		{VM: vm, Command: "scp -vt /tmp", Uploads: map[string]string{"/tmp/script_1.sh": "echo deprovision\n"}},
		{VM: vm, Command: "sh /tmp/script_1.sh"}}, e.s.SSHCommands())

	// A version needs its VM generalized, which needs it stopped.
	version := func(name string) (int, string) {
		body := fmt.Sprintf(`{"location":"westeurope","properties":{"publishingProfile":{"targetRegions":[{"name":"westeurope"}]},"storageProfile":{"source":{"id":%q}}}}`, vm)
		resp, v := e.raw("PUT", "subscriptions/"+sub+"/resourceGroups/"+rg+"/providers/Microsoft.Compute/galleries/"+gal+"/images/"+def+"/versions/"+name+"?api-version=2021-10-01", body)
		return resp.StatusCode, errorCode(v)
	}
	st, code := version("1.0.0")
	require.Equal(t, 409, st)
	require.Equal(t, "OperationNotAllowed", code)
	resp, v = e.raw("POST", vmPath("/generalize"), "")
	require.Equal(t, 409, resp.StatusCode, "a running VM cannot be generalized")
	resp, _ = e.raw("POST", vmPath("/deallocate?hibernate=false"), "")
	require.Equal(t, 202, resp.StatusCode)
	require.Equal(t, "deallocated", e.s.VMPower(vm))
	_, err = sshDial(port, "packer", signer)
	require.Error(t, err, "a stopped VM does not answer SSH")
	resp, _ = e.raw("POST", vmPath("/generalize"), "")
	require.Equal(t, 200, resp.StatusCode)
	st, code = version("1.0.0")
	require.Equal(t, 201, st, code)

	// A managed image of the generalized VM; its OS disk outlives the VM.
	imgPath := "subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/images/web?api-version=2021-11-01"
	resp, v = e.raw("PUT", imgPath, `{"location":"westeurope","properties":{"sourceVirtualMachine":{"id":"`+vm+`"}}}`)
	require.Equal(t, 201, resp.StatusCode, v)
	resp, v = e.raw("PUT", imgPath, `{"location":"westeurope","properties":{"sourceVirtualMachine":{"id":"`+vm+`x"}}}`)
	require.Equal(t, 400, resp.StatusCode, v)
	diskPath := "subscriptions/" + sub + "/resourceGroups/" + buildRG + "/providers/Microsoft.Compute/disks/pkrosabc?api-version=2021-08-01"
	resp, v = e.raw("DELETE", diskPath, "")
	require.Equal(t, 409, resp.StatusCode, "the disk is attached: %v", v)
	resp, _ = e.raw("DELETE", vmPath("?forceDeletion=false"), "")
	require.Equal(t, 202, resp.StatusCode)
	resp, _ = e.raw("GET", diskPath, "")
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = e.raw("DELETE", diskPath, "")
	require.Equal(t, 202, resp.StatusCode)

	// Deleting the group deletes what is in it, not the gallery elsewhere.
	resp, _ = e.raw("DELETE", rgPath(""), "")
	require.Equal(t, 202, resp.StatusCode)
	require.Empty(t, e.s.ResourceGroups(sub))
	require.Empty(t, e.s.VMPower(vm))
	resp, _ = e.raw("GET", "subscriptions/"+sub+"/resourceGroups/"+buildRG+"/providers/Microsoft.Network/virtualNetworks/pkrvnabc?api-version=2018-01-01", "")
	require.Equal(t, 404, resp.StatusCode)
	_, ok := e.s.ImageVersion("/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/galleries/" + gal + "/images/" + def + "/versions/1.0.0")
	require.True(t, ok)
	st, code = version("1.0.1")
	require.Equal(t, 400, st, "the source VM is gone")
	require.Equal(t, "InvalidParameter", code)
	resp, _ = e.raw("GET", imgPath, "")
	require.Equal(t, 200, resp.StatusCode, "the managed image lives in the gallery's group")
}

// TestDeploymentRefusals: what ARM's validation refuses is refused before
// anything is created.
func TestDeploymentRefusals(t *testing.T) {
	e := newEnv(t)
	_, authorized := sshKey(t)
	dep := "/providers/Microsoft.Resources/deployments/d"
	resp, v := e.raw("PUT", rgPath(dep), buildTemplate(authorized))
	require.Equal(t, 404, resp.StatusCode)
	require.Equal(t, "ResourceGroupNotFound", errorCode(v))
	e.raw("PUT", rgPath(""), `{"location":"westeurope"}`)
	for name, body := range map[string]string{
		"unknown function":  strings.Replace(buildTemplate(authorized), "[resourceGroup().location]", "[uniqueString(resourceGroup().id)]", 1),
		"missing parameter": strings.Replace(buildTemplate(authorized), `"vmName":{"value":"pkrvmabc"},`, "", 1),
		"extra parameter":   strings.Replace(buildTemplate(authorized), `"vmName":{"value":"pkrvmabc"},`, `"vmName":{"value":"pkrvmabc"},"x":{"value":1},`, 1),
		"unclosed string":   strings.Replace(buildTemplate(authorized), "[parameters('vmName')]", "[parameters('vmName)]", 1),
		"self reference":    strings.Replace(buildTemplate(authorized), `"sshKeyPath":"[concat(`, `"sshKeyPath":"[concat(variables('sshKeyPath'),`, 1),
		"template link":     `{"properties":{"mode":"Incremental","templateLink":{"uri":"https://x.invalid/t.json"}}}`,
		"bad mode":          strings.Replace(buildTemplate(authorized), `"mode":"Incremental"`, `"mode":"Sometimes"`, 1),
	} {
		resp, v := e.raw("PUT", rgPath(dep), body)
		require.Equal(t, 400, resp.StatusCode, "%s: %v", name, v)
		require.Equal(t, "InvalidTemplate", errorCode(v), name)
	}
	require.Equal(t, []string{"/subscriptions/" + sub + "/resourceGroups/" + buildRG}, e.s.ResourceGroups(sub), "nothing but the group")
	resp, _ = e.raw("GET", vmPath(""), "")
	require.Equal(t, 404, resp.StatusCode)
}

func sshKey(t *testing.T) (ssh.Signer, string) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(k)
	require.NoError(t, err)
	return s, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

func sshDial(port int, user string, s ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("tcp", net.JoinHostPort(armemu.PublicIP, strconv.Itoa(port)), &ssh.ClientConfig{User: user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(s)}, HostKeyCallback: ssh.InsecureIgnoreHostKey()})
}

// scpUpload sends one file as Packer's communicator does: C header, data, 0,
// each acknowledged, after the sink's first 0.
func scpUpload(t *testing.T, cl *ssh.Client, dir, name, content string) {
	sess, err := cl.NewSession()
	require.NoError(t, err)
	w, err := sess.StdinPipe()
	require.NoError(t, err)
	r, err := sess.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, sess.Start("scp -vt "+dir))
	ack := func() {
		b := make([]byte, 1)
		_, err := io.ReadFull(r, b)
		require.NoError(t, err)
		require.Equal(t, byte(0), b[0])
	}
	ack()
	fmt.Fprintf(w, "C0644 %d %s\n", len(content), name)
	ack()
	fmt.Fprint(w, content, "\x00")
	ack()
	require.NoError(t, w.Close())
	require.NoError(t, sess.Wait())
}
