// Package e2e holds the page tests of the built site in headless Chromium (chromedp): the
// demo samples with WebGPU and without it, the widget page works, and damaged cached
// weights are fetched again. They run only with TDIFF_E2E=1 (see build/e2e.sh).
package e2e
