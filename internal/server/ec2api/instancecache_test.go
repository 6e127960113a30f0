package ec2api

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/postern/postern/internal/store"
)

// readCountingStore is the harness's SQLite store, counting the reads
// DescribeInstances makes; it passes the store's change count on.
type readCountingStore struct {
	store.Store
	instanceLists, groupLists atomic.Int64
}

func (s *readCountingStore) ListInstances(ctx context.Context) ([]store.Instance, error) {
	s.instanceLists.Add(1)
	return s.Store.ListInstances(ctx)
}

func (s *readCountingStore) ListSecurityGroups(ctx context.Context, vpcID string) ([]store.SecurityGroup, error) {
	s.groupLists.Add(1)
	return s.Store.ListSecurityGroups(ctx, vpcID)
}

func (s *readCountingStore) Changes() uint64 { return s.Store.(store.ChangeCounter).Changes() }

// TestDescribeInstancesReadsTheStoreOncePerChange: DescribeInstances by id
// (the first look-up of `open-tunnel --instance-id`) answers from what it
// read while nothing was written, and every kind of write that changes its
// answer (a tag, a security group's rules do not, a new instance, a
// changed group set, a deregistration) is seen by the next call.
func TestDescribeInstancesReadsTheStoreOncePerChange(t *testing.T) {
	var cs *readCountingStore
	h := newHarness(t, func(c *Config) {
		cs = &readCountingStore{Store: c.Store}
		c.Store = cs
	})
	ctx := context.Background()
	n := h.tutorialNetwork(false)
	inst, status, body := h.registerInstance(h.admin, n.subnet, "10.0.1.10", n.instanceSG)
	if status != http.StatusOK {
		t.Fatalf("RegisterInstance: %d %s", status, body)
	}
	describe := func(ids ...string) *ec2.DescribeInstancesOutput {
		t.Helper()
		out, err := h.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := describe(inst)
	firstBody := h.rec.last(t).body
	before := cs.instanceLists.Load() + cs.groupLists.Load()
	for range 5 {
		describe(inst)
	}
	if got := cs.instanceLists.Load() + cs.groupLists.Load() - before; got != 0 {
		t.Errorf("5 DescribeInstances by id with nothing written read the instances or groups %d times, want 0", got)
	}
	reqID := regexp.MustCompile(`<requestId>[^<]*</requestId>`)
	if got := h.rec.last(t).body; reqID.ReplaceAllString(got, "") != reqID.ReplaceAllString(firstBody, "") {
		t.Errorf("a cached answer differs from the first:\n%s\n%s", got, firstBody)
	}
	if len(first.Reservations) != 1 {
		t.Fatalf("first answer: %+v", first.Reservations)
	}

	// A missing id is NotFound, alone and beside a known one.
	for _, ids := range [][]string{{"i-00000000000000fff"}, {inst, "i-00000000000000fff"}} {
		_, err := h.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		wantCode(t, err, "InvalidInstanceID.NotFound")
	}

	other, status, body := h.registerInstance(h.admin, n.subnet, "10.0.1.11", n.endpointSG)
	if status != http.StatusOK {
		t.Fatalf("RegisterInstance: %d %s", status, body)
	}
	steps := []struct {
		name  string
		write func()
		check func(out *ec2.DescribeInstancesOutput) bool
		ids   []string
	}{
		{"a new instance is listed", func() {}, func(out *ec2.DescribeInstancesOutput) bool {
			return len(out.Reservations) == 2
		}, nil},
		{"a new instance is found by id, with a known one, each once", func() {}, func(out *ec2.DescribeInstancesOutput) bool {
			return len(out.Reservations) == 2 && *out.Reservations[0].Instances[0].InstanceId == inst &&
				*out.Reservations[1].Instances[0].InstanceId == other
		}, []string{other, inst, other}},
		{"a tag", func() {
			if _, err := h.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{inst},
				Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("blue")}}}); err != nil {
				t.Fatal(err)
			}
		}, func(out *ec2.DescribeInstancesOutput) bool {
			for _, tg := range out.Reservations[0].Instances[0].Tags {
				if *tg.Key == "team" && *tg.Value == "blue" {
					return true
				}
			}
			return false
		}, []string{inst}},
		{"a changed group set", func() {
			h.rawOK(h.admin, url.Values{"Action": {"ModifyInstanceAttribute"}, "InstanceId": {inst}, "GroupId.1": {n.endpointSG}}, nil)
		}, func(out *ec2.DescribeInstancesOutput) bool {
			sg := out.Reservations[0].Instances[0].SecurityGroups
			return len(sg) == 1 && *sg[0].GroupId == n.endpointSG && *sg[0].GroupName == "endpoint-sg"
		}, []string{inst}},
		{"a deregistration", func() {
			h.rawOK(h.admin, url.Values{"Action": {"DeregisterInstance"}, "InstanceId": {other}}, nil)
		}, func(out *ec2.DescribeInstancesOutput) bool {
			return len(out.Reservations) == 1 && *out.Reservations[0].Instances[0].InstanceId == inst
		}, nil},
	}
	for _, st := range steps {
		st.write()
		if out := describe(st.ids...); !st.check(out) {
			t.Errorf("%s: not seen by the next DescribeInstances: %s", st.name, h.rec.last(t).body)
		}
	}
	_, err := h.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{other}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
}
