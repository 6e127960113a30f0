package iamapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// IAM's and STS's error codes, with AWS's HTTP statuses. This package is
// the edge for these services: their codes are made here and nowhere
// deeper.

// noSuchEntity is NoSuchEntity (404): the addressed entity does not exist.
func noSuchEntity(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, "NoSuchEntity", format, args...)
}

// entityExists is EntityAlreadyExists (409).
func entityExists(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusConflict, "EntityAlreadyExists", format, args...)
}

// deleteConflict is DeleteConflict (409) with AWS's "Cannot delete
// entity, <reason>." wording.
func deleteConflict(reason string) *awsproto.Error {
	return awsproto.Errorf(http.StatusConflict, "DeleteConflict", "Cannot delete entity, %s.", reason)
}

// deleteConflictPolicy is AWS's DeleteConflict for deleting a managed
// policy that is still attached.
func deleteConflictPolicy() *awsproto.Error {
	return awsproto.Errorf(http.StatusConflict, "DeleteConflict", "Cannot delete a policy attached to entities.")
}

// validation is ValidationError (400): a parameter breaks the API's
// constraints.
func validation(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "ValidationError", format, args...)
}

// limitExceeded is LimitExceeded (409): a quota would be exceeded.
func limitExceeded(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusConflict, "LimitExceeded", format, args...)
}

// invalidInput is InvalidInput (400): a value is well-formed for the API
// model but not acceptable (a malformed ARN, duplicate tag keys, …).
func invalidInput(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidInput", format, args...)
}

// malformedPolicy is MalformedPolicyDocument (400) with the parser's
// message.
func malformedPolicy(msg string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "MalformedPolicyDocument", "%s", msg)
}

// accessDenied is AccessDenied (403) for denials decided here rather than
// by api.Call.Authorize (AssumeRole's trust policy).
func accessDenied(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusForbidden, "AccessDenied", format, args...)
}

// storeErr maps a store error about the entity described by what (for
// example "user with name bob") to IAM's code. Errors that are not the
// store's sentinels (and *awsproto.Errors, which pass through) are
// wrapped with op for the log.
func storeErr(err error, op, what string) error {
	var ae *awsproto.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, store.ErrNotFound):
		return noSuchEntity("The %s cannot be found.", what)
	case errors.Is(err, store.ErrConflict):
		return entityExists("%s already exists.", what)
	case errors.Is(err, store.ErrInUse):
		return deleteConflict("it is still in use")
	}
	return fmt.Errorf("iamapi: %s: %w", op, err)
}

// wrap adds context to an unexpected (internal) error; *awsproto.Errors
// and nil pass through unchanged.
func wrap(err error, format string, args ...any) error {
	var ae *awsproto.Error
	if err == nil || errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("iamapi: "+format+": %w", append(args, err)...)
}
