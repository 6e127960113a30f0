package ec2api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestDescribeInstancesSnapshotUnderWrites (R4's review of 558d04c):
// DescribeInstances answered from the snapshot while tag and group writes
// commit concurrently (run under -race: the snapshot's shared tag and
// group slices are only read by the Describe path, its filters
// included), and each write is seen, through the tag and group-name
// filters too, by the first call after the write's answer, a DeleteTags
// included.
func TestDescribeInstancesSnapshotUnderWrites(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	n := h.tutorialNetwork(false)
	inst, status, body := h.registerInstance(h.admin, n.subnet, "10.0.1.10", n.instanceSG)
	if status != http.StatusOK {
		t.Fatalf("RegisterInstance: %d %s", status, body)
	}
	filtered := func(name, value string) int {
		t.Helper()
		out, err := h.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
			Filters: []types.Filter{{Name: aws.String(name), Values: []string{value}}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Reservations)
	}

	// Readers over every path that reads the snapshot's items (by id,
	// the full listing, tag and group filters), bounded, while the main
	// goroutine writes.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	defer func() { // before the harness's cleanup, also after a Fatal
		close(stop)
		readers.Wait()
	}()
	for r := range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; i < 200; i++ {
				select {
				case <-stop:
					return
				default:
				}
				in := &ec2.DescribeInstancesInput{}
				switch (i + r) % 3 {
				case 0:
					in.InstanceIds = []string{inst}
				case 1:
					in.Filters = []types.Filter{{Name: aws.String("tag-key"), Values: []string{"k*"}}}
				case 2:
					in.Filters = []types.Filter{{Name: aws.String("group-name"), Values: []string{"*-sg"}}}
				}
				if _, err := h.ec2.DescribeInstances(ctx, in); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 10 {
		key, value := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
		if _, err := h.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{inst},
			Tags: []types.Tag{{Key: aws.String(key), Value: aws.String(value)}}}); err != nil {
			t.Fatal(err)
		}
		if got := filtered("tag:"+key, value); got != 1 {
			t.Fatalf("tag %s=%s: the next call's tag filter matched %d instances, want 1", key, value, got)
		}
		if _, err := h.ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{inst},
			Tags: []types.Tag{{Key: aws.String(key)}}}); err != nil {
			t.Fatal(err)
		}
		if got := filtered("tag-key", key); got != 0 {
			t.Fatalf("tag %s deleted: the next call's tag filter matched %d instances, want 0", key, got)
		}
		group, name := n.endpointSG, "endpoint-sg"
		if i%2 == 1 {
			group, name = n.instanceSG, "instance-sg"
		}
		h.rawOK(h.admin, url.Values{"Action": {"ModifyInstanceAttribute"}, "InstanceId": {inst}, "GroupId.1": {group}}, nil)
		if got := filtered("group-name", name); got != 1 {
			t.Fatalf("groups set to %s: the next call's group-name filter matched %d instances, want 1", name, got)
		}
	}
}

// r4ReplicatedStore is the harness's store as one shared by replicas
// (store.Replicated): its change count follows the other replicas' writes
// only through the change feed.
type r4ReplicatedStore struct {
	readCountingStore
}

func (*r4ReplicatedStore) NotifyReplicas(context.Context) error { return nil }
func (*r4ReplicatedStore) ReplicasChanged() <-chan struct{}     { return nil }

// TestDescribeInstancesReadsReplicatedStoreEveryTime (R4's review of
// 558d04c): on a store shared by replicas, which another process may
// write without this one's change count moving at once, every
// DescribeInstances reads the store (a deregistration or tag written
// through another replica is seen by the next call).
func TestDescribeInstancesReadsReplicatedStoreEveryTime(t *testing.T) {
	var rs *r4ReplicatedStore
	h := newHarness(t, func(c *Config) {
		rs = &r4ReplicatedStore{readCountingStore{Store: c.Store}}
		c.Store = rs
	})
	n := h.tutorialNetwork(false)
	inst, status, body := h.registerInstance(h.admin, n.subnet, "10.0.1.10", n.instanceSG)
	if status != http.StatusOK {
		t.Fatalf("RegisterInstance: %d %s", status, body)
	}
	before := rs.instanceLists.Load()
	for range 3 {
		if _, err := h.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{inst}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := rs.instanceLists.Load() - before; got != 3 {
		t.Errorf("3 DescribeInstances on a replicated store listed the instances %d times, want 3", got)
	}
}
