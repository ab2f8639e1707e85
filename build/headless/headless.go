//go:build !js

// Package headless holds the Chromium command line that the page tests (build/e2e) and
// the browser benchmark (build/benchbrowser) start: headless, with its own profile, and
// with everything that would reach the (closed) network or slow a background tab off
// (DESIGN.md section 5).
package headless

import "github.com/chromedp/chromedp"

// Options starts chromium with a fresh profile in profileDir; add to them, for example
// chromedp.Flag("enable-unsafe-webgpu", true) for WebGPU.
func Options(chromium, profileDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profileDir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-gpu-sandbox", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	}
}
