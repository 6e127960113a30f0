//go:build !linux

package netns

import "errors"

// setns: network namespaces are Linux's; elsewhere the package builds
// (and vets), and entering one says errors.ErrUnsupported.
func setns(int) error { return errors.ErrUnsupported }
