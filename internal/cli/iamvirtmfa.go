package cli

import (
	"fmt"
	"os"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"
)

// The AWS CLI's create-virtual-mfa-device takes --outfile and
// --bootstrap-method (QRCodePNG or Base32StringSeed), both required, and
// writes the chosen secret to the file instead of printing it
// (awscli customizations/iamvirtmfa). The file is written at 0600: it
// holds the device's seed.

// bootstrapMethods are --bootstrap-method's choices.
var bootstrapMethods = []string{"QRCodePNG", "Base32StringSeed"}

// iamTweaks are IAM's tweaks, by operation name.
func iamTweaks() map[string]tweak {
	return map[string]tweak{"CreateVirtualMFADevice": {
		register: func(cmd *cobra.Command) {
			cmd.Flags().String("outfile", "", "the file the QR code (PNG) or the seed is written to")
			cmd.Flags().String("bootstrap-method", "", "QRCodePNG or Base32StringSeed: what --outfile receives")
		},
		apply: func(cmd *cobra.Command, _ reflect.Value) error {
			out, _ := cmd.Flags().GetString("outfile")
			method, _ := cmd.Flags().GetString("bootstrap-method")
			if out == "" || method == "" {
				return usageErr("the following arguments are required: --outfile, --bootstrap-method")
			}
			if method != bootstrapMethods[0] && method != bootstrapMethods[1] {
				return usageErr("argument --bootstrap-method: Invalid choice, valid choices are:\n\nQRCodePNG                                | Base32StringSeed")
			}
			return nil
		},
		output: func(cmd *cobra.Command, v reflect.Value) error {
			out, ok := v.Interface().(*iam.CreateVirtualMFADeviceOutput)
			if !ok || out == nil || out.VirtualMFADevice == nil {
				return nil
			}
			path, _ := cmd.Flags().GetString("outfile")
			method, _ := cmd.Flags().GetString("bootstrap-method")
			d := out.VirtualMFADevice
			data := d.QRCodePNG
			if method == "Base32StringSeed" {
				data = d.Base32StringSeed
			}
			// The secrets leave the output either way.
			d.QRCodePNG, d.Base32StringSeed = nil, nil
			if err := writePrivate(path, data); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			return nil
		},
	}}
}

// writePrivate writes data to a new or truncated file readable by its
// owner only.
func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
