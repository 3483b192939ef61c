package notify

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"time"

	"github.com/nines-sre/nines/alerting"
)

// StatusMail tells a status page subscriber of an incident or maintenance
// by email, with a link to unsubscribe in its body and in its headers
// (List-Unsubscribe, with RFC 8058's one-click POST).
type StatusMail struct {
	Relay       Relay
	From, To    string
	Page        string // the status page's title
	Unsubscribe string // the subscriber's unsubscribe URL
}

var _ alerting.Notifier = (*StatusMail)(nil)

// Notify mails m.
func (s *StatusMail) Notify(ctx context.Context, m alerting.Message) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", s.From, s.To,
		mime.QEncoding.Encode("utf-8", oneLine("["+s.Page+" status] "+m.Summary)),
		m.At.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "List-Unsubscribe: <%s>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nAuto-Submitted: auto-generated\r\n", s.Unsubscribe)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "%s\r\n", m.Summary)
	if body, ok := m.Details["body"].(string); ok && body != "" {
		fmt.Fprintf(&b, "\r\n%s\r\n", body)
	}
	if m.Link != "" {
		fmt.Fprintf(&b, "\r\n%s\r\n", m.Link)
	}
	fmt.Fprintf(&b, "\r\n--\r\nYou subscribed to %s status. To stop: %s\r\n", s.Page, s.Unsubscribe)
	return Mail(ctx, s.Relay, s.From, []string{s.To}, b.Bytes())
}

func oneLine(s string) string {
	return string(bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, []byte(s)))
}
