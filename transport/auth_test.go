package transport_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/nines-sre/nines/internal/natstest"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/transport"
)

// readmeUsers returns the users of the nats-server configuration README
// shows: the controller reads the deployment's stream; a probe may only
// publish its own region's batches (and keep its stream).
func readmeUsers(t *testing.T) []*server.User {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```\nauthorization {")
	block, _, found := strings.Cut(block, "```")
	if !ok || !found {
		t.Fatal("README shows no nats-server authorization block")
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte("authorization {"+block), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTROLLER_PASSWORD", "controller-secret-0001")
	t.Setenv("PROBE_EU_LONDON_PASSWORD", "probe-london-secret-01")
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("README's nats-server configuration: %v", err)
	}
	if len(o.Users) != 2 {
		t.Fatalf("README's configuration has %d users, want the controller and a probe", len(o.Users))
	}
	return o.Users
}

// TestHostileNATSWithAuthorizationOn: on a server with README's
// authorization on (and another tenant beside),
// a probe publishes signed batches with its own user, the controller
// consumes and verifies them, another tenant can neither read nor write
// nines' subjects, and a probe cannot publish for another region.
func TestHostileNATSWithAuthorizationOn(t *testing.T) {
	users := append(readmeUsers(t), &server.User{Username: "tenant", Password: "tenant-secret-00000001", Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"tenant.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"tenant.>", "_INBOX.>"}}}})
	ns := natstest.StartWith(t, "", func(o *server.Options) { o.Users = users })
	url := func(user, pass string) string {
		return fmt.Sprintf("nats://%s:%s@%s", user, pass, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	}
	if _, err := nats.Connect(ns.ClientURL()); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("a client without credentials: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const token = "probe-token-for-london-01"
	key := sha256.Sum256([]byte(token))
	pub, err := transport.NewPublisher(url("probe-eu-london", "probe-london-secret-01"), "eu-london", token, "london-1")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pub.SetScope("acme")
	if err := pub.Publish(ctx, "batch-1", []byte("one")); err != nil {
		t.Fatalf("a probe publishing its region's batch: %v", err)
	}

	// Another tenant: nothing of nines' to read, nothing to write.
	var mu sync.Mutex
	var violations []string
	tenant, err := nats.Connect(url("tenant", "tenant-secret-00000001"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		violations = append(violations, err.Error())
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer tenant.Close()
	overheard := make(chan *nats.Msg, 16)
	if _, err := tenant.ChanSubscribe("nines.batches.>", overheard); err != nil {
		t.Fatal(err)
	}
	_ = tenant.Publish(transport.Subject("acme", "eu-london"), []byte("forged"))
	_ = tenant.Flush()
	testwait.Eventually(t, 10*time.Second, "the tenant's subscription and publication refused", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(violations) < 2 {
			return fmt.Errorf("violations %v", violations)
		}
		return nil
	})

	// The probe's user publishes for its own region only.
	nc, err := nats.Connect(url("probe-eu-london", "probe-london-secret-01"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	short, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	if _, err := nc.RequestWithContext(short, transport.Subject("acme", "ap-tokyo"), []byte("tokyo")); err == nil {
		t.Fatal("the London probe's user published a batch for ap-tokyo")
	}

	// The controller reads what the probe sent, signed, and only that.
	_, js, err := transport.Connect(url("controller", "controller-secret-0001"), "controller")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan transport.Message, 4)
	cctx, stopConsume := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- transport.Consume(cctx, js, "acme", func(_ context.Context, m transport.Message) error {
			got <- m
			return nil
		}, transport.ConsumeOptions{})
	}()
	select {
	case m := <-got:
		if m.Subject != transport.Subject("acme", "eu-london") || string(m.Data) != "one" || m.Token != "" ||
			m.Key != transport.KeyID(key) || !transport.Verify(key, m.Subject, m.MsgID, m.Data, m.Signature) {
			t.Fatalf("the controller read %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("the controller read nothing")
	}
	stopConsume()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	// One batch was ever stored: the forged and the Tokyo one never were.
	stream, err := js.Stream(ctx, transport.StreamName("acme"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != 1 {
		t.Fatalf("the stream stored %d messages, want 1", info.State.LastSeq)
	}
	if len(overheard) != 0 {
		t.Fatalf("the tenant overheard %d batches", len(overheard))
	}
}
