package iamapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/totp"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Virtual MFA devices (TOTP, RFC 6238, as AWS's). A device's seed is made
// here, sealed at rest (additional data: its serial number) and shown
// once, in CreateVirtualMFADevice's answer. Codes are accepted once: the
// store keeps each device's last accepted time step.

// mfaIssuer is the issuer name authenticator apps show.
const mfaIssuer = "Postern"

var (
	// serialRe is serialNumberType: 9–256 of [\w+=/:,.@-].
	serialRe = lazyRegexp(`^[\w+=/:,.@-]{9,256}$`)
	// authCodeRe is authenticationCodeType: six digits.
	authCodeRe = lazyRegexp(`^[0-9]{6}$`)
	// assignmentStatuses are ListVirtualMFADevices' AssignmentStatus values.
	assignmentStatuses = map[string]bool{"Assigned": true, "Unassigned": true, "Any": true}
)

// invalidAuthCode is InvalidAuthenticationCode (403).
func invalidAuthCode(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusForbidden, "InvalidAuthenticationCode", format, args...)
}

// serialParam reads SerialNumber.
func serialParam(p awsproto.Params) (string, error) {
	v, err := required(p, "SerialNumber")
	if err != nil {
		return "", err
	}
	if !serialRe().MatchString(v) {
		return "", validation(`1 validation error detected: Value '%s' at 'serialNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=/:,.@-]+ and have length between 9 and 256`, v)
	}
	return v, nil
}

// authCodeParam reads an authentication code.
func authCodeParam(p awsproto.Params, param string) (string, error) {
	v, err := required(p, param)
	if err != nil {
		return "", err
	}
	if !authCodeRe().MatchString(v) {
		return "", validation(`1 validation error detected: Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\d]+ and have length 6`, field(param))
	}
	return v, nil
}

// xmlVirtualMFADevice is a VirtualMFADevice. Base32StringSeed and
// QRCodePNG are blobs (base64 on the wire), present only in
// CreateVirtualMFADevice's answer.
type xmlVirtualMFADevice struct {
	SerialNumber     string   `xml:"SerialNumber"`
	Base32StringSeed string   `xml:"Base32StringSeed,omitempty"`
	QRCodePNG        string   `xml:"QRCodePNG,omitempty"`
	User             *xmlUser `xml:"User,omitempty"`
	EnableDate       string   `xml:"EnableDate,omitempty"`
	Tags             []xmlTag `xml:"Tags>member,omitempty"`
}

// xmlMFADevice is an MFADevice.
type xmlMFADevice struct {
	UserName     string `xml:"UserName"`
	SerialNumber string `xml:"SerialNumber"`
	EnableDate   string `xml:"EnableDate"`
}

// createVirtualMFADevice is CreateVirtualMFADevice: VirtualMFADeviceName,
// Path, Tags.
func (h *handler) createVirtualMFADevice(c *api.Call) (any, error) {
	devName, p, _, err := entityParams(c.Params, "VirtualMFADeviceName", 226, false)
	if err != nil {
		return nil, err
	}
	tags, err := tagsParam(c.Params)
	if err != nil {
		return nil, err
	}
	serial := h.arn("mfa", p, devName)
	if err := authorizeCreate(c, "iam:CreateVirtualMFADevice", "iam:TagMFADevice", serial, tags); err != nil {
		return nil, err
	}
	seed, err := totp.NewSeed()
	if err != nil {
		return nil, err
	}
	png, err := totp.QRCodePNG(totp.URI(mfaIssuer, devName+"@"+h.cfg.AccountID, seed))
	if err != nil {
		return nil, err
	}
	sealed, err := h.cfg.Sealer.Seal([]byte(seed), []byte(serial))
	if err != nil {
		return nil, fmt.Errorf("iamapi: seal MFA seed of %s: %w", serial, err)
	}
	d := store.MFADevice{SerialNumber: serial, DeviceName: devName, Path: p, SeedSealed: sealed, CreateDate: h.now(), Tags: tags}
	if err := h.cfg.Store.CreateMFADevice(c.Ctx, d); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, entityExists("MFADevice entity at the same path and name already exists.")
		}
		return nil, wrap(err, "create MFA device %s", serial)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "virtual MFA device created", slog.String("serial_number", serial),
		slog.String("by", c.Principal.ARN))
	return struct {
		VirtualMFADevice xmlVirtualMFADevice `xml:"VirtualMFADevice"`
	}{xmlVirtualMFADevice{SerialNumber: serial,
		Base32StringSeed: base64.StdEncoding.EncodeToString([]byte(seed)),
		QRCodePNG:        base64.StdEncoding.EncodeToString(png), Tags: xmlTags(tags)}}, nil
}

// device reads a device for an action on it, NoSuchEntity as AWS words it.
func (h *handler) device(c *api.Call, r store.Repo, serial string) (store.MFADevice, error) {
	d, err := r.GetMFADevice(c.Ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return d, noSuchEntity("VirtualMFADevice with serial number %s doesn't exist.", serial)
	}
	return d, wrap(err, "get MFA device %s", serial)
}

