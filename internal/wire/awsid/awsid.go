// Package awsid makes identifiers and secrets in the shapes AWS uses:
// IAM unique ids (AIDA…, AROA…), access key ids (AKIA…, ASIA…), secret
// access keys, session tokens, account ids and EC2 resource ids
// (vpc-…, eice-… with 17 hex digits).
package awsid

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// IAM unique-id prefixes, as AWS documents them.
const (
	PrefixUser          = "AIDA"
	PrefixGroup         = "AGPA"
	PrefixRole          = "AROA"
	PrefixPolicy        = "ANPA"
	PrefixAccessKey     = "AKIA"
	PrefixTempAccessKey = "ASIA"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return b
}

// upper returns n characters of uppercase base32 (A–Z, 2–7).
func upper(n int) string {
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(randomBytes(n))
	return s[:n]
}

// Unique returns an IAM unique id: the prefix and 17 characters (21 in all).
func Unique(prefix string) string { return prefix + upper(17) }

// AccessKeyID returns a 20-character access key id with the given prefix
// (PrefixAccessKey or PrefixTempAccessKey).
func AccessKeyID(prefix string) string { return prefix + upper(16) }

// SecretAccessKey returns a 40-character secret access key.
func SecretAccessKey() string {
	s := base64.StdEncoding.EncodeToString(randomBytes(30))
	return s[:40]
}

// SessionToken returns an opaque session token.
func SessionToken() string {
	return "IQoJb3JpZ2luX2Vj" + base64.StdEncoding.EncodeToString(randomBytes(96))
}

// AccountID returns a random 12-digit account id that does not start with 0.
func AccountID() string {
	b := randomBytes(12)
	var sb strings.Builder
	for i, c := range b {
		d := c % 10
		if i == 0 && d == 0 {
			d = 1
		}
		sb.WriteByte('0' + d)
	}
	return sb.String()
}

// EC2 returns an EC2 resource id: prefix, a dash and 17 hex digits
// (vpc-0a1b2c3d4e5f67890).
func EC2(prefix string) string {
	return prefix + "-" + hex.EncodeToString(randomBytes(9))[:17]
}

// EC2 resource id prefixes (without the dash), for EC2.
const (
	PrefixVpc               = "vpc"
	PrefixSubnet            = "subnet"
	PrefixSecurityGroup     = "sg"
	PrefixSecurityGroupRule = "sgr"
	PrefixInstance          = "i"
	PrefixEndpoint          = "eice"
	// PrefixNetworkInterface names endpoint agents: an agent is the
	// network interface of its endpoint.
	PrefixNetworkInterface = "eni"
	PrefixJoinToken        = "ejt"
)

// EC2ARN returns the ARN of an EC2 resource: its type as ARNs name it
// ("vpc", "instance-connect-endpoint", …) and id.
func EC2ARN(region, accountID, resourceType, id string) string {
	return "arn:aws:ec2:" + region + ":" + accountID + ":" + resourceType + "/" + id
}
