package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/instance/helper"
)

func authorizedKeysCommand(env *Env) *cobra.Command {
	var configPath, runAs string
	var printConfig bool
	cmd := &cobra.Command{
		Use:   "authorized-keys [--config FILE] -- USER [FINGERPRINT]",
		Short: "sshd's AuthorizedKeysCommand: print the keys pushed to this instance for USER that are valid now",
		Long: `Run by sshd as its AuthorizedKeysCommand (-- %u %f), as an unprivileged user. It asks the key
service named in the config (an endpoint agent on this network) for the keys pushed to this instance
with SendSSHPublicKey, and prints those whose server signature verifies, for this instance and USER,
not expired, and (when sshd passes it) with the offered key's FINGERPRINT. On any error it prints nothing.
USER and FINGERPRINT come after "--" and are data, whatever they look like: a user named "--help"
is looked up as "--help". Flags go before "--" (or before USER); nothing after USER is a flag.

  postern instance init --instance-id i-… --keys-url https://AGENT:PORT --signer-key-file ssh-signer.pub
  postern authorized-keys --print-sshd-config >> /etc/ssh/sshd_config`,
		Args: func(cmd *cobra.Command, args []string) error {
			if printConfig {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.RangeArgs(1, 2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if printConfig {
				exe, err := os.Executable()
				if err != nil {
					return &exitError{code: ExitOther, msg: err.Error()}
				}
				if abs, err := filepath.EvalSymlinks(exe); err == nil {
					exe = abs
				}
				fmt.Fprint(env.Stdout, helper.SSHDConfig(exe, configPath, runAs))
				return nil
			}
			fp := ""
			if len(args) == 2 {
				fp = args[1]
			}
			if cmd.ArgsLenAtDash() < 0 {
				// An sshd_config line written before "--" was printed: a
				// user name starting with "-" would be read as a flag.
				fmt.Fprintf(env.Stderr, "postern authorized-keys: warning: sshd should pass %q; replace the AuthorizedKeysCommand line with the one --print-sshd-config prints\n", "-- %u %f")
			}
			if err := helper.Run(cmd.Context(), configPath, args[0], fp, env.Stdout, env.Stderr); err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			return nil
		},
	}
	// Flags only before the first argument: after USER everything is data.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&configPath, "config", helper.DefaultConfigPath, "the helper's configuration `FILE`, as postern instance init writes it")
	cmd.Flags().BoolVar(&printConfig, "print-sshd-config", false, "print the sshd_config lines that run this helper")
	cmd.Flags().StringVar(&runAs, "run-as", "nobody", "with --print-sshd-config: the user sshd runs the helper as")
	return cmd
}

func instanceCommand(env *Env) *cobra.Command {
	root := &cobra.Command{Use: "instance", Short: "Set up this machine as an instance for keyless SSH"}
	var c helper.Config
	var configPath, signerFile string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Write the instance helper's configuration (instance id, key service, the server's signing key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if signerFile != "" {
				b, err := os.ReadFile(signerFile)
				if err != nil {
					return usageErr("--signer-key-file: %v", err)
				}
				c.SignerKey = strings.TrimSpace(string(b))
			}
			if c.SignerKey == "" {
				return usageErr("--signer-key or --signer-key-file is required (the server's DATA_DIR/ssh-signer.pub)")
			}
			if err := helper.Save(configPath, c); err != nil {
				return usageErr("%v", err)
			}
			fmt.Fprintf(env.Stdout, "Wrote %s. Add to sshd_config (then reload sshd):\n", configPath)
			exe, _ := os.Executable()
			if abs, err := filepath.EvalSymlinks(exe); err == nil {
				exe = abs
			}
			fmt.Fprint(env.Stdout, helper.SSHDConfig(exe, configPath, "nobody"))
			return nil
		},
	}
	f := initCmd.Flags()
	f.StringVar(&c.InstanceID, "instance-id", "", "this machine's instance id (required)")
	f.StringVar(&c.KeysURL, "keys-url", "", "the key service: https://AGENT:PORT (an agent's --keys-listen), or the server's URL in the one-machine run (required)")
	f.StringVar(&c.SignerKey, "signer-key", "", "the server's public signing key (the line in DATA_DIR/ssh-signer.pub)")
	f.StringVar(&signerFile, "signer-key-file", "", "a file holding it")
	f.StringVar(&configPath, "config", helper.DefaultConfigPath, "where to write the configuration")
	_ = initCmd.MarkFlagRequired("instance-id")
	_ = initCmd.MarkFlagRequired("keys-url")
	root.AddCommand(initCmd)
	return root
}