// enableMFADevice is EnableMFADevice: UserName, SerialNumber,
// AuthenticationCode1, AuthenticationCode2 (two consecutive codes).
func (h *handler) enableMFADevice(c *api.Call) (any, error) {
	userName, err := name(c.Params, "UserName", maxExistingUserName)
	if err != nil {
		return nil, err
	}
	serial, err := serialParam(c.Params)
	if err != nil {
		return nil, err
	}
	code1, err := authCodeParam(c.Params, "AuthenticationCode1")
	if err != nil {
		return nil, err
	}
	code2, err := authCodeParam(c.Params, "AuthenticationCode2")
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:EnableMFADevice", userName)
	if err != nil {
		return nil, err
	}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		d, err := h.device(c, tx, serial)
		if err != nil {
			return err
		}
		if d.UserID != "" {
			return entityExists("MFA device %s is already in use.", serial)
		}
		seed, err := h.cfg.Sealer.Open(d.SeedSealed, []byte(d.SerialNumber))
		if err != nil {
			return fmt.Errorf("open MFA seed of %s: %w", serial, err)
		}
		step, ok := totp.MatchConsecutive(string(seed), code1, code2, h.now())
		if !ok {
			return invalidAuthCode("Authentication code for device is not valid.")
		}
		return tx.EnableMFADevice(c.Ctx, serial, u.UserName, h.now(), step)
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, entityExists("MFA device %s is already in use.", serial)
		}
		return nil, storeErr(err, "enable MFA device "+serial, "VirtualMFADevice with serial number "+serial)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "MFA device enabled", slog.String("serial_number", serial),
		slog.String("user", u.UserName), slog.String("by", c.Principal.ARN))
	return nil, nil
}

// deactivateMFADevice is DeactivateMFADevice: UserName (or the caller),
// SerialNumber.
func (h *handler) deactivateMFADevice(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	serial, err := serialParam(c.Params)
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:DeactivateMFADevice", userName)
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.DeactivateMFADevice(c.Ctx, serial, u.UserName); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, noSuchEntity("MFA Device with serial number %s does not exist.", serial)
		}
		return nil, wrap(err, "deactivate MFA device %s", serial)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "MFA device deactivated", slog.String("serial_number", serial),
		slog.String("user", u.UserName), slog.String("by", c.Principal.ARN))
	return nil, nil
}

// listMFADevices is ListMFADevices: UserName (or the caller), Marker,
// MaxItems.
func (h *handler) listMFADevices(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:ListMFADevices", userName)
	if err != nil {
		return nil, err
	}
	ds, err := h.cfg.Store.ListMFADevices(c.Ctx, u.UserName)
	if err != nil {
		return nil, storeErr(err, "list MFA devices of "+u.UserName, "user with name "+u.UserName)
	}
	start, end, next, err := paginate(c.Params, len(ds))
	if err != nil {
		return nil, err
	}
	out := struct {
		MFADevices []xmlMFADevice `xml:"MFADevices>member"`
		page
	}{MFADevices: []xmlMFADevice{}, page: pageOf(next)}
	for _, d := range ds[start:end] {
		out.MFADevices = append(out.MFADevices, xmlMFADevice{UserName: d.UserName, SerialNumber: d.SerialNumber, EnableDate: ts(d.EnableDate)})
	}
	return out, nil
}

// listVirtualMFADevices is ListVirtualMFADevices: AssignmentStatus
// (Assigned, Unassigned or Any), Marker, MaxItems. Seeds are never
// listed.
func (h *handler) listVirtualMFADevices(c *api.Call) (any, error) {
	status := c.Params.Get("AssignmentStatus")
	if status == "" {
		status = "Any"
	}
	if !assignmentStatuses[status] {
		return nil, validation("1 validation error detected: Value '%s' at 'assignmentStatus' failed to satisfy constraint: Member must satisfy enum value set: [Assigned, Unassigned, Any]", status)
	}
	if err := c.Authorize("iam:ListVirtualMFADevices", "*", nil); err != nil {
		return nil, err
	}
	all, err := h.cfg.Store.ListVirtualMFADevices(c.Ctx)
	if err != nil {
		return nil, wrap(err, "list virtual MFA devices")
	}
	var ds []store.MFADevice
	for _, d := range all {
		if status == "Any" || (status == "Assigned") == (d.UserID != "") {
			ds = append(ds, d)
		}
	}
	start, end, next, err := paginate(c.Params, len(ds))
	if err != nil {
		return nil, err
	}
	out := struct {
		VirtualMFADevices []xmlVirtualMFADevice `xml:"VirtualMFADevices>member"`
		page
	}{VirtualMFADevices: []xmlVirtualMFADevice{}, page: pageOf(next)}
	for _, d := range ds[start:end] {
		x := xmlVirtualMFADevice{SerialNumber: d.SerialNumber, Tags: xmlTags(d.Tags)}
		if d.UserID != "" {
			if u, err := h.cfg.Store.GetUserByID(c.Ctx, d.UserID); err == nil {
				u.Tags = nil
				xu := userXML(u)
				x.User, x.EnableDate = &xu, ts(d.EnableDate)
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, wrap(err, "user of MFA device %s", d.SerialNumber)
			}
		}
		out.VirtualMFADevices = append(out.VirtualMFADevices, x)
	}
	return out, nil
}

// deleteVirtualMFADevice is DeleteVirtualMFADevice: SerialNumber. A
// device enabled for a user must be deactivated first (DeleteConflict).
func (h *handler) deleteVirtualMFADevice(c *api.Call) (any, error) {
	serial, err := serialParam(c.Params)
	if err != nil {
		return nil, err
	}
	if err := c.Authorize("iam:DeleteVirtualMFADevice", serial, nil); err != nil {
		return nil, err
	}
	err = h.cfg.Store.DeleteMFADevice(c.Ctx, serial)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchEntity("VirtualMFADevice with serial number %s doesn't exist.", serial)
	case errors.Is(err, store.ErrInUse):
		return nil, deleteConflict("MFA device is still in use")
	case err != nil:
		return nil, wrap(err, "delete MFA device %s", serial)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "virtual MFA device deleted", slog.String("serial_number", serial),
		slog.String("by", c.Principal.ARN))
	return nil, nil
}
