package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/util/atomicfile"
	"github.com/postern/postern/internal/wire/agentkey"
)

// `postern configure`, as `aws configure`: it prompts for the access key,
// the secret, the region and the output format of a profile and writes
// them to the shared credentials and config files
// (AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, default ~/.aws/…);
// `configure get|set|list` read and write single settings; and
// `configure --server https://HOST:PORT` fetches a Postern server's CA,
// shows its SHA-256 fingerprint for confirmation (or checks it against
// --ca-fingerprint), writes it as ca.pem beside the config file and sets
// the profile's endpoint_url and ca_bundle.

// credentialKeys are the settings kept in the credentials file; all
// others go to the config file.
var credentialKeys = map[string]bool{"aws_access_key_id": true, "aws_secret_access_key": true, "aws_session_token": true}

func configFilePath() string {
	if f := os.Getenv("AWS_CONFIG_FILE"); f != "" {
		return f
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".aws", "config")
}

func credentialsFilePath() string {
	if f := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		return f
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".aws", "credentials")
}

// profileName is the profile the command works on: --profile, else
// AWS_PROFILE, else AWS_DEFAULT_PROFILE, else default.
func profileName(flag string) string {
	if flag != "" {
		return flag
	}
	if p := profileEnv(); p != "" {
		return p
	}
	return "default"
}

// profileEnv is the profile the environment names: AWS_PROFILE, else
// AWS_DEFAULT_PROFILE, as botocore and the AWS SDK for Go read them.
func profileEnv() string {
	if p := os.Getenv("AWS_PROFILE"); p != "" {
		return p
	}
	return os.Getenv("AWS_DEFAULT_PROFILE")
}

// section is the file's section header for profile: the config file says
// [profile NAME] except for default; the credentials file says [NAME].
func section(profile string, credentials bool) string {
	if credentials || profile == "default" {
		return profile
	}
	return "profile " + profile
}

// scanINI reads the keys of section sect in the file at path (nil when
// the file or section is absent) as botocore, the AWS CLI's library,
// reads them with Python's strict configparser (parseINI): sect is the
// header's text as written, "[ a]" being the section " a", not "a", and
// the settings of a [DEFAULT] section are every section's too.
//
// The error is the one botocore refuses the whole file with ("Unable to
// parse config file"), naming its line (parseINI). The settings still
// come with it, merged as the AWS SDK for Go merges them (the last wins),
// for callers that read on as the SDK does.
func scanINI(path, sect string) (map[string]string, error) {
	doc, err := parseINI(path)
	if doc == nil {
		return nil, err
	}
	return doc.section(sect), err
}

// iniDoc is a file as configparser reads it.
type iniDoc struct {
	names    []string                     // the sections, in the order they first appear ([DEFAULT] apart)
	sects    map[string]map[string]string // section, as written → its own settings
	trimmed  map[string]map[string]string // section, trimmed → its settings merged (the last wins), as the AWS SDK for Go reads them
	defaults map[string]string            // the settings under [DEFAULT]
}

// section returns sect's settings with [DEFAULT]'s under them, as
// configparser gives them; nil when there is no section sect.
func (d *iniDoc) section(sect string) map[string]string {
	if d == nil {
		return nil
	}
	own, ok := d.sects[sect]
	if !ok {
		return nil
	}
	out := maps.Clone(d.defaults)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, own)
	return out
}

// profile returns the settings botocore reads for profile p from a config
// file (credentials false: the last section named "profile P" once split
// as a shell splits words, or "default" for default) or a credentials
// file (the section named P exactly); nil when there is none.
func (d *iniDoc) profile(p string, credentials bool) map[string]string {
	if d == nil {
		return nil
	}
	if credentials {
		return d.section(p)
	}
	var out map[string]string
	for _, name := range d.names {
		if strings.HasPrefix(name, "profile") {
			if parts, ok := shlexSplit(name); ok && len(parts) == 2 && parts[1] == p {
				out = d.section(name)
			}
		} else if name == "default" && p == "default" {
			out = d.section(name)
		}
	}
	return out
}

// pySpace is Python's str.isspace: Unicode white space and the
// separators U+001C to U+001F.
func pySpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

