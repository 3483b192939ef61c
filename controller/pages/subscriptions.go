package pages

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/nines-sre/nines/alerting/notify"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/internal/egress"
	"github.com/nines-sre/nines/model"
)

// SubscriptionStore keeps the status page's subscribers.
type SubscriptionStore interface {
	Subscribe(ctx context.Context, sub store.Subscriber) (store.Subscriber, error)
	ConfirmSubscriber(ctx context.Context, token string, at time.Time) (*store.Subscriber, error)
	Unsubscribe(ctx context.Context, token string, id int64) (bool, error)
	Subscribers(ctx context.Context) ([]store.Subscriber, error)
}

// Subscriptions runs the status page's subscriptions: double opt-in by
// email, a signed test call for a webhook.
type Subscriptions struct {
	Store  SubscriptionStore
	Config func() *config.Config
	Now    func() time.Time
	// Client makes webhooks' test calls (default: egress.Client, 5 s:
	// public addresses only unless private_webhooks, no redirects).
	Client *http.Client
	// Resolve finds a webhook host's addresses (default: the system's).
	Resolve egress.Resolver
}

var _ dashboard.Subscriptions = (*Subscriptions)(nil)

// Form is the subscription form of cfg; nil when subscriptions are off.
func Form(cfg *config.Config) *dashboard.SubscribeForm {
	sub := cfg.Dashboard.Subscriptions
	if sub == nil {
		return nil
	}
	f := &dashboard.SubscribeForm{Email: sub.SMTP != "", Webhook: sub.Webhooks}
	for _, c := range cfg.Components {
		if !c.IsPublic() {
			continue
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		f.Components = append(f.Components, dashboard.Choice{ID: c.ID, Name: name})
	}
	return f
}

// Subscribe takes a subscription from the status page's form.
func (s *Subscriptions) Subscribe(ctx context.Context, kind, address string, components []string) (*dashboard.SubscribeResult, error) {
	cfg := s.Config()
	sub := cfg.Dashboard.Subscriptions
	if sub == nil {
		return nil, &dashboard.FormError{Field: "kind", Msg: "this status page takes no subscriptions"}
	}
	for _, id := range components {
		if c := cfg.Component(id); c == nil || !c.IsPublic() {
			return nil, &dashboard.FormError{Field: "component", Msg: fmt.Sprintf("no component %q", id)}
		}
	}
	address = strings.TrimSpace(address)
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	switch kind {
	case "email":
		if sub.SMTP == "" {
			return nil, &dashboard.FormError{Field: "kind", Msg: "this status page takes no email subscriptions"}
		}
		a, err := mail.ParseAddress(address)
		if err != nil || a.Address != address || len(address) > 254 {
			return nil, &dashboard.FormError{Field: "address", Msg: "not an email address"}
		}
		stored, err := s.Store.Subscribe(ctx, store.Subscriber{Kind: kind, Address: address, Components: components, Token: token, CreatedAt: s.Now().UTC()})
		if err != nil {
			return nil, err
		}
		// A confirmed address is left as it is, and told nothing: only its
		// owner may change it (with its unsubscribe link).
		if stored.Token == token {
			if err := s.confirmationMail(ctx, cfg, stored); err != nil {
				_, _ = s.Store.Unsubscribe(ctx, token, 0)
				return nil, fmt.Errorf("the confirmation mail could not be sent; try again later: %w", err)
			}
		}
		return &dashboard.SubscribeResult{Kind: kind, Masked: maskEmail(address)}, nil
	case "webhook":
		if !sub.Webhooks {
			return nil, &dashboard.FormError{Field: "kind", Msg: "this status page takes no webhook subscriptions"}
		}
		if err := s.webhookAllowed(ctx, address, sub.PrivateWebhooks); err != nil {
			return nil, err
		}
		stored, err := s.Store.Subscribe(ctx, store.Subscriber{Kind: kind, Address: address, Components: components, Token: token, CreatedAt: s.Now().UTC()})
		if err != nil {
			return nil, err
		}
		if stored.Token != token {
			return nil, &dashboard.FormError{Field: "address", Msg: "this webhook is subscribed already; unsubscribe it first"}
		}
		if err := s.testCall(ctx, cfg, stored); err != nil {
			_, _ = s.Store.Unsubscribe(ctx, token, 0)
			// What answered, or did not, is not said: the form is public,
			// and would otherwise tell a stranger what listens where.
			return nil, &dashboard.FormError{Field: "address", Msg: "the signed test call failed: it must answer 2xx within 5 s, with no redirect"}
		}
		if _, err := s.Store.ConfirmSubscriber(ctx, token, s.Now().UTC()); err != nil {
			return nil, err
		}
		return &dashboard.SubscribeResult{Kind: kind, Masked: model.RedactURL(address, true), Secret: token, Confirmed: true}, nil
	}
	return nil, &dashboard.FormError{Field: "kind", Msg: "email or webhook"}
}

// Confirm confirms an email subscription from its link.
func (s *Subscriptions) Confirm(ctx context.Context, token string) (*dashboard.SubscribeResult, error) {
	if token == "" {
		return nil, nil
	}
	sub, err := s.Store.ConfirmSubscriber(ctx, token, s.Now().UTC())
	if err != nil || sub == nil {
		return nil, err
	}
	return &dashboard.SubscribeResult{Kind: sub.Kind, Masked: maskEmail(sub.Address), Confirmed: true}, nil
}

// Unsubscribe ends the subscription of token.
func (s *Subscriptions) Unsubscribe(ctx context.Context, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	return s.Store.Unsubscribe(ctx, token, 0)
}

// Subscribers lists the subscribers for the SRE view.
func (s *Subscriptions) Subscribers(ctx context.Context) ([]dashboard.SubscriberRow, error) {
	subs, err := s.Store.Subscribers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]dashboard.SubscriberRow, 0, len(subs))
	for _, sub := range subs {
		out = append(out, dashboard.SubscriberRow{ID: sub.ID, Kind: sub.Kind, Address: sub.Address, Components: sub.Components,
			CreatedAt: sub.CreatedAt, Confirmed: sub.ConfirmedAt != nil})
	}
	return out, nil
}

