// Package deploy_test checks what deploy/ and the Containerfile ship: the
// container image (TestImage, run by scripts/image-check.sh on the image
// it builds), the Kubernetes manifests, and the Grafana dashboard's
// queries against a real Prometheus scraping real voicetoken processes.
package deploy_test
