// Package quant holds ggml's Q8_0 and Q4_0 block formats and IEEE half-precision conversion, with scalar reference functions that are the spec and faster paths that match them bit for bit.
package quant
