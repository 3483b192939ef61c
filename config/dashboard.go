package config

import (
	"fmt"
	"net/mail"

	"golang.org/x/crypto/bcrypt"
)

// Dashboard configures the status page and the SRE view.
type Dashboard struct {
	Title string `yaml:"title"`
	// Users may sign in to the SRE view; passwords as bcrypt hashes
	// (`nines hash-password`).
	Users []DashboardUser `yaml:"users"`
	// ExportDir, when set, receives the status page as static HTML and
	// JSON every minute.
	ExportDir string `yaml:"export_dir"`
	// ExportBucket, when set, receives the same files in an S3-compatible
	// bucket.
	ExportBucket *ExportBucket `yaml:"export_bucket"`
	// BehindTLS says a proxy in front serves the dashboard over HTTPS, so
	// that its cookies are Secure (they are whenever the controller serves
	// TLS itself).
	BehindTLS bool `yaml:"behind_tls"`
	// Subscriptions, when set, let visitors subscribe from the status
	// page: by email (double opt-in) when SMTP is set, by webhook (verified
	// by a signed test call) when Webhooks is.
	Subscriptions *Subscriptions `yaml:"subscriptions"`
}

// Subscriptions configures the status page's subscribers.
type Subscriptions struct {
	SMTP     string `yaml:"smtp"` // host:port; empty: no email subscriptions
	From     string `yaml:"from"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Webhooks bool   `yaml:"webhooks"`
	// PrivateWebhooks allows webhook addresses on loopback and private
	// networks; by default they are refused, so that the public form
	// cannot make the controller call inside its own network.
	PrivateWebhooks bool `yaml:"private_webhooks"`
}

// ExportBucket is an S3-compatible bucket for the static status page.
type ExportBucket struct {
	Endpoint  string `yaml:"endpoint"`
	Bucket    string `yaml:"bucket"`
	Prefix    string `yaml:"prefix"`
	Region    string `yaml:"region"`
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	Insecure  bool   `yaml:"insecure"`
	PathStyle bool   `yaml:"path_style"`
}

// DashboardUser is one SRE.
type DashboardUser struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
}

func (v *validator) validateDashboard(c *Config) {
	if b := c.Dashboard.ExportBucket; b != nil {
		if b.Endpoint == "" {
			v.add("dashboard.export_bucket.endpoint", "is required (host[:port])")
		}
		if b.Bucket == "" {
			v.add("dashboard.export_bucket.bucket", "is required")
		}
		if b.AccessKey == "" || b.SecretKey == "" {
			v.add("dashboard.export_bucket", "access_key and secret_key are required (use ${ENV} references)")
		}
	}
	if c.Dashboard.Title == "" {
		c.Dashboard.Title = "Service"
	}
	if sub := c.Dashboard.Subscriptions; sub != nil {
		p := "dashboard.subscriptions"
		if c.Alerting.DashboardURL == "" {
			v.add(p, "needs alerting.dashboard_url: the links subscribers get point there")
		}
		if sub.SMTP == "" && !sub.Webhooks {
			v.add(p, "set smtp (email subscriptions), webhooks: true, or both")
		}
		if sub.SMTP != "" {
			validAddress(v, p+".smtp", sub.SMTP)
			if _, err := mail.ParseAddress(sub.From); err != nil {
				v.add(p+".from", "%q is not an email address", sub.From)
			}
		}
	}
	seen := map[string]bool{}
	for i, u := range c.Dashboard.Users {
		p := fmt.Sprintf("dashboard.users[%d]", i)
		if u.Name == "" {
			v.add(p+".name", "is required")
		} else if seen[u.Name] {
			v.add(p+".name", "user %q is defined twice", u.Name)
		}
		seen[u.Name] = true
		if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || cost < bcrypt.DefaultCost {
			v.add(p+".password_hash", "must be a bcrypt hash of cost %d or more (make one with `nines hash-password`)", bcrypt.DefaultCost)
		}
	}
}