// parseINI reads the file at path (nil, nil when there is none) as
// Python's configparser.RawConfigParser does in botocore
// (configloader.raw_config_parse): lines split at "\n", "\r\n" and "\r";
// white space Python's; a line starting (once trimmed) with '#' or ';' a
// comment; a line indented deeper than the last setting's continuing its
// value (blank lines inside kept), also after a line that is neither a
// header nor a setting; "[", then up to the line's last "]", a header;
// names in lower case, '=' or ':' between name and value, whichever comes
// first. A nested block ("s3 =", then deeper lines) reads as "": it is
// not one of the profile's values.
//
// Its error is the one botocore's strict parser stops at: a section
// (other than [DEFAULT]) or a setting within one given twice, or a line
// before any section, at once; else, at the end, the first line that is
// neither a header nor a setting (or a setting without a name).
func parseINI(path string) (*iniDoc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%s: "+format+", which the AWS CLI refuses (Unable to parse config file)", append([]any{path}, args...)...)
	}
	doc := &iniDoc{sects: map[string]map[string]string{}, trimmed: map[string]map[string]string{}}
	text := strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\r", "\n")
	var (
		stop     error                 // the first error botocore stops at, at once (the file is read on, merged, for configValue)
		deferred error                 // the first line that is neither, reported at the end
		added    = map[[2]string]int{} // (section, setting) → its line
		sectLine = map[string]int{}    // section → its line
		cur      map[string]string     // the current section's settings (nil before any)
		merged   map[string]string     // the same, in trimmed
		sect     string                // the current section's name
		opt      string                // the last setting's name ("" for none)
		indent   int                   // the last header's, setting's or other line's indent
		blanks   int                   // blank lines since opt's last line
	)
	for i, line := range strings.Split(text, "\n") {
		l := strings.TrimFunc(line, pySpace)
		if l == "" || l[0] == '#' || l[0] == ';' {
			if l == "" {
				blanks++
			}
			continue
		}
		ind := utf8.RuneCountInString(line) - utf8.RuneCountInString(strings.TrimLeftFunc(line, pySpace))
		if cur != nil && opt != "" && ind > indent {
			// A continuation: of the value, or a nested setting ("s3 =").
			if v := cur[opt]; v != "" {
				cur[opt] = v + strings.Repeat("\n", blanks+1) + l
				merged[opt] = cur[opt]
			}
			blanks = 0
			continue
		}
		indent, blanks = ind, 0
		if e := strings.LastIndexByte(l, ']'); l[0] == '[' && e > 1 {
			name := l[1:e]
			first, twice := sectLine[name]
			if twice && stop == nil {
				stop = refuse("lines %d and %d both name the profile [%s]", first+1, i+1, name)
			}
			sect, opt = name, ""
			if name == "DEFAULT" {
				if doc.defaults == nil {
					doc.defaults = map[string]string{}
				}
				cur = doc.defaults
			} else if twice { // read on, merged, for configValue
				cur = doc.sects[name]
			} else {
				sectLine[name] = i
				cur = map[string]string{}
				doc.sects[name] = cur
				doc.names = append(doc.names, name)
			}
			t := strings.TrimFunc(name, unicode.IsSpace)
			if doc.trimmed[t] == nil {
				doc.trimmed[t] = map[string]string{}
			}
			merged = doc.trimmed[t]
			continue
		}
		if cur == nil {
			if stop == nil {
				stop = refuse("line %d is a setting outside any profile's [section]", i+1)
			}
			continue
		}
		d := strings.IndexAny(l, "=:")
		if d < 0 {
			if deferred == nil {
				deferred = refuse("line %d is neither a [profile] nor a NAME = VALUE setting", i+1)
			}
			continue // the last setting's continuation lines go on
		}
		k := strings.ToLower(strings.TrimRightFunc(l[:d], pySpace))
		if k == "" && deferred == nil {
			deferred = refuse("line %d is a setting without a name", i+1)
		}
		if first, ok := added[[2]string{sect, k}]; ok && stop == nil {
			stop = refuse("lines %d and %d both set %s in [%s] (names are not case-sensitive)", first+1, i+1, k, sect)
		}
		added[[2]string{sect, k}] = i
		opt = k
		cur[k] = strings.TrimFunc(l[d+1:], pySpace)
		merged[k] = cur[k]
	}
	if stop != nil {
		return doc, stop
	}
	return doc, deferred
}