// RemoveSubscriber removes a subscriber from the SRE view.
func (s *Subscriptions) RemoveSubscriber(ctx context.Context, id int64) error {
	_, err := s.Store.Unsubscribe(ctx, "", id)
	return err
}

func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// maskEmail shows an address back without its user part:
// a…@example.com.
func maskEmail(a string) string {
	user, domain, ok := strings.Cut(a, "@")
	if !ok || user == "" {
		return "…"
	}
	return user[:1] + "…@" + domain
}

// links are a subscriber's confirmation and unsubscribe links.
func links(cfg *config.Config, token string) (confirm, unsubscribe string) {
	base := strings.TrimRight(cfg.Alerting.DashboardURL, "/")
	return base + "/subscribe/confirm?token=" + token, base + "/unsubscribe?token=" + token
}

// confirmationMail asks the owner of an address to confirm; nothing else
// is sent to it until then.
func (s *Subscriptions) confirmationMail(ctx context.Context, cfg *config.Config, sub store.Subscriber) error {
	relay := cfg.Dashboard.Subscriptions
	confirm, unsubscribe := links(cfg, sub.Token)
	what := "every component"
	if len(sub.Components) > 0 {
		what = strings.Join(sub.Components, ", ")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: Confirm your subscription to %s status\r\nDate: %s\r\n", relay.From, sub.Address,
		cfg.Dashboard.Title, s.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "List-Unsubscribe: <%s>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nAuto-Submitted: auto-generated\r\n", unsubscribe)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "Someone, we hope you, asked to be told by email of incidents and maintenance on %s (%s).\r\n\r\n", cfg.Dashboard.Title, what)
	fmt.Fprintf(&b, "To confirm, open:\r\n%s\r\n\r\nIf it was not you, ignore this mail: nothing more will be sent to this address.\r\n", confirm)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return notify.Mail(ctx, notify.Relay{Addr: relay.SMTP, Username: relay.Username, Password: relay.Password}, relay.From, []string{sub.Address}, b.Bytes())
}

// webhookAllowed refuses what is not an http(s) URL and, unless allowed,
// an address on loopback, private or link-local networks: the form is
// public, and the test call must not reach inside the controller's own
// network.
func (s *Subscriptions) webhookAllowed(ctx context.Context, address string, private bool) error {
	u, err := url.Parse(address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(address) > 2048 {
		return &dashboard.FormError{Field: "address", Msg: "not an http(s) URL"}
	}
	if private {
		return nil
	}
	resolve := s.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ips, err := resolve(ctx, u.Hostname())
	if err != nil || len(ips) == 0 {
		return &dashboard.FormError{Field: "address", Msg: "its host does not resolve"}
	}
	for _, ip := range ips {
		if !egress.Public(ip) {
			return &dashboard.FormError{Field: "address", Msg: "an address that is not on the public Internet is not accepted"}
		}
	}
	return nil
}

// testCall posts a signed subscription.test event to a webhook: it is
// subscribed only when it answers 2xx.
func (s *Subscriptions) testCall(ctx context.Context, cfg *config.Config, sub store.Subscriber) error {
	body, err := json.Marshal(map[string]any{"type": "subscription.test", "page": cfg.Dashboard.Title, "components": sub.Components,
		"at": s.Now().UTC()})
	if err != nil {
		return err
	}
	client := s.Client
	if client == nil {
		client = egress.Client(egress.Options{Timeout: 5 * time.Second, Private: cfg.Dashboard.Subscriptions.PrivateWebhooks, Resolve: s.Resolve})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Address, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "nines-status")
	req.Header.Set("X-Nines-Signature", notify.Sign([]byte(sub.Token), body))
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}
