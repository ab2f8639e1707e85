// Package masked implements the absorbing-state (MASK) forward process and its ELBO objective as pure functions over flat slices.
package masked