// shlexSplit splits s into words as Python's shlex.split does (botocore
// splits "profile NAME" headers with it): at blanks, with '…' and "…"
// quoting and '\' escaping; false where shlex raises (an open quote, a
// '\' at the end).
func shlexSplit(s string) ([]string, bool) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				w.WriteRune(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\'):
				i++
				w.WriteRune(rs[i])
			default:
				w.WriteRune(c)
			}
		case c == '\\':
			if i+1 == len(rs) {
				return nil, false
			}
			i++
			w.WriteRune(rs[i])
			inWord = true
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		default:
			w.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, false
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, true
}

// checkConfigFiles returns what makes botocore's strict parser refuse the
// config or the credentials file (a profile or a setting twice, a line
// that is neither): the AWS CLI then runs no command at all ("Unable to
// parse config file", exit 255), where the AWS SDK for Go, which
// postern's calls use, would merge the file and run with its last values.
func checkConfigFiles() error {
	if _, err := scanINI(configFilePath(), ""); err != nil {
		return err
	}
	_, err := scanINI(credentialsFilePath(), "")
	return err
}

// writeINI sets key = value in section sect of the file at path, creating
// the file (0600), its folder and the section as needed, and keeping
// everything else as it was.
func writeINI(path, sect, key, value string) error {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	b, err = editINI(path, b, sect, key, value)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return replaceFile(path, b)
}

// editINI is writeINI's edit of the file's content b (path names it in
// errors), done in memory so that a command writing several settings
// and files can check every edit before it writes any.
func editINI(path string, b []byte, sect, key, value string) ([]byte, error) {
	if strings.ContainsAny(sect+key+value, "\r\n") {
		return nil, fmt.Errorf("%q: a setting's value, name and profile cannot span lines", key)
	}
	if !settingName(key) {
		return nil, fmt.Errorf("%q is not a setting name (letters, digits, '_', '-' and '.')", key)
	}
	if err := checkSection(sect); err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(b) == 0 {
		lines = nil
	}
	// The section and the key, each found once: readINI reads every
	// section of that name and the last of a key, and the AWS CLI
	// (botocore's strict configparser) refuses a file naming either
	// twice, so editing the first would change nothing anyone reads.
	start, end, at, nest := -1, len(lines), -1, -1
	for i, line := range lines {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			nest = -1
			if start >= 0 && end == len(lines) {
				end = i
			}
			if strings.TrimSpace(l[1:len(l)-1]) == sect {
				if start >= 0 {
					return nil, fmt.Errorf("%s: lines %d and %d both name the profile [%s] (a profile twice, which the AWS CLI refuses too): merge them, then try again", path, start+1, i+1, sect)
				}
				start = i
			}
			continue
		}
		if l == "" || l[0] == '#' || l[0] == ';' || subSetting(line, &nest) {
			continue
		}
		// Names are not case-sensitive to the AWS CLI and the SDKs
		// (Region is region): a line spelling the key otherwise is the
		// same setting, which writing key beside it would give twice.
		if k, _, ok := strings.Cut(l, "="); ok && start >= 0 && end == len(lines) && strings.EqualFold(strings.TrimSpace(k), key) {
			if at >= 0 {
				return nil, fmt.Errorf("%s: lines %d and %d both set %s in [%s] (a setting twice, which the AWS CLI refuses too): remove one, then try again", path, at+1, i+1, key, sect)
			}
			if k = strings.TrimSpace(k); k != key {
				return nil, fmt.Errorf("%s: line %d sets %s in [%s], which the AWS CLI and the AWS SDKs read as %s (names are not case-sensitive): edit it by hand", path, i+1, k, sect, key)
			}
			at = i
		}
	}
	// Nor may the edit change which lines are nested settings: the line
	// replaced holds some, or the entry, empty, would adopt those after it.
	if at >= 0 {
		_, old, _ := strings.Cut(lines[at], "=")
		for _, l := range lines[at+1 : end] {
			if t := strings.TrimSpace(l); t != "" && t[0] != '#' && t[0] != ';' {
				if (l[0] == ' ' || l[0] == '\t') && (strings.TrimSpace(old) == "" || strings.TrimSpace(value) == "") {
					return nil, fmt.Errorf("%s: line %d sets %s in [%s] above indented lines, which the AWS CLI reads as its nested settings when it has no value: edit it by hand", path, at+1, key, sect)
				}
				break
			}
		}
	}
	entry := key + " = " + value
	switch {
	case start < 0:
		lines = append(lines, "["+sect+"]", entry)
	case at >= 0:
		lines[at] = entry
	default: // after the section's last non-blank line
		at = end
		for at > start+1 && strings.TrimSpace(lines[at-1]) == "" {
			at--
		}
		lines = append(lines[:at], append([]string{entry}, lines[at:]...)...)
	}
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

