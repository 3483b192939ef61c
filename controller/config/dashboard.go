package config

import (
	"fmt"

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
}

// DashboardUser is one SRE.
type DashboardUser struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
}

func (v *validator) validateDashboard(c *Config) {
	if c.Dashboard.Title == "" {
		c.Dashboard.Title = "Service"
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
