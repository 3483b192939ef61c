package dashboard

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func TestExportToADirectoryAndABucket(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("status"); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	defer s3.Close()
	bucket, err := NewBucket(BucketOptions{Endpoint: strings.TrimPrefix(s3.URL, "http://"), Bucket: "status", Prefix: "public/",
		AccessKey: "key", SecretKey: "secret", Insecure: true, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := &fakeSource{page: samplePage(2, 90)}
	if err := Export(context.Background(), src, Dir(dir), bucket); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil || !strings.Contains(string(html), `id="component-component-001"`) {
		t.Fatalf("exported page: %v", err)
	}
	if js, err := os.ReadFile(filepath.Join(dir, "status.json")); err != nil || !strings.Contains(string(js), `"status": "partial_outage"`) {
		t.Fatalf("exported JSON: %v %s", err, js)
	}
	if _, err := os.Stat(filepath.Join(dir, "assets", "style.css")); err != nil {
		t.Fatal("the stylesheet is not exported: the page would be unstyled")
	}
	obj, err := backend.GetObject("status", "public/index.html", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Contents.Close()
	body, _ := io.ReadAll(obj.Contents)
	if string(body) != string(html) || obj.Metadata["Content-Type"] != "text/html; charset=utf-8" {
		t.Fatalf("bucket copy differs (%d bytes, %v)", len(body), obj.Metadata)
	}
}