// subSetting reports whether line (not blank, not a comment) is one of
// the AWS CLI's nested settings: after "s3 =", the lines indented deeper
// ("aws configure set s3.addressing_style path" writes them) are for
// botocore's configparser the value of s3, not settings of the section, so
// they are neither edited nor read nor counted as duplicates. parent is
// the indent of the last such "NAME =" line, -1 when there is none (and
// at each section header).
func subSetting(line string, parent *int) bool {
	indent := len(line) - len(strings.TrimLeft(line, " \t"))
	if *parent >= 0 && indent > *parent {
		return true
	}
	*parent = -1
	if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) != "" && strings.TrimSpace(v) == "" {
		*parent = indent
	}
	return false
}

// settingName reports whether key is a setting name writeINI writes:
// letters, digits, '_', '-' and '.' (every setting the AWS CLI and
// Postern know is one). Anything else may read back as another name:
// readINI trims Unicode white space at the ends, botocore also splits at
// ':' and treats '[', '#' and ';' lines apart.
func settingName(key string) bool {
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return key != ""
}

// checkSection refuses a section name that would not read back as
// itself: empty ("[]" is no header for the AWS CLI), holding '[' or ']',
// or with white space at an end (readINI trims it).
func checkSection(sect string) error {
	switch {
	case sect == "":
		return fmt.Errorf("the profile name is empty")
	case strings.ContainsAny(sect, "[]"):
		return fmt.Errorf("%q is not a profile name: it cannot hold '[' or ']'", sect)
	case strings.TrimSpace(sect) != sect:
		return fmt.Errorf("%q is not a profile name: it begins or ends with white space, and the files would name it %q", sect, strings.TrimSpace(sect))
	}
	return nil
}

// replaceFile writes data to path with mode 0600 (also when path existed
// with a wider mode) through a temporary file renamed over it, so a
// process dying mid-way leaves the old file, other profiles and all. A
// symbolic link is followed: the file it names is replaced.
func replaceFile(path string, data []byte) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // a linked file (dotfiles) stays linked
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// configValue reads one setting of profile from the files as the AWS
// SDK for Go (postern's own calls) reads them: sections trimmed ("[ a]"
// is a), a section or a setting given twice merged (the last wins), so a
// file the AWS CLI would refuse still gives its last value.
func configValue(profileFlag, key string) (string, bool) {
	p := profileName(profileFlag)
	if credentialKeys[key] {
		if d, _ := parseINI(credentialsFilePath()); d != nil {
			if v, ok := d.trimmed[section(p, true)][key]; ok {
				return v, true
			}
		}
	}
	d, _ := parseINI(configFilePath())
	if d == nil {
		return "", false
	}
	v, ok := d.trimmed[section(p, false)][key]
	return v, ok
}

// configValueErr reads one setting of profile from the files as the AWS
// CLI does (`aws configure get`): key as given against the files' names
// in lower case; the profile's section as botocore finds it
// (iniDoc.profile: "[ default]" is none, "[profile  a ]" is a, the last
// of several wins, [DEFAULT]'s settings under each); the credentials
// file's settings over the config file's; and an error for a file the
// AWS CLI refuses, with the value configValue reads.
func configValueErr(profileFlag, key string) (string, bool, error) {
	p := profileName(profileFlag)
	// Both files are read, as botocore loads both before answering.
	cd, cerr := parseINI(credentialsFilePath())
	d, err := parseINI(configFilePath())
	if err == nil {
		err = cerr
	}
	if err != nil {
		v, ok := configValue(profileFlag, key)
		return v, ok, err
	}
	if v, ok := cd.profile(p, true)[key]; ok {
		return v, true, nil
	}
	v, ok := d.profile(p, false)[key]
	return v, ok, nil
}

// profileKnown reports whether either file holds profile p as botocore
// finds it (iniDoc.profile).
func profileKnown(p string) bool {
	cd, _ := parseINI(credentialsFilePath())
	d, _ := parseINI(configFilePath())
	return cd.profile(p, true) != nil || d.profile(p, false) != nil
}

