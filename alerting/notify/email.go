package notify

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"sort"
	"strings"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/config"
)

// Email sends over SMTP (STARTTLS when the server offers it; PLAIN auth
// when a username is set).
type Email struct {
	Addr     string
	From     string
	To       []string
	Username string
	Password string
}

var _ alerting.Notifier = (*Email)(nil)

func init() {
	register("email", func(s *config.EmailNotifier, _ *http.Client) alerting.Notifier {
		return &Email{Addr: s.SMTP, From: s.From, To: s.To, Username: s.Username, Password: s.Password}
	})
}

// Notify mails m. A 5xx answer from the server is final; anything else is
// worth a retry.
func (e *Email) Notify(ctx context.Context, m alerting.Message) error {
	if len(e.To) == 0 {
		return errNoTargets
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		e.From, strings.Join(e.To, ", "), mime.QEncoding.Encode("utf-8", oneLine(Text(m))), m.At.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "%s\r\n\r\nAlert: %s (incident %d)\r\nSeverity: %s, urgency %s\r\n", m.Summary, m.AlertKey, m.Incident, m.Severity, m.Urgency)
	keys := make([]string, 0, len(m.Details))
	for k := range m.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %v\r\n", k, m.Details[k])
	}
	if m.Link != "" {
		fmt.Fprintf(&b, "\r\n%s\r\n", m.Link)
	}
	return Mail(ctx, Relay{Addr: e.Addr, Username: e.Username, Password: e.Password}, e.From, e.To, []byte(b.String()))
}

// Relay is an SMTP server to send through (STARTTLS when it offers it;
// PLAIN auth when Username is set).
type Relay struct {
	Addr, Username, Password string
}

// Mail sends msg, a whole message with its headers, from from to to. A
// 5xx answer from the server is final; anything else is worth a retry
// (alerting.RetryError).
func Mail(ctx context.Context, r Relay, from string, to []string, msg []byte) error {
	var auth smtp.Auth
	if r.Username != "" {
		host, _, _ := net.SplitHostPort(r.Addr)
		auth = smtp.PlainAuth("", r.Username, r.Password, host)
	}
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(r.Addr, auth, from, to, msg) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return &alerting.RetryError{Err: ctx.Err()}
	}
	if err == nil {
		return nil
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return err
	}
	return &alerting.RetryError{Err: err}
}
