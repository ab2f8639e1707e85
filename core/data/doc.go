// Package data turns text documents into one cached token stream and cuts it into seeded, resumable training batches and evaluation windows.
package data