// checkProfile refuses a profile name that the config file cannot hold
// so that both the AWS CLI and postern read it back: the section rules
// (checkSection), and no white space anywhere. "profile  dev" has no
// blank at an end, but both split the header and read profile dev; and
// for a name with white space inside the two disagree: the AWS CLI
// (botocore) ignores [profile my dev] and reads only the quoted
// [profile 'my dev'], the AWS SDK for Go, which postern's calls use,
// reads [profile my dev] and takes the quotes for part of the name.
func checkProfile(p string) error {
	if err := checkSection(p); err != nil {
		return err
	}
	if i := strings.IndexFunc(p, unicode.IsSpace); i >= 0 {
		return fmt.Errorf("%q is not a profile name: it holds white space, which the AWS CLI ([profile 'my dev']) and the AWS SDKs ([profile my dev]) write differently; use '-' or '_'", p)
	}
	return nil
}

// setConfigValue writes one setting of profile to its file.
func setConfigValue(profileFlag, key, value string) error {
	p := profileName(profileFlag)
	if err := checkProfile(p); err != nil {
		return err
	}
	if credentialKeys[key] {
		return writeINI(credentialsFilePath(), section(p, true), key, value)
	}
	return writeINI(configFilePath(), section(p, false), key, value)
}

func configureCommand(env *Env) *cobra.Command {
	var server, fingerprint string
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Configure credentials, region, output and the Postern server (as `aws configure`)",
		Long: `Configure a profile of the shared credentials and config files (AWS_SHARED_CREDENTIALS_FILE
and AWS_CONFIG_FILE, default ~/.aws/credentials and ~/.aws/config), profile from --profile.

Without options it prompts for the access key id, the secret access key, the region and the
output format; pressing Enter keeps the value shown.

With --server https://HOST:PORT it fetches the server's CA certificate, shows its SHA-256
fingerprint and asks for confirmation (or checks it against --ca-fingerprint, for scripts),
writes it as ca.pem beside the config file, and sets the profile's endpoint_url and ca_bundle.

Calls never go to AWS's public endpoints unless asked for: a profile without endpoint_url is
refused, except with --endpoint-url or "postern_allow_aws = true" in the profile.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := bufio.NewReader(env.Stdin)
			if server != "" {
				return configureServer(cmd.Context(), env, in, server, fingerprint)
			}
			return configurePrompts(env, in)
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "a Postern server's URL, https://HOST:PORT: fetch its CA and write a profile for it")
	cmd.Flags().StringVar(&fingerprint, "ca-fingerprint", "", "with --server: the CA's SHA-256 fingerprint to accept without asking")
	cmd.AddCommand(
		&cobra.Command{Use: "get VARNAME", Short: "Print a setting of the profile", Args: positional("varname"),
			RunE: func(_ *cobra.Command, args []string) error {
				v, ok, err := configValueErr(env.g.profile, args[0])
				if err != nil {
					return &exitError{code: ExitOther, msg: "postern configure get: " + err.Error()}
				}
				if !ok {
					if p := profileName(env.g.profile); (env.g.profile != "" || profileEnv() != "") && !profileKnown(p) {
						// As the AWS CLI: a profile named (--profile,
						// AWS_PROFILE) that neither file holds is
						// botocore's ProfileNotFound, 255; the default
						// profile unnamed and absent is a setting unset, 1.
						return &exitError{code: ExitOther, msg: "\nThe config profile (" + p + ") could not be found"}
					}
					return &exitError{code: 1}
				}
				fmt.Fprintln(env.Stdout, v)
				return nil
			}},
		&cobra.Command{Use: "set VARNAME VALUE", Short: "Set a setting of the profile", Args: positional("varname", "value"),
			RunE: func(_ *cobra.Command, args []string) error {
				if err := setConfigValue(env.g.profile, args[0], args[1]); err != nil {
					return &exitError{code: ExitOther, msg: "postern configure set: " + err.Error()}
				}
				return nil
			}},
		&cobra.Command{Use: "list", Short: "List the profile's settings and where each comes from", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				// A file the AWS CLI refuses is refused, not listed.
				if _, _, err := configValueErr(env.g.profile, "region"); err != nil {
					return &exitError{code: ExitOther, msg: "postern configure list: " + err.Error()}
				}
				return configureList(cmd.Context(), env)
			}},
	)
	return cmd
}

// configurePrompts asks as `aws configure` does.
func configurePrompts(env *Env, in *bufio.Reader) error {
	prompts := []struct{ key, label string }{
		{"aws_access_key_id", "AWS Access Key ID"},
		{"aws_secret_access_key", "AWS Secret Access Key"},
		{"region", "Default region name"},
		{"output", "Default output format"},
	}
	for _, p := range prompts {
		cur, ok, err := configValueErr(env.g.profile, p.key)
		if err != nil { // as `aws configure`, before the first prompt
			return &exitError{code: ExitOther, msg: "postern configure: " + err.Error()}
		}
		// As the AWS CLI: None when unset; a value set empty shows as
		// it is ("[]", a key as 16 stars).
		shown := "None"
		if ok {
			shown = cur
			if credentialKeys[p.key] {
				shown = mask(cur)
			}
		}
		fmt.Fprintf(env.Stdout, "%s [%s]: ", p.label, shown)
		line, err := in.ReadString('\n')
		if err != nil && err != io.EOF {
			return &exitError{code: ExitOther, msg: "postern configure: " + err.Error()}
		}
		if v := strings.TrimSpace(line); v != "" {
			if err := setConfigValue(env.g.profile, p.key, v); err != nil {
				return &exitError{code: ExitOther, msg: "postern configure: " + err.Error()}
			}
		}
		if err == io.EOF {
			fmt.Fprintln(env.Stdout)
			break
		}
	}
	return nil
}

// mask shows the last four characters (code points, as Python slices
// text) after 16 stars, as the AWS CLI's mask_value: all of a shorter
// value.
func mask(s string) string {
	r := []rune(s)
	return strings.Repeat("*", 16) + string(r[max(0, len(r)-4):])
}

// The Location `aws configure list` gives a value from the environment:
// the Python list of the variables botocore reads it from.
const (
	profileEnvVars = "['AWS_PROFILE', 'AWS_DEFAULT_PROFILE']"
	regionEnvVars  = "['AWS_REGION', 'AWS_DEFAULT_REGION']"
)

// configFileVar is the config file as `aws configure list` names it:
// AWS_CONFIG_FILE as given, else ~/.aws/config unexpanded (botocore's
// config_file variable).
func configFileVar() string {
	if f := os.Getenv("AWS_CONFIG_FILE"); f != "" {
		return f
	}
	return "~/.aws/config"
}

// configureList prints the profile's settings as `aws configure list`
// (AWS CLI v2, awscli/customizations/configure/list.py) with Postern's
// endpoint after them: the profile (--profile "manual", AWS_PROFILE or
// AWS_DEFAULT_PROFILE "env"); the keys as the credential chain finds
// them, its method as the Type and no Location (botocore does not say
// which variable or file); the region from the environment, then from
// either file (the AWS CLI calls it "config-file" wherever it is: it
// merges the credentials file into the profile), then --region, which
// the AWS CLI, seeing it only at its last look, calls "imds". A named
// profile that neither file holds, and a key without its secret, are
// the AWS CLI's errors, after the rows it printed.
func configureList(ctx context.Context, env *Env) error {
	p := profileName(env.g.profile)
	row := func(name, value, typ, loc string) {
		if value == "" {
			value, typ, loc = "<not set>", "None", "None"
		}
		fmt.Fprintf(env.Stdout, "%10s %24s %16s    %s\n", name, value, typ, loc)
	}
	fmt.Fprintf(env.Stdout, "%10s %24s %16s    %s\n", "Name", "Value", "Type", "Location")
	fmt.Fprintf(env.Stdout, "%10s %24s %16s    %s\n", "----", "-----", "----", "--------")
	named := true
	switch {
	case env.g.profile != "":
		row("profile", p, "manual", "--profile")
	case profileEnv() != "":
		row("profile", p, "env", profileEnvVars)
	default:
		row("profile", "", "", "")
		named = false
	}
	if named && !profileKnown(p) {
		return &exitError{code: ExitOther, msg: "\nThe config profile (" + p + ") could not be found"}
	}
	key, secret, method, err := listedCredentials(ctx, p)
	if err != nil {
		return err
	}
	if key != "" {
		key, secret = mask(key), mask(secret)
	}
	row("access_key", key, method, "")
	row("secret_key", secret, method, "")
	v, _, _ := configValueErr(env.g.profile, "region")
	switch {
	case os.Getenv("AWS_REGION") != "":
		row("region", os.Getenv("AWS_REGION"), "env", regionEnvVars)
	case os.Getenv("AWS_DEFAULT_REGION") != "":
		row("region", os.Getenv("AWS_DEFAULT_REGION"), "env", regionEnvVars)
	case v != "":
		row("region", v, "config-file", configFileVar())
	default:
		row("region", env.g.region, "imds", "")
	}
	// Postern's: where the server is.
	if env.g.endpointURL != "" {
		row("endpoint", env.g.endpointURL, "manual", "--endpoint-url")
	} else if v := os.Getenv("AWS_ENDPOINT_URL"); v != "" {
		row("endpoint", v, "env", "AWS_ENDPOINT_URL")
	} else {
		v, _, _ := configValueErr(env.g.profile, "endpoint_url")
		row("endpoint", v, "config-file", configFileVar())
	}
	return nil
}

// listedCredentials are the access key and secret of profile p as
// botocore's credential chain finds them for `aws configure list`, with
// the chain's method: the environment ("env"), the credentials file
// ("shared-credentials-file"), the profile's credential_process, run as
// the AWS CLI runs it ("custom-process"), the config file
// ("config-file"); none when none holds a key. An access key without its
// secret is botocore's PartialCredentialsError.
func listedCredentials(ctx context.Context, p string) (key, secret, method string, err error) {
	partial := func(method, missing string) error {
		return &exitError{code: ExitOther, msg: "\nPartial credentials found in " + method + ", missing: " + missing}
	}
	if key := os.Getenv("AWS_ACCESS_KEY_ID"); key != "" {
		secret := os.Getenv("AWS_SECRET_ACCESS_KEY")
		if secret == "" {
			return "", "", "", partial("env", "AWS_SECRET_ACCESS_KEY")
		}
		return key, secret, "env", nil
	}
	cd, _ := parseINI(credentialsFilePath())
	d, _ := parseINI(configFilePath())
	for _, src := range []struct {
		settings map[string]string
		method   string
	}{
		{cd.profile(p, true), "shared-credentials-file"},
		{nil, "custom-process"},
		{d.profile(p, false), "config-file"},
	} {
		if src.method == "custom-process" {
			// The profile's, from either file (botocore merges the
			// credentials file into the profile, over the config file).
			proc, ok := cd.profile(p, true)["credential_process"]
			if !ok {
				proc, ok = d.profile(p, false)["credential_process"]
			}
			if !ok || proc == "" {
				continue
			}
			c, err := processcreds.NewProvider(proc).Retrieve(ctx)
			if err != nil {
				return "", "", "", &exitError{code: ExitOther, msg: "\nError when retrieving credentials from custom-process: " + err.Error()}
			}
			return c.AccessKeyID, c.SecretAccessKey, src.method, nil
		}
		key, ok := src.settings["aws_access_key_id"]
		if !ok {
			continue
		}
		secret, ok := src.settings["aws_secret_access_key"]
		if !ok {
			return "", "", "", partial(src.method, "aws_secret_access_key")
		}
		return key, secret, src.method, nil
	}
	return "", "", "", nil
}

// configureServer fetches server's CA and writes a profile for it.
func configureServer(ctx context.Context, env *Env, in *bufio.Reader, server, want string) error {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return usageErr("--server %q: give the server's URL as https://HOST:PORT", server)
	}
	// Every refusal comes before anything is written (ca.pem included).
	if err := checkProfile(profileName(env.g.profile)); err != nil {
		return &exitError{code: ExitOther, msg: "postern configure: " + err.Error()}
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	ca, err := fetchCA(ctx, host, u.Hostname())
	if err != nil {
		return &exitError{code: ExitOther, msg: fmt.Sprintf("\nCould not fetch the CA of %s: %v", server, err)}
	}
	fp := agentkey.DisplayFingerprint(ca) // as `postern server` prints it
	fmt.Fprintf(env.Stdout, "The server %s presents a certificate issued by:\n  %s\n  SHA-256 fingerprint: %s\n", server, ca.Subject, fp)
	if want != "" {
		if normFP(want) != normFP(fp) {
			return &exitError{code: ExitOther, msg: fmt.Sprintf("\nThe CA's fingerprint %s is not the expected %s: nothing was written. Compare it with the fingerprint `postern server` printed.", fp, want)}
		}
	} else {
		fmt.Fprint(env.Stdout, "Compare it with the fingerprint `postern server` printed. Trust this CA? [y/N]: ")
		line, _ := in.ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(env.Stdout)
			return &exitError{code: ExitOther, msg: "The CA was not trusted: nothing was written."}
		}
	}
	caPath := filepath.Join(filepath.Dir(configFilePath()), "ca.pem")
	if p := profileName(env.g.profile); p != "default" {
		caPath = filepath.Join(filepath.Dir(configFilePath()), p+"-ca.pem")
	}
	endpoint := "https://" + u.Host
	settings := [][2]string{{"endpoint_url", endpoint}, {"ca_bundle", caPath}}
	if env.g.region != "" {
		settings = append(settings, [2]string{"region", env.g.region})
	}
	// The profile's edits, all made in memory first: a file the edit
	// refuses (a setting twice, …) leaves no ca.pem behind either.
	cfgPath := configFilePath()
	conf, err := os.ReadFile(cfgPath)
	if err != nil && !os.IsNotExist(err) {
		return &exitError{code: ExitOther, msg: "postern configure: " + err.Error()}
	}
	for _, kv := range settings {
		if conf, err = editINI(cfgPath, conf, section(profileName(env.g.profile), false), kv[0], kv[1]); err != nil {
			return &exitError{code: ExitOther, msg: "postern configure: " + err.Error()}
		}
	}
	if err := os.MkdirAll(filepath.Dir(caPath), 0o700); err != nil {
		return &exitError{code: ExitOther, msg: "postern configure: " + err.Error()}
	}
	if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o644); err != nil {
		return &exitError{code: ExitOther, msg: "postern configure: " + err.Error()}
	}
	if err := replaceFile(cfgPath, conf); err != nil {
		return &exitError{code: ExitOther, msg: "postern configure: " + err.Error()}
	}
	fmt.Fprintf(env.Stdout, "Wrote %s and the profile %s in %s (endpoint_url = %s, ca_bundle = %s).\n",
		caPath, profileName(env.g.profile), configFilePath(), endpoint, caPath)
	var missing []string
	for _, k := range []string{"region", "aws_access_key_id"} {
		if v, _ := configValue(env.g.profile, k); v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		fmt.Fprintf(env.Stdout, "Still to set: %s; run \"postern configure\"%s.\n", strings.Join(missing, ", "), profileFlagText(env.g.profile))
	}
	return nil
}

func profileFlagText(p string) string {
	if p == "" {
		return ""
	}
	return " --profile " + p
}

// fetchCA dials host without verifying its certificate (the point is to
// get the CA, which the user then confirms by fingerprint) and returns
// the last certificate of the chain the server sends, the CA when the
// chain includes it.
func fetchCA(ctx context.Context, host, name string) (*x509.Certificate, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second},
		Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // verified by the user's fingerprint check
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		if r := dialReason(err); r != "" {
			return nil, fmt.Errorf("%s", r)
		}
		return nil, err
	}
	defer c.Close()
	chain := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, fmt.Errorf("the server sent no certificate")
	}
	last := chain[len(chain)-1]
	if !last.IsCA {
		return nil, fmt.Errorf("the server's chain does not include its CA (send the CA in the chain, or copy ca.pem from the server and use --ca-bundle)")
	}
	// The CA alone would be accepted by its fingerprint; check also that
	// the server's certificate chains to it for the name given, so that a
	// profile written here works rather than failing on every call.
	roots := x509.NewCertPool()
	roots.AddCert(last)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err != nil {
		return nil, fmt.Errorf("the server's certificate is not valid for %s under the CA it sent: %v (use a name or address the certificate covers: the server config's public_host or tls.sans)", name, err)
	}
	return last, nil
}

func normFP(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "", "SHA256", "", "sha256", "").Replace(strings.TrimSpace(s)))
}

// positional takes exactly the named arguments, and words a missing or
// extra one as the AWS CLI's argument parser does (`aws configure get`:
// "the following arguments are required: varname").
func positional(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usageErr("the following arguments are required: %s", strings.Join(names[len(args):], ", "))
		}
		if len(args) > len(names) {
			return usageErr("Unknown options: %s", strings.Join(args[len(names):], ", "))
		}
		return nil
	}
}
