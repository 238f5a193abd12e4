package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/stretchr/testify/require"
)

// TestCommand builds the binary, seeds it through the admin endpoint, lists images
// with the SDK and checks that SIGTERM saves the state.
func TestCommand(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ec2emu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	save := filepath.Join(dir, "state.json")
	cmd := exec.Command(bin, "-save", save, "-accounts", "AKIDA=111111111111", "-deny", "111111111111:DeregisterImage,*:DisableImage")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "EC2EMU_URL=http://127.0.0.1:") {
		t.Fatalf("first line %q, %v", line, err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "EC2EMU_URL="))
	resp, err := http.Post(url+"/_emu/fixture", "application/json", strings.NewReader(`{"owner":"111111111111","families":2,"versions":3}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("fixture: %v %v", err, resp)
	}
	resp.Body.Close()
	client := ec2.NewFromConfig(aws.Config{Region: "us-east-1", HTTPClient: ec2emu.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDA", "x", "")},
		func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	out, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil || len(out.Images) != 6 {
		t.Fatalf("describe: %v %d", err, len(out.Images))
	}
	// -deny: EC2 answers 403 UnauthorizedOperation with an encoded authorization failure
	// message (EC2 API reference, "Error codes": UnauthorizedOperation).
	for _, call := range []func() error{
		func() error {
			_, err := client.DeregisterImage(context.Background(), &ec2.DeregisterImageInput{ImageId: out.Images[0].ImageId})
			return err
		},
		func() error {
			_, err := client.DisableImage(context.Background(), &ec2.DisableImageInput{ImageId: out.Images[0].ImageId})
			return err
		},
	} {
		var ae smithy.APIError
		err := call()
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "UnauthorizedOperation", ae.ErrorCode())
		require.Contains(t, ae.ErrorMessage(), "Encoded authorization failure message: ")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	b, err := os.ReadFile(save)
	if err != nil {
		t.Fatal(err)
	}
	var st ec2emu.State
	if err := json.Unmarshal(b, &st); err != nil || len(st.Regions["us-east-1"].Images) != 6 {
		t.Fatalf("saved state: %v", err)
	}
}

// TestHelpDocumentsSwitches: `ec2emu -h` lists every switch another engineer needs.
func TestHelpDocumentsSwitches(t *testing.T) {
	out, _ := exec.Command("go", "run", ".", "-h").CombinedOutput()
	for _, sw := range []string{"-deny", "-seed", "-launch-report-delay", "-deregistered-visibility", "-usage-report-delay", "-accounts", "-state", "-save", "-rate-limits"} {
		require.Regexp(t, `(?m)^  `+sw+`( |$)`, string(out), "help lacks %s", sw)
	}
	require.Contains(t, string(out), "AWS_ENDPOINT_URL_AUTO_SCALING")
}
