package store

import (
	"context"
	"time"
)

// LoginProfile is an IAM user's console password. The password itself is
// never stored: PasswordHash is a self-describing KDF hash (PHC string
// format, "$argon2id$v=19$m=…,t=…,p=…$salt$hash").
type LoginProfile struct {
	UserName string // the owner; reads fill it as created
	UserID   string // the owner's AIDA…, filled by reads
	// PasswordHash is the current password's hash.
	PasswordHash string
	// PasswordResetRequired makes the next sign-in set a new password.
	PasswordResetRequired bool
	CreateDate            time.Time
	// PasswordChanged is when the current password was set (password
	// expiry counts from it).
	PasswordChanged time.Time
	// History holds the hashes of earlier passwords, newest first (for
	// the password policy's PasswordReusePrevention).
	History []string
	// PasswordLastUsed is the last successful sign-in; zero if none.
	PasswordLastUsed time.Time
}

// LoginProfiles is the login-profile repository. A user has at most one.
type LoginProfiles interface {
	// CreateLoginProfile returns ErrNotFound if the user does not exist
	// and ErrConflict if the user already has a login profile.
	CreateLoginProfile(ctx context.Context, p LoginProfile) error
	// GetLoginProfile looks the profile up by user name
	// (case-insensitively); ErrNotFound if the user or profile is missing.
	GetLoginProfile(ctx context.Context, userName string) (LoginProfile, error)
	// UpdateLoginProfile replaces PasswordHash, PasswordResetRequired,
	// PasswordChanged, History and PasswordLastUsed of the user's
	// profile; ErrNotFound if there is none.
	UpdateLoginProfile(ctx context.Context, p LoginProfile) error
	// DeleteLoginProfile returns ErrNotFound if there is none.
	DeleteLoginProfile(ctx context.Context, userName string) error
}

// PasswordPolicy is the account password policy (one per installation).
type PasswordPolicy struct {
	MinimumPasswordLength      int32 // 6–128
	RequireSymbols             bool
	RequireNumbers             bool
	RequireUppercaseCharacters bool
	RequireLowercaseCharacters bool
	AllowUsersToChangePassword bool
	MaxPasswordAge             int32 // days, 0 = passwords never expire
	PasswordReusePrevention    int32 // 0 = not enforced, else 1–24
	HardExpiry                 bool
}

// PasswordPolicies holds the account password policy.
type PasswordPolicies interface {
	// GetPasswordPolicy returns ErrNotFound when none is set.
	GetPasswordPolicy(ctx context.Context) (PasswordPolicy, error)
	// PutPasswordPolicy creates or replaces the policy.
	PutPasswordPolicy(ctx context.Context, p PasswordPolicy) error
	// DeletePasswordPolicy returns ErrNotFound when none is set.
	DeletePasswordPolicy(ctx context.Context) error
}

// MFADevice is a virtual (TOTP) MFA device.
type MFADevice struct {
	SerialNumber string // arn:aws:iam::<acct>:mfa<path><name>, unique
	DeviceName   string // unique, case-insensitive
	Path         string
	SeedSealed   []byte // the TOTP seed, sealed; never plain text
	CreateDate   time.Time
	// UserName and UserID name the user the device is enabled for (reads
	// fill both); empty while unassigned.
	UserName   string
	UserID     string
	EnableDate time.Time // zero while unassigned
	// LastUsedStep is the TOTP time step of the last accepted code; a
	// code of that step or an earlier one is refused (no replay).
	LastUsedStep int64
	Tags         []Tag
}

// MFADevices is the virtual-MFA-device repository.
type MFADevices interface {
	// CreateMFADevice returns ErrConflict if the serial number or the
	// name (case-insensitively) exists.
	CreateMFADevice(ctx context.Context, d MFADevice) error
	// GetMFADevice returns ErrNotFound if the device does not exist.
	GetMFADevice(ctx context.Context, serialNumber string) (MFADevice, error)
	// ListMFADevices returns the devices enabled for the user, ordered by
	// enable date; ErrNotFound if the user does not exist.
	ListMFADevices(ctx context.Context, userName string) ([]MFADevice, error)
	// ListVirtualMFADevices returns every device, ordered by serial number.
	ListVirtualMFADevices(ctx context.Context) ([]MFADevice, error)
	// EnableMFADevice assigns the device to the user, recording the
	// enable date and the last accepted time step. ErrNotFound if either
	// is missing; ErrConflict if the device is assigned already.
	EnableMFADevice(ctx context.Context, serialNumber, userName string, enabled time.Time, lastStep int64) error
	// DeactivateMFADevice unassigns the device from the user; ErrNotFound
	// if the device is not enabled for that user.
	DeactivateMFADevice(ctx context.Context, serialNumber, userName string) error
	// DeleteMFADevice returns ErrNotFound if it does not exist and ErrInUse
	// while it is assigned to a user.
	DeleteMFADevice(ctx context.Context, serialNumber string) error
	// UseMFAStep records that a code of time step step was accepted, only
	// if step is later than the last one recorded: ErrConflict otherwise
	// (a replayed code), ErrNotFound if the device does not exist.
	UseMFAStep(ctx context.Context, serialNumber string, step int64) error
}
