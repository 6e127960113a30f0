package login

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
)

// OpenBrowser opens url with the platform's opener: $BROWSER when set,
// else open (macOS), rundll32 (Windows) or xdg-open (others). It does not
// wait for the browser to close. On a machine without a display it
// fails, and the caller has printed the URL for the person to open.
func OpenBrowser(url string) error {
	var cmd *exec.Cmd
	switch {
	case os.Getenv("BROWSER") != "":
		cmd = exec.Command(os.Getenv("BROWSER"), url)
	case runtime.GOOS == "darwin":
		cmd = exec.Command("open", url)
	case runtime.GOOS == "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no display (use --no-browser for the device sign-in)")
		}
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() //nolint:errcheck // the opener's exit status says nothing about the sign-in
	return nil
}
