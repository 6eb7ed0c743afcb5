package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/deskctl/deskctl/internal/desktop"
)

// LockTTL is how long a lock outlives its holder's last renewal.
const LockTTL = 60 * time.Second

// LockedError says another deskctl run holds the set's lock.
type LockedError struct {
	Lease  string
	Holder string
	Since  time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("another deskctl run holds lock %s: %s (since %s); "+
		"wait for it, or run again with --wait-lock", e.Lease, e.Holder, e.Since.Format(time.RFC3339))
}

// ExitCode is 3 for a held lock.
func (e *LockedError) ExitCode() int { return 3 }

// Lock is a held Lease. Release it when done.
type Lock struct {
	client kubernetes.Interface
	ns     string
	name   string
	holder string
	stop   context.CancelFunc
	done   chan struct{}
}

// Holder describes this process: user@host pid N.
func Holder() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host + " pid " + strconv.Itoa(os.Getpid())
}

// holderID is Holder plus a random run ID, so that two runs in one process
// are told apart too.
func holderID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return Holder() + " run " + hex.EncodeToString(b)
}

// LockName is the Lease name of a set.
func LockName(set string) string { return "deskctl-" + set }

// AcquireLock takes the set's Lease in ns. With wait, it retries until ctx
// ends; otherwise a held lock returns a *LockedError at once. The lock is
// renewed in the background until Release.
func AcquireLock(ctx context.Context, c kubernetes.Interface, ns, set string, waitLock bool) (*Lock, error) {
	l := &Lock{client: c, ns: ns, name: LockName(set), holder: holderID()}

	var lastErr error
	try := func(ctx context.Context) (bool, error) {
		err := l.tryAcquire(ctx)
		if err == nil {
			return true, nil
		}
		var held *LockedError
		if errors.As(err, &held) && waitLock {
			lastErr = err
			return false, nil
		}
		return false, err
	}
	if err := wait.PollUntilContextCancel(ctx, time.Second, true, try); err != nil {
		if lastErr != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("gave up waiting for the lock: %w", lastErr)
		}
		return nil, err
	}

	rctx, cancel := context.WithCancel(context.Background())
	l.stop, l.done = cancel, make(chan struct{})
	go l.renew(rctx)
	return l, nil
}

func (l *Lock) tryAcquire(ctx context.Context) error {
	leases := l.client.CoordinationV1().Leases(l.ns)
	now := metav1.NewMicroTime(time.Now())
	ttl := int32(LockTTL / time.Second)

	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: l.name, Namespace: l.ns,
				Labels: map[string]string{desktop.LabelManagedBy: desktop.ManagedByValue},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: &l.holder, LeaseDurationSeconds: &ttl,
				AcquireTime: &now, RenewTime: &now,
			},
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return l.held(ctx)
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("reading lock %s: %w", l.name, err)
	}
	if heldByOther(cur, l.holder) {
		return lockedBy(cur)
	}
	cur.Spec.HolderIdentity, cur.Spec.LeaseDurationSeconds = &l.holder, &ttl
	cur.Spec.AcquireTime, cur.Spec.RenewTime = &now, &now
	if _, err := leases.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return l.held(ctx)
		}
		return fmt.Errorf("taking lock %s: %w", l.name, err)
	}
	return nil
}

// held reads the lease that beat us to it, to name its holder.
func (l *Lock) held(ctx context.Context) error {
	cur, err := l.client.CoordinationV1().Leases(l.ns).Get(ctx, l.name, metav1.GetOptions{})
	if err != nil {
		return &LockedError{Lease: l.name, Holder: "another run"}
	}
	return lockedBy(cur)
}

func heldByOther(lease *coordinationv1.Lease, me string) bool {
	s := lease.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || *s.HolderIdentity == me {
		return false
	}
	if s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return false
	}
	expires := s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second)
	return time.Now().Before(expires)
}

func lockedBy(lease *coordinationv1.Lease) error {
	e := &LockedError{Lease: lease.Name, Holder: "unknown"}
	if lease.Spec.HolderIdentity != nil {
		e.Holder = *lease.Spec.HolderIdentity
	}
	if lease.Spec.AcquireTime != nil {
		e.Since = lease.Spec.AcquireTime.Time
	}
	return e
}

func (l *Lock) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			leases := l.client.CoordinationV1().Leases(l.ns)
			cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
			if err != nil || cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != l.holder {
				continue
			}
			now := metav1.NewMicroTime(time.Now())
			cur.Spec.RenewTime = &now
			_, _ = leases.Update(ctx, cur, metav1.UpdateOptions{})
		}
	}
}

// Release gives the lock up by deleting the Lease, if it is still ours.
func (l *Lock) Release(ctx context.Context) error {
	l.stop()
	<-l.done
	leases := l.client.CoordinationV1().Leases(l.ns)
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("releasing lock %s: %w", l.name, err)
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != l.holder {
		return nil
	}
	err = leases.Delete(ctx, l.name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{ResourceVersion: &cur.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("releasing lock %s: %w", l.name, err)
	}
	return nil
}
